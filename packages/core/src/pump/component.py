"""The base shared by sources, processors, sinks, connections and lookups: id, app, typed config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pump.config import ComponentConfig, Configurable, build_config
from pump.metrics import Counters

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline as _Pipeline


class Component(Configurable):
    """A named, configured part of an application; BSPump's `Id`, `App`, `Pipeline`, `Config`."""

    Id: str
    App: Application
    Pipeline: _Pipeline | None
    Config: ComponentConfig

    def __init__(
        self,
        app: Application,
        pipeline: _Pipeline | None = None,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.Id = id or type(self).__name__
        self.App = app
        self.Pipeline = pipeline
        self.Config = build_config(
            type(self).ConfigModel,
            self.location(),
            app.config_section(self.config_section()) if app is not None else None,
            config,
        )
        self.counters = Counters()

    def config_section(self) -> str:
        """The app config section read for this component (BSPump's naming)."""
        if self.Pipeline is not None:
            return f"pipeline:{self.Pipeline.Id}:{self.Id}"
        return f"{type(self).__name__.lower()}:{self.Id}"

    def location(self) -> str:
        """Human-readable name used in every message about this component."""
        kind = type(self).__name__
        if self.Pipeline is not None:
            return f"pipeline '{self.Pipeline.Id}' component '{self.Id}' ({kind})"
        return f"{kind} '{self.Id}'"

    async def start(self) -> None:
        """Called when the application (or pipeline) starts; open resources here."""

    async def stop(self) -> None:
        """Called when the application (or pipeline) stops; flush and close resources here."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.Id!r}>"
