"""`pump new connector NAME`: a new connector package in Pump's one shape, from a template.

The package it writes (into `--dir`, default the working directory) passes its own tests at
once: a connection, a source and a sink over an in-memory client, checked by the contract
suites of pump.testing. The author then replaces the client with the real one. Only the
standard library is imported here: the `pump` command must start fast.
"""

from __future__ import annotations

import argparse
import re
import string
import sys
from importlib import resources
from pathlib import Path

#: Output path (placeholders allowed) → template file in pump/templates/connector/.
FILES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    ".gitignore": "gitignore.tmpl",
    "src/${module}/__init__.py": "__init__.py.tmpl",
    "src/${module}/client.py": "client.py.tmpl",
    "src/${module}/connection.py": "connection.py.tmpl",
    "src/${module}/source.py": "source.py.tmpl",
    "src/${module}/sink.py": "sink.py.tmpl",
    "src/${module}/py.typed": None,
    "tests/conftest.py": "tests_conftest.py.tmpl",
    "tests/test_contracts.py": "test_contracts.py.tmpl",
    "tests/test_plugins.py": "test_plugins.py.tmpl",
}

NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


class ScaffoldError(Exception):
    """The connector cannot be generated (bad name, folder in the way)."""


def placeholders(name: str) -> dict[str, str]:
    """The values the templates use for connector `name` (e.g. `redis`, `my_db`)."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(
            f"connector name {name!r}: use lowercase letters, digits and single underscores, "
            "starting with a letter (e.g. redis, my_db)"
        )
    from pump import __version__

    major, minor = (int(part) for part in __version__.split(".")[:2])
    return {
        "name": name,
        "NAME": name.upper(),
        "Name": "".join(part.capitalize() for part in name.split("_")),
        "dist": "pump-" + name.replace("_", "-"),
        "module": "pump_" + name,
        "core_requirement": f"pump-core>={__version__},<{major}.{minor + 1}",
    }


def new_connector(name: str, directory: Path) -> Path:
    """Write the package of connector `name` into `directory`/pump-NAME; returns that folder."""
    values = placeholders(name)
    target = directory / values["dist"]
    if target.exists() and any(target.iterdir()):
        raise ScaffoldError(f"{target} exists and is not empty: choose another --dir")
    templates = resources.files("pump") / "templates" / "connector"
    for output, template in FILES.items():
        path = target / string.Template(output).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "" if template is None else (templates / template).read_text(encoding="utf-8")
        path.write_text(string.Template(text).substitute(values), encoding="utf-8")
    return target


def add_new_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `pump new connector NAME [--dir PATH]` to the command line."""
    new = commands.add_parser("new", help="generate a new connector package from the template")
    kinds = new.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True
    connector = kinds.add_parser(
        "connector",
        help="a connector package: connection, source, sink, tests",
        description="Write pump-NAME/ (a package with its own pyproject.toml, entry points and "
        "tests that pass at once against an in-memory client) into --dir.",
    )
    connector.add_argument("name", metavar="NAME", help="e.g. redis → pump-redis, pump_redis")
    connector.add_argument(
        "--dir", default=".", type=Path, help="the folder to create it in (default: .)"
    )
    connector.set_defaults(handler=cmd_new_connector)


def cmd_new_connector(args: argparse.Namespace) -> int:
    """Handler of `pump new connector`."""
    try:
        target = new_connector(args.name, args.dir)
    except ScaffoldError as exc:
        print(f"pump new connector: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}")
    print(f'next: pip install -e "{target}[test]" && pytest {target / "tests"}')
    print("then replace the in-memory client (client.py); see docs/writing-a-connector.md")
    return 0
