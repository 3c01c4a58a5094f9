"""Application: the registry of connections, lookups and pipelines, and their lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, overload

from pump.component import Component
from pump.configfile import ConfigSection, read_config_file
from pump.connection import Connection
from pump.errors import BuildError, PumpError
from pump.pipeline import Pipeline
from pump.pubsub import PubSub
from pump.tuning import tune_runtime
from pump.waiting import wait_event

L = logging.getLogger(__name__)

LookupT = TypeVar("LookupT", bound=Component)
ConnectionT = TypeVar("ConnectionT", bound=Connection)

#: The service name BSPump code asks for; `get_service` returns the application.
PUMP_SERVICE = "bspump.PumpService"


class Application:
    """Owns connections, lookups and pipelines; starts them in that order and stops in reverse.

    `run()` returns when every pipeline is finished (its sources ended and every event is done),
    when a pipeline failed (unless `stop_on_failure=False`: it then stays paused, its error
    visible, as in BSPump), or on SIGTERM/SIGINT, after a graceful drain. The return value is
    the process exit code: 0, or 1 if a pipeline failed or did not drain in time.

    Config sections (`pipeline:P:Component`, `connection:Id`, `lookup:Id`, ...) come from
    `config=` and from a config file (INI as in BSPump, or YAML); the file's values win over
    `config=`'s, and a component's own constructor `config=` wins over both. The file is
    `config_file=`, else the `-c FILE` / `--config FILE` of `args`; when `args` is not given,
    BSPump's `python mypump.py -c my.conf` works: `-c` is read from `sys.argv` — except when
    pytest is loaded (its argv is not the app's; `pytest -c` even means something else) or
    `PUMP_IGNORE_ARGV=1`. Pass `args=[]` to never read the command line.
    """

    def __init__(
        self,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        exit_when_finished: bool = True,
        stop_on_failure: bool = True,
        tune_runtime: bool = True,
        config_file: str | os.PathLike[str] | None = None,
        args: Sequence[str] | None = None,
    ) -> None:
        self.config: dict[str, dict[str, Any]] = {
            k: ConfigSection(v) for k, v in (config or {}).items()
        }
        #: The config file read (None when there is none).
        self.config_file: str | None = (
            os.fspath(config_file) if config_file is not None else config_file_from_args(args)
        )
        if self.config_file is not None:
            for name, section in read_config_file(self.config_file).items():
                self.config[name] = ConfigSection(self.config.get(name)).merged(section)
        self.Connections: dict[str, Connection] = {}
        #: Connections declared but not built, by id → why (see `connection_failed`).
        self.failed_connections: dict[str, str] = {}
        self.Lookups: dict[str, Component] = {}
        self.Pipelines: dict[str, Pipeline] = {}
        self.PubSub = PubSub()
        self.exit_when_finished = exit_when_finished
        self.stop_on_failure = stop_on_failure
        self.tune_runtime = tune_runtime
        self.failed: list[Pipeline] = []
        #: HOST:PORT of the admin API `pump run` starts (the YAML's `admin:`); None: none.
        self.admin: str | None = None
        self._stop_requested: asyncio.Event | None = None
        self._wakeup: asyncio.Event | None = None
        self._started = False

    def config_section(self, name: str) -> Mapping[str, Any] | None:
        """The config file section `name` (e.g. `pipeline:P:Source`), if there is one."""
        return self.config.get(name)

    def unused_config_sections(self) -> list[str]:
        """Sections of the config file naming a pipeline, component, connection or lookup that
        is not registered: most likely a typo, since nothing reads them."""
        used = {f"connection:{i}" for i in self.Connections}
        used |= {f"lookup:{i}" for i in self.Lookups}
        for pipeline in self.Pipelines.values():
            used.add(f"pipeline:{pipeline.Id}")
            used |= {c.config_section() for c in pipeline.components()}
        kinds = ("pipeline:", "connection:", "lookup:")
        return [
            name
            for name, section in self.config.items()
            if name.startswith(kinds) and name not in used and getattr(section, "origins", None)
        ]

    # -- registry -----------------------------------------------------------------------------

    def add_connection(self, connection: Connection) -> Connection:
        """Register a connection under its id."""
        self._register(self.Connections, connection, "connection")
        return connection

    def add_lookup(self, lookup: LookupT) -> LookupT:
        """Register a lookup under its id."""
        self._register(self.Lookups, lookup, "lookup")
        return lookup

    def add_pipeline(self, pipeline: Pipeline) -> Pipeline:
        """Register a pipeline under its id."""
        self._register(self.Pipelines, pipeline, "pipeline")
        return pipeline

    def add_pipelines(self, *pipelines: Pipeline) -> None:
        """Register several pipelines."""
        for p in pipelines:
            self.add_pipeline(p)

    @staticmethod
    def _register(registry: dict[str, Any], item: Any, kind: str) -> None:
        if item.Id in registry and registry[item.Id] is not item:
            raise BuildError(f"a {kind} with id '{item.Id}' is already registered")
        registry[item.Id] = item

    def connection_failed(self, connection_id: str, reason: str) -> None:
        """Record that a declared connection could not be built (its own config failed), so
        that a component naming it is told so rather than "unknown connection"."""
        self.failed_connections[connection_id] = reason

    @overload
    def locate_connection(
        self, connection_id: Any, *, where: Component | str | None = None
    ) -> Connection: ...
    @overload
    def locate_connection(
        self,
        connection_id: Any,
        kind: type[ConnectionT],
        *,
        where: Component | str | None = None,
    ) -> ConnectionT: ...
    def locate_connection(
        self,
        connection_id: Any,
        kind: type[Connection] = Connection,
        *,
        where: Component | str | None = None,
    ) -> Connection:
        """The connection with this id (or the connection itself), checked to be a `kind`.

        `where` (the component asking, or its name) starts every error message; an error
        names the id, what is wrong and the ids of the known connections of that kind.
        """
        at = where.location() if isinstance(where, Component) else where
        prefix = f"{at}: " if at else ""
        wanted = kind.__name__
        if connection_id is None or connection_id == "":
            raise BuildError(f"{prefix}needs a connection: the id of a {wanted}")
        located: Connection | None = (
            connection_id
            if isinstance(connection_id, Connection)
            else self.Connections.get(connection_id)
        )
        if located is None:
            failed = self.failed_connections.get(connection_id)
            if failed is not None:
                raise BuildError(
                    f"{prefix}connection '{connection_id}' could not be built: {failed}"
                )
            raise BuildError(f"{prefix}unknown connection '{connection_id}' ({self._known(kind)})")
        if not isinstance(located, kind):
            raise BuildError(
                f"{prefix}connection '{located.Id}' is a {type(located).__name__}, "
                f"not a {wanted} ({self._known(kind)})"
            )
        return located

    def _known(self, kind: type[Connection]) -> str:
        ids = sorted(i for i, c in self.Connections.items() if isinstance(c, kind))
        label = "known" if kind is Connection else f"known {kind.__name__}s"
        return f"{label}: {', '.join(ids) or 'none'}"

    def locate_lookup(self, lookup_id: Any) -> Any:
        """The lookup with this id (or the lookup itself)."""
        if isinstance(lookup_id, Component):
            return lookup_id
        return self._locate(self.Lookups, lookup_id, "lookup")

    def locate_pipeline(self, pipeline_id: str) -> Pipeline:
        """The pipeline with this id."""
        pipeline: Pipeline = self._locate(self.Pipelines, pipeline_id, "pipeline")
        return pipeline

    @staticmethod
    def _locate(registry: dict[str, Any], id: Any, kind: str) -> Any:
        try:
            return registry[id]
        except KeyError:
            known = ", ".join(sorted(registry)) or "none"
            raise BuildError(f"unknown {kind} '{id}' (known: {known})") from None

    def locate(self, address: str) -> Any:
        """BSPump addresses: `pipeline`, `pipeline.ProcessorId`, `pipeline.*SourceId`."""
        pipeline_id, _, rest = address.partition(".")
        pipeline = self.locate_pipeline(pipeline_id)
        if not rest:
            return pipeline
        if rest.startswith("*"):
            return pipeline.locate_source(rest[1:])
        return pipeline.locate_processor(rest)

    def get_service(self, name: str) -> Application:
        """BSPump's `app.get_service("bspump.PumpService")`: the registry is the app itself."""
        if name != PUMP_SERVICE:
            raise BuildError(
                f"unknown service '{name}': Pump has no ASAB services; '{PUMP_SERVICE}' is the "
                "application itself (add_pipeline, add_connection, add_lookup, locate, ...)"
            )
        return self

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connections, then lookups, then pipelines; on failure stop what started."""
        for name in self.unused_config_sections():
            L.warning(
                "config file %s: section [%s] matches no registered pipeline, component, "
                "connection or lookup; it is ignored",
                self.config_file,
                name,
            )
        components: list[Component] = []
        pipelines: list[Pipeline] = []
        try:
            for component in [*self.Connections.values(), *self.Lookups.values()]:
                await component.start()
                components.append(component)
            for pipeline in self.Pipelines.values():
                pipelines.append(pipeline)
                await pipeline.start()
        except BaseException:
            for pipeline in reversed(pipelines):
                await pipeline.stop(timeout=0)
            for component in reversed(components):
                await _stop_quietly(component)
            raise
        self._started = True
        self.PubSub.publish("Application.run!")

    async def stop(self, timeout: float | None = None) -> int:
        """Stop fetching everywhere, drain every pipeline, stop all in reverse; exit code."""
        pipelines = [p for p in self.Pipelines.values() if not p.is_error()]
        # A failed pipeline cannot finish its events: reject them now, which releases the
        # pipelines upstream of it instead of letting them wait for the drain timeout.
        for p in self.Pipelines.values():
            if p.is_error():
                await p.stop(timeout=0)
        # External sources stop first; internal ones keep carrying routed events while the
        # pipelines upstream of them drain.
        for p in pipelines:
            await p.stop_sources(internal=False)
        drained = await asyncio.gather(
            *(p.drain(p.Config.drain_timeout if timeout is None else timeout) for p in pipelines)
        )
        for p in reversed(pipelines):
            await p.stop(timeout=0.01 if not all(drained) else None)
        for lookup in reversed(list(self.Lookups.values())):
            await _stop_quietly(lookup)
        for connection in reversed(list(self.Connections.values())):
            await _stop_quietly(connection)
        self._started = False
        self.PubSub.publish("Application.stop!")
        return 0 if all(drained) and not self.failed else 1

    @property
    def started(self) -> bool:
        """True once `start()` has started everything, until `stop()`."""
        return self._started

    def pipeline_failed(self, pipeline: Pipeline) -> None:
        """Called by a pipeline that stopped on an error."""
        if pipeline not in self.failed:
            self.failed.append(pipeline)
        self.wake()

    def wake(self) -> None:
        """Something changed that may end the run (a source ended, a pipeline idled or failed)."""
        if self._wakeup is not None:
            self._wakeup.set()

    def request_stop(self) -> None:
        """Ask `run()` to stop gracefully (what SIGTERM/SIGINT do)."""
        if self._stop_requested is not None:
            self._stop_requested.set()
        self.wake()

    def finished(self) -> bool:
        """True when every pipeline's sources ended and its events are done, or it failed."""
        return bool(self.Pipelines) and all(
            p.is_finished() or p.is_error() for p in self.Pipelines.values()
        )

    async def main(self) -> int:
        """Start, run until finished or asked to stop, stop; returns the exit code."""
        if self.tune_runtime:
            tune_runtime()
        self._stop_requested = asyncio.Event()
        self._wakeup = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            # not possible outside the main thread or on some platforms: run without them
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            await self.start()
            next_tick = loop.time() + 1.0
            while not self._stop_requested.is_set():
                if self.exit_when_finished and self.finished():
                    break
                if self.stop_on_failure and self.failed:
                    break
                self._wakeup.clear()
                await wait_event(self._wakeup, max(0.0, next_tick - loop.time()))
                if loop.time() >= next_tick:
                    next_tick += 1.0
                    self.PubSub.publish("Application.tick!")
            return await self.stop()
        finally:
            for sig in signals:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop_requested is not None and self._stop_requested.is_set():
            L.warning("second %s: exiting without draining", sig.name)
            raise SystemExit(130)
        L.info("%s: stopping gracefully (send it again to exit at once)", sig.name)
        self.request_stop()

    def run(self) -> int:
        """Run the application in a new event loop; returns the exit code.

        A Pump error (a missing topic, an unreachable broker, a bad config) is logged as one
        line and gives exit code 1; its traceback is logged at DEBUG level only.
        """
        try:
            return asyncio.run(self.main())
        except PumpError as exc:
            what = "failed" if self._started else "cannot start"
            L.error("%s: %s: %s", what, type(exc).__name__, exc)
            L.debug("traceback of that error", exc_info=True)
            return 1

    # -- observability ------------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """A snapshot of every pipeline's counters and every connection's declared ones
        (reconnects, connected, ...); see `pump.metrics.metric_families`."""
        return {
            "pipelines": {pid: p.metrics() for pid, p in self.Pipelines.items()},
            "connections": {cid: dict(c.counters.extra) for cid, c in self.Connections.items()},
        }


#: BSPump's names: the application is also the pump service (its registry).
BSPumpApplication = BSPumpService = Application


def config_file_from_args(args: Sequence[str] | None) -> str | None:
    """The FILE of `-c FILE`, `-cFILE`, `--config FILE` or `--config=FILE` (the last one wins).

    `args=None` means `sys.argv[1:]`, unless pytest is loaded or `PUMP_IGNORE_ARGV=1`: then the
    command line belongs to another program and nothing is read. Other arguments are ignored.
    """
    if args is None:
        if "pytest" in sys.modules or os.environ.get("PUMP_IGNORE_ARGV") == "1":
            return None
        args = sys.argv[1:]
    found: str | None = None
    tokens = list(args)
    for i, token in enumerate(tokens):
        if token == "--":
            break
        if token in ("-c", "--config"):
            if i + 1 < len(tokens):
                found = tokens[i + 1]
        elif token.startswith("--config="):
            found = token.partition("=")[2]
        elif token.startswith("-c") and not token.startswith("--"):
            found = token[2:]
    return found


async def _stop_quietly(component: Component) -> None:
    try:
        await component.stop()
    except Exception:
        L.exception("%s: stop failed", component.location())
