"""Connection: a client to an external system, owned by the application and shared by id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pump.component import Component

if TYPE_CHECKING:
    from pump.application import Application


class Connection(Component):
    """Shared client to an external system; started before pipelines, stopped after them."""

    def __init__(
        self, app: Application, id: str | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(app, None, id, config)

    def config_section(self) -> str:
        return f"connection:{self.Id}"
