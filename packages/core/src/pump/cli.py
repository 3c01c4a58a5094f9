"""The `pump` command line: run and validate YAML pipelines, list plugins, describe components.

Exit codes: 0 success; 1 a pipeline failed (or the app could not start); 2 invalid config or
bad usage. Only argparse is imported up front: `pump --help` must start fast, so pydantic,
yaml and rich are imported by the commands that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

EPILOG = """\
exit codes: 0 success, 1 a pipeline failed, 2 invalid configuration or usage.
environment: PUMP_PLUGINS_ALLOW / PUMP_PLUGINS_DENY (comma-separated entry names, kind:name,
or distribution names) limit which plugins may be used.
"""


def _version() -> str:
    from pump import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `pump`."""
    parser = argparse.ArgumentParser(
        prog="pump",
        description="Pump: run declarative event-stream pipelines (BSPump's successor).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pump {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    logs = argparse.ArgumentParser(add_help=False)
    logs.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="default: INFO",
    )
    logs.add_argument("--log-format", default="text", choices=["text", "json"])
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("file", help="the YAML file declaring connections, lookups, pipelines")
    config.add_argument(
        "-c",
        "--config",
        metavar="CONF",
        help="a BSPump config file (INI or YAML sections) applied under the YAML's values",
    )

    run = commands.add_parser(
        "run",
        parents=[config, logs],
        help="run the pipelines of a YAML file",
        description="Run the pipelines of a YAML file until their sources are exhausted "
        "(or SIGINT/SIGTERM), then print a summary.",
    )
    run.add_argument(
        "--progress",
        default="auto",
        choices=["auto", "live", "log", "off"],
        help="auto: a live table when stderr is a terminal, else periodic log lines",
    )
    run.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="progress period (default: 0.5 for the live table, 10 for log lines)",
    )
    run.add_argument(
        "--admin",
        metavar="HOST:PORT",
        help="serve the admin API (pump-http) while the pipelines run: /pipelines, /metrics, "
        "/health, /ready, pause and resume (a token in PUMP_ADMIN_TOKEN is required off "
        "loopback); overrides the file's `admin:`",
    )
    run.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress and no summary; errors only",
    )
    run.set_defaults(handler=cmd_run)

    validate = commands.add_parser(
        "validate",
        parents=[config, logs],
        help="check a YAML file without starting anything",
    )
    validate.set_defaults(handler=cmd_validate)

    plugins = commands.add_parser("plugins", help="list the installed component types")
    plugins.add_argument("--json", action="store_true", help="print JSON")
    plugins.add_argument("--kind", action="append", help="only this kind (repeatable)")
    plugins.add_argument(
        "--no-load",
        action="store_true",
        help="do not import the plugins to check them",
    )
    plugins.set_defaults(handler=cmd_plugins)

    describe = commands.add_parser(
        "describe",
        help="show a component type's config keys",
        description="Show the config keys of a component type: NAME or KIND:NAME "
        "(e.g. json.parse, sink:print), or `pipeline` for a pipeline's own keys.",
    )
    describe.add_argument("name", metavar="NAME")
    describe.add_argument(
        "--format",
        default="text",
        choices=["text", "json", "markdown"],
        help="markdown: the table of the package READMEs",
    )
    describe.add_argument("--json", action="store_true", help="same as --format json")
    describe.set_defaults(handler=cmd_describe)

    # `pump new connector NAME`: the connector template (pump/scaffold.py)
    from pump.scaffold import add_new_command

    add_new_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pump` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


def _error(message: str) -> None:
    print(message, file=sys.stderr)


# -- run and validate ---------------------------------------------------------------------------


def _build(args: argparse.Namespace) -> Any:
    """The Application of the file, or None after reporting a config error."""
    import os

    from pump.declarative import build_file
    from pump.errors import ConfigError

    # `function: "mymodule:f"` finds modules beside the YAML file and in the working directory,
    # as `python -m pump` would (the console script does not put the cwd on sys.path)
    for folder in (os.getcwd(), os.path.dirname(os.path.abspath(args.file))):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        return build_file(args.file, config_file=args.config)
    except ConfigError as exc:
        _error(f"pump: {exc}")
        return None


def cmd_validate(args: argparse.Namespace) -> int:
    """`pump validate FILE`."""
    from pump.cli_view import setup_logging

    setup_logging(args.log_level, args.log_format)
    app = _build(args)
    if app is None:
        return EXIT_CONFIG
    parts = [f"{len(app.Pipelines)} pipeline(s)"]
    if app.Connections:
        parts.append(f"{len(app.Connections)} connection(s)")
    if app.Lookups:
        parts.append(f"{len(app.Lookups)} lookup(s)")
    print(f"{args.file}: valid — {', '.join(parts)}")
    for pipeline in app.Pipelines.values():
        chain = " → ".join(c.Id for c in [*pipeline.Sources, *pipeline.Processors])
        print(f"  {pipeline.Id}: {chain}")
    for name in app.unused_config_sections():
        _error(f"pump: warning: {args.config}: section [{name}] matches nothing; it is ignored")
    return EXIT_OK


def _view(args: argparse.Namespace, app: Any) -> Any:
    from pump import cli_view

    mode = "off" if args.quiet else args.progress
    if mode == "auto":
        mode = "live" if sys.stderr.isatty() else "log"
    if mode == "live":
        interval = args.interval if args.interval is not None else 0.5
        return cli_view.LiveView(
            app, interval, force_terminal=True if args.progress == "live" else None
        )
    if mode == "log":
        return cli_view.LogView(app, args.interval if args.interval is not None else 10.0)
    return cli_view.QuietView(app, 1.0)


def _admin(args: argparse.Namespace, app: Any) -> Any:
    """The admin API server to run beside the app: None (none asked for), or False after
    reporting why it cannot be (pump-http missing, no token off loopback, a bad address)."""
    listen = args.admin or app.admin
    if not listen:
        return None
    try:
        from pump_http.admin import AdminServer
    except ImportError as exc:
        _error(
            f"pump: --admin needs pump-http, which is not installed: pip install pump-http ({exc})"
        )
        return False
    from pump.errors import PumpError

    try:
        return AdminServer(app, listen)
    except PumpError as exc:
        _error(f"pump: {exc}")
        return False


def cmd_run(args: argparse.Namespace) -> int:
    """`pump run FILE`."""
    import asyncio
    import json
    import logging
    import time

    from pump import cli_view

    cli_view.setup_logging("ERROR" if args.quiet else args.log_level, args.log_format)
    app = _build(args)
    if app is None:
        return EXIT_CONFIG
    for pipeline in app.Pipelines.values():
        # stateful processors checkpoint to SQLite under the working folder unless told otherwise
        pipeline.default_state_dir = f".pump-state/{pipeline.Id}"
    admin = _admin(args, app)
    if admin is False:
        return EXIT_CONFIG
    view = _view(args, app)
    log = logging.getLogger("pump.run")

    async def run() -> int:
        if admin is not None:
            try:
                await admin.start()
            except Exception as exc:
                log.error("%s", exc)
                return EXIT_FAILED
            view.admin_url = admin.url
        view.start()
        try:
            return int(await app.main())
        except Exception as exc:
            log.error("the application failed: %s: %s", type(exc).__name__, exc)
            log.debug("traceback of that error", exc_info=True)
            return EXIT_FAILED
        finally:
            await view.stop()
            if admin is not None:
                await admin.stop()

    started = time.monotonic()
    try:
        code = asyncio.run(run())
    finally:
        view.abort()
    duration = time.monotonic() - started
    if not args.quiet:
        data = cli_view.summary(app, duration, code)
        if args.log_format == "json":
            print(json.dumps({"summary": data}, default=str), file=sys.stderr)
        else:
            print(cli_view.render_summary(data), file=sys.stderr)
    return EXIT_FAILED if code else EXIT_OK


# -- plugins and describe -----------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace) -> int:
    """`pump plugins [--json]`."""
    import json

    from pump.plugins import PluginError, default_registry

    try:
        rows = default_registry().inventory(args.kind, load=not args.no_load)
    except PluginError as exc:
        _error(f"pump: {exc}")
        return EXIT_CONFIG
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return EXIT_OK
    headers = ("KIND", "NAME", "DISTRIBUTION", "VERSION", "STATUS")
    table = [(r.kind, r.name, r.distribution, r.version, r.status) for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *table, strict=False)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for r, cells in zip(rows, table, strict=True):
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if r.error:
            print(f"    ↳ {r.error}")
    return EXIT_OK


def cmd_describe(args: argparse.Namespace) -> int:
    """`pump describe [KIND:]NAME`."""
    import json

    from pump.describe import describe_class, describe_pipeline, render_markdown, render_text
    from pump.plugins import PluginError, UnknownPluginError, default_registry, normalize_kind

    registry = default_registry()
    kind, sep, name = args.name.partition(":")
    described = []
    kinds: list[str] = []
    try:
        if args.name in ("pipeline", "pipelines"):
            described.append(describe_pipeline())
        elif sep:
            kinds = [normalize_kind(kind)]
        else:
            name = args.name
            kinds = registry.kinds_of(name)
            if not kinds:
                raise registry.unknown_anywhere(name)
        for k in kinds:
            spec = registry.resolve(k, name)
            cls = registry.load(k, name)
            described.append(describe_class(cls, k, name, f"{spec.distribution} {spec.version}"))
    except PluginError as exc:
        _error(f"pump: {exc}")
        # An unknown name is a usage error; a conflicting or broken plugin is not.
        return EXIT_CONFIG if isinstance(exc, UnknownPluginError) else EXIT_FAILED
    style = "json" if args.json else args.format
    if style == "json":
        print(json.dumps(described if len(described) > 1 else described[0], indent=2, default=repr))
    else:
        render = render_markdown if style == "markdown" else render_text
        print("\n\n".join(render(d) for d in described))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
