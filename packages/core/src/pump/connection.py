"""Connection: a client to an external system, owned by the application and shared by id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pump.component import Component
from pump.errors import ConfigError

if TYPE_CHECKING:
    from pump.application import Application


class Connection(Component):
    """Shared client to an external system; started before pipelines, stopped after them.

    Components find theirs with `app.locate_connection(id, MyConnection, where=self)`.
    One that reconnects by itself declares `connected = pump.Gauge(...)` and
    `reconnects = pump.Counter(...)` and keeps them up to date (see `pump.metrics`).
    """

    def __init__(
        self, app: Application, id: str | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        try:
            super().__init__(app, None, id, config)
        except ConfigError as exc:
            if app is not None:
                # A component naming this connection is then told why it is missing.
                app.connection_failed(id or type(self).__name__, "; ".join(exc.problems))
            raise

    def config_section(self) -> str:
        return f"connection:{self.Id}"
