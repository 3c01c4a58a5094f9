"""The base shared by sources, processors, sinks, connections and lookups: id, app, typed config."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pump.config import ComponentConfig, Configurable, build_config
from pump.errors import ConfigError
from pump.metrics import Counters, declared_metrics

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
        self.counters = Counters(declared_metrics(type(self)))

    @classmethod
    def from_config(
        cls,
        app: Application,
        pipeline: _Pipeline | None,
        id: str | None,
        config: Mapping[str, Any],
    ) -> Component:
        """Build the component from declarative config (what a YAML pipeline gives).

        The default splits `config`: a key that is not a config field but names a keyword
        parameter of the constructor is passed as that argument (IteratorSource's `iterator`,
        DictionaryLookup's `provider`, a BSPump-style connector's `connection`); the other keys
        are the component's `config=`. `pipeline` is passed (positionally, after `app`) unless
        it is None, as for connections and lookups. Override it when building needs more, e.g.
        a connector popping `connection: <id>` from `config` and locating that connection.
        """
        parameters = constructor_parameters(cls)
        model = cls.ConfigModel
        fields = {*model.model_fields, *(f.alias for f in model.model_fields.values() if f.alias)}
        kwargs: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for key, value in config.items():
            if key not in fields and key in parameters and key not in _BUILDER_ARGUMENTS:
                kwargs[key] = value
            else:
                rest[key] = value
        if rest or "config" in parameters:
            kwargs["config"] = rest
        if id is not None:
            kwargs["id"] = id
        args: list[Any] = [app] if pipeline is None else [app, pipeline]
        given = {*kwargs, *_BUILDER_ARGUMENTS, *list(parameters)[: len(args) - 1]}
        missing = [
            name
            for name, p in parameters.items()
            if p.default is inspect.Parameter.empty and name not in given
        ]
        if missing:  # e.g. a connector's `connection`: say which key, not a TypeError
            where = f"{cls.__name__} '{id}'" if id else cls.__name__
            raise ConfigError(where, [f"key '{name}': required" for name in missing])
        return cls(*args, **kwargs)

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


#: Constructor parameters `from_config` fills itself, never from a config key.
_BUILDER_ARGUMENTS = frozenset({"pipeline", "id", "config"})


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The constructor's keyword-capable parameters other than the first (`app`)."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}
    positional = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)
    names = [p.name for p in signature.parameters.values() if p.kind in positional]
    skip = set(names[:1])  # app
    return {
        name: p
        for name, p in signature.parameters.items()
        if name not in skip
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
