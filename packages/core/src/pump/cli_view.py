"""Progress of `pump run`: a live table in a terminal, periodic log lines otherwise, a summary.

Everything here is written to stderr: stdout belongs to the pipelines (a `print` sink, a
`pump run x.yaml | jq` pipe). Only counters are shown, never config, so no secret can appear.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pump.metrics import DECLARED

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

L = logging.getLogger("pump.run")


@dataclass
class PipelineStats:
    """One pipeline's numbers at one moment."""

    id: str
    state: str
    events_in: int
    events_out: int
    dropped: int
    dead_lettered: int
    errors: int
    in_flight: int
    rate: float  # events in per second since the previous sample
    error: str | None = None
    #: The components' own declared counters and gauges, "component.name" → value.
    counters: dict[str, float] = field(default_factory=dict)
    warnings: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view."""
        return dict(self.__dict__)


def _state(pipeline: Pipeline) -> str:
    if pipeline.is_error():
        return "failed"
    if pipeline.is_finished():
        return "finished"
    if pipeline.paused:
        return "paused"
    if not pipeline.is_ready():
        return "waiting"
    return "running"


@dataclass
class Sampler:
    """Reads every pipeline's counters; rates come from the change since the previous read."""

    app: Application
    started: float = field(default_factory=time.monotonic)
    _last: dict[str, tuple[float, int]] = field(default_factory=dict)

    def sample(self) -> list[PipelineStats]:
        now = time.monotonic()
        rows = []
        for pid, pipeline in self.app.Pipelines.items():
            m = pipeline.metrics()
            last_time, last_in = self._last.get(pid, (self.started, 0))
            elapsed = now - last_time
            rate = (m["events_in"] - last_in) / elapsed if elapsed > 0 else 0.0
            self._last[pid] = (now, m["events_in"])
            error = m.get("error")
            rows.append(
                PipelineStats(
                    id=pid,
                    state=_state(pipeline),
                    events_in=m["events_in"],
                    events_out=m["events_out"],
                    dropped=m.get("dropped", 0),
                    dead_lettered=m.get("dead_lettered", 0),
                    errors=m.get("errors", 0),
                    in_flight=m.get("in_flight", 0),
                    rate=rate,
                    error=_error_text(error),
                    warnings=m.get("warnings", 0),
                    counters=declared_counters(m["components"]),
                )
            )
        return rows

    def connections(self) -> dict[str, dict[str, float]]:
        """Every connection's declared counters and gauges (reconnects, connected, ...)."""
        return {cid: dict(c.counters.extra) for cid, c in self.app.Connections.items()}


def declared_counters(components: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The declared counters and gauges of a pipeline's components, "component.name" → value.

    A counter still at 0 is left out (nothing happened: a file source not run by triggers
    never fails a cycle); gauges are always shown (`connected 0` says something).
    """
    out: dict[str, float] = {}
    for cid, snapshot in components.items():
        for key, value in snapshot.items():
            metric = DECLARED.get(key)
            if metric is None or value is None or (value == 0 and metric.kind == "counter"):
                continue
            out[f"{cid}.{key}"] = value
    return out


def counters_text(counters: dict[str, float]) -> str:
    """`a.b 1, c.d 2.5` (empty when there are none)."""
    return ", ".join(f"{key} {value:,g}" for key, value in counters.items())


def _error_text(error: dict[str, Any] | None) -> str | None:
    """`component: Error: message (event from file 'x' line 3)`."""
    if not error:
        return None
    origin = f" (event from {error['origin']})" if error.get("origin") else ""
    return f"{error['component']}: {error['error']}{origin}"


class View:
    """Shows progress while the app runs: `start()` before `app.main()`, `await stop()` after."""

    def __init__(self, app: Application, interval: float) -> None:
        self.sampler = Sampler(app)
        self.interval = interval
        #: Where the admin API answers (`pump run --admin`), shown with the progress.
        self.admin_url: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.open()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.show(self.sampler.sample())

    def open(self) -> None:
        """Called once before the first `show`."""

    def show(self, rows: list[PipelineStats]) -> None:
        """Display one sample."""

    def close(self) -> None:
        """Called once at the end (after the last `show`)."""

    def abort(self) -> None:
        """Restore the terminal if the run ended without `stop()` (a second Ctrl-C)."""


class QuietView(View):
    """Shows nothing."""

    def start(self) -> None:
        pass


class LogView(View):
    """One log line per pipeline every `interval` seconds (for files, pipes, journald)."""

    def show(self, rows: list[PipelineStats]) -> None:
        for r in rows:
            L.info(
                "pipeline '%s' %s: in %d (%.0f/s), out %d, in flight %d, dropped %d, "
                "errors %d, dead-lettered %d%s",
                r.id,
                r.state,
                r.events_in,
                r.rate,
                r.events_out,
                r.in_flight,
                r.dropped,
                r.errors,
                r.dead_lettered,
                f"; {counters_text(r.counters)}" if r.counters else "",
            )
        for cid, counters in self.sampler.connections().items():
            if counters:
                L.info("connection '%s': %s", cid, counters_text(counters))


#: The live table's columns (short enough for an 80-column terminal).
COLUMNS = (
    "pipeline",
    "state",
    "in",
    "out",
    "ev/s",
    "in-flight",
    "dropped",
    "errors",
    "dead-letter",
)


class LiveView(View):
    """A table redrawn in place (rich), with log messages printed above it."""

    def __init__(
        self, app: Application, interval: float, *, force_terminal: bool | None = None
    ) -> None:
        super().__init__(app, interval)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=sys.stderr, force_terminal=force_terminal)
        # stdout is redirected above the table only when it is the same terminal; a piped stdout
        # must keep the pipeline's output.
        self.live = Live(
            console=self.console,
            auto_refresh=False,
            redirect_stdout=sys.stdout.isatty(),
            redirect_stderr=True,
            transient=False,
        )

    def open(self) -> None:
        self.live.start()
        self.show(self.sampler.sample())

    def show(self, rows: list[PipelineStats]) -> None:
        self.live.update(self.table(rows), refresh=True)

    def close(self) -> None:
        self.show(self.sampler.sample())
        self.live.stop()

    def abort(self) -> None:
        if self.live.is_started:
            self.live.stop()

    def table(self, rows: list[PipelineStats]) -> Any:
        from rich import box
        from rich.table import Table

        elapsed = time.monotonic() - self.sampler.started
        table = Table(
            title=f"pump — {elapsed:.0f}s"
            + (f" — admin API {self.admin_url}" if self.admin_url else ""),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
            collapse_padding=True,
            pad_edge=False,
        )
        for column in COLUMNS:
            left = column in ("pipeline", "state")
            # Numbers keep their width; a long pipeline id is what gets shortened.
            table.add_column(
                column,
                no_wrap=True,
                justify="left" if left else "right",
                min_width=None if column == "pipeline" else len(column),
            )
        styles = {
            "failed": "bold red",
            "finished": "green",
            "waiting": "yellow",
            "paused": "magenta",
        }
        for r in rows:
            table.add_row(
                r.id,
                f"[{styles.get(r.state, 'cyan')}]{r.state}[/]",
                f"{r.events_in:,}",
                f"{r.events_out:,}",
                f"{r.rate:,.0f}",
                f"{r.in_flight:,}",
                f"{r.dropped:,}",
                f"[red]{r.errors:,}[/]" if r.errors else "0",
                f"{r.dead_lettered:,}",
            )
        # The components' and connections' own counters, one line each, under the table.
        notes = [f"{r.id}: {counters_text(r.counters)}" for r in rows if r.counters]
        notes += [
            f"connection {cid}: {counters_text(c)}"
            for cid, c in self.sampler.connections().items()
            if c
        ]
        if notes:
            table.caption = "\n".join(notes)
            table.caption_justify = "left"
        return table


# -- the summary --------------------------------------------------------------------------------


def summary(app: Application, duration: float, exit_code: int) -> dict[str, Any]:
    """The run's totals, per pipeline and overall."""
    rows = Sampler(app).sample()
    totals = {
        key: sum(getattr(r, key) for r in rows)
        for key in ("events_in", "events_out", "dropped", "dead_lettered", "errors", "warnings")
    }
    return {
        "exit_code": exit_code,
        "duration": duration,
        "rate": totals["events_in"] / duration if duration > 0 else 0.0,
        "totals": totals,
        "pipelines": [
            {**r.as_dict(), "rate": r.events_in / duration if duration > 0 else 0.0} for r in rows
        ],
    }


def render_summary(data: dict[str, Any]) -> str:
    """The summary as text lines."""
    outcome = {0: "success", 1: "a pipeline failed"}.get(data["exit_code"], "error")
    lines = [f"pump: finished in {data['duration']:.2f}s — {outcome} (exit {data['exit_code']})"]
    for p in data["pipelines"]:
        lines.append(
            f"  pipeline '{p['id']}' {p['state']}: read {p['events_in']}, "
            f"written {p['events_out']}, dropped {p['dropped']}, "
            f"dead-lettered {p['dead_lettered']}, errors {p['errors']}, "
            f"{_warnings(p)}{p['rate']:,.0f} events/s"
        )
        if p.get("counters"):
            lines.append(f"    {counters_text(p['counters'])}")
        if p["error"]:
            lines.append(f"    error: {p['error']}")
    t = data["totals"]
    if len(data["pipelines"]) > 1:
        lines.append(
            f"  total: read {t['events_in']}, written {t['events_out']}, dropped {t['dropped']}, "
            f"dead-lettered {t['dead_lettered']}, errors {t['errors']}, "
            f"{_warnings(t)}{data['rate']:,.0f} events/s"
        )
    return "\n".join(lines)


def _warnings(counts: dict[str, Any]) -> str:
    """`warnings N, ` when there were any (they are logged above the summary)."""
    n = counts.get("warnings", 0)
    return f"warnings {n}, " if n else ""


# -- logging ------------------------------------------------------------------------------------


class StderrHandler(logging.Handler):
    """Writes to whatever `sys.stderr` is at the time (the live view redirects it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        extra = getattr(record, "pump", None)
        if extra is not None:
            out.update(extra)
        return json.dumps(out, default=str)


#: Loggers of the libraries connectors use: their INFO lines (group joins, reconnect chatter)
#: would flood the live view, so they log warnings and errors only, unless `--log-level debug`.
LIBRARY_LOGGERS = (
    "aiokafka",
    "kafka",
    "aio_pika",
    "aiormq",
    "pamqp",
    "urllib3",
    "elasticsearch",
    "elastic_transport",
    "aiomysql",
    "asyncmy",
    "pymysql",
    "influxdb_client",
    "aiohttp",
    "websockets",
    "httpx",
    "httpcore",
    "asyncio",
    "pyarrow",
    "fsspec",
)


def setup_logging(level: str, fmt: str) -> None:
    """Log to stderr at `level`, as text or JSON lines; libraries at WARNING unless DEBUG."""
    handler = StderrHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
    debug = level.upper() == "DEBUG"
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
