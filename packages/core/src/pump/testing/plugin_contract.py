"""PluginContract: what every entry point a distribution declares must be, as pytest tests.

A connector's `tests/test_plugins.py` subclasses it and lists what it declares:

    class TestPlugins(PluginContract):
        distribution = "pump-kafka"
        declared = {
            ("connection", "kafka"): KafkaConnection,
            ("source", "kafka"): KafkaSource,
            ("sink", "kafka"): KafkaSink,
        }

Each test method checks one rule over every entry point and names all that break it; the base
class is not collected itself (no `Test` prefix).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pump.config import ComponentConfig, Configurable
from pump.describe import describe_class
from pump.plugins import PluginError, Registry, normalize_distribution


class PluginContract:
    """Rules for a distribution's entry points; subclass and set `distribution` and `declared`."""

    #: The distribution under test, e.g. "pump-kafka".
    distribution: ClassVar[str] = ""
    #: Every entry point it must declare, (kind, name) → class; it may declare nothing else.
    declared: ClassVar[Mapping[tuple[str, str], type]] = {}
    #: Every name is this or starts with it and a dot; "" derives it from the distribution
    #: ("pump-kafka" → "kafka"); None checks nothing.
    namespace: ClassVar[str | None] = ""

    # -- helpers ----------------------------------------------------------------------------

    def registry(self) -> Registry:
        """A registry of every installed entry point (no allow or deny list)."""
        return Registry(allow=None, deny=(), environ={})

    def _own(self) -> set[tuple[str, str]]:
        wanted = normalize_distribution(self.distribution)
        return {
            (row.kind, row.name)
            for row in self.registry().inventory(load=False)
            if normalize_distribution(row.distribution) == wanted
        }

    def _check_each(self, rule: Callable[[str, str, type], str | None]) -> None:
        """Apply `rule` to every declared entry point; fail naming each one that breaks it."""
        assert self.distribution and self.declared, (
            f"{type(self).__name__}: set `distribution` and `declared`"
        )
        problems = []
        for (kind, name), cls in sorted(self.declared.items()):
            problem = rule(kind, name, cls)
            if problem:
                problems.append(f"{kind} '{name}' ({cls.__qualname__}): {problem}")
        assert not problems, "\n".join(problems)

    # -- the rules --------------------------------------------------------------------------

    def test_it_declares_exactly_these_entry_points(self) -> None:
        found = self._own()
        expected = set(self.declared)
        assert found == expected, (
            f"{self.distribution}: not declared: {sorted(expected - found)}; "
            f"declared but not expected: {sorted(found - expected)}"
        )

    def test_every_entry_point_loads_its_class(self) -> None:
        registry = self.registry()

        def loads(kind: str, name: str, cls: type) -> str | None:
            try:
                spec = registry.resolve(kind, name)
                loaded = registry.load(kind, name)
            except PluginError as exc:  # conflicts, import errors, wrong base class
                return str(exc)
            if normalize_distribution(spec.distribution) != normalize_distribution(
                self.distribution
            ):
                return f"resolves to {spec.distribution}"
            return None if loaded is cls else f"loads {loaded!r}"

        self._check_each(loads)

    def test_every_component_has_a_module_level_config_model(self) -> None:
        def config_model(kind: str, name: str, cls: type) -> str | None:
            if not issubclass(cls, Configurable):
                return None if kind == "trigger" else "is not configurable (no ConfigModel)"
            model: Any = cls.ConfigModel  # whatever the plugin set: checked here
            if not (isinstance(model, type) and issubclass(model, ComponentConfig)):
                return f"ConfigModel {model!r} does not subclass pump.ComponentConfig"
            if model is ComponentConfig:
                return None  # no settings of its own
            if "." in model.__qualname__ and "ConfigDefaults" not in vars(cls):
                return (
                    f"ConfigModel {model.__qualname__} is nested in a class; declare it at "
                    "module level as `class <Component>Config(pump.ComponentConfig)`"
                )
            return None

        self._check_each(config_model)

    def test_every_config_key_is_described(self) -> None:
        def described(kind: str, name: str, cls: type) -> str | None:
            if not issubclass(cls, Configurable):
                return None
            bare = [k for k, f in cls.ConfigModel.model_fields.items() if not f.description]
            return f"keys without a description: {', '.join(bare)}" if bare else None

        self._check_each(described)

    def test_every_component_describes_itself(self) -> None:
        def describes(kind: str, name: str, cls: type) -> str | None:
            if not inspect.getdoc(cls):
                return "has no docstring (its summary in `pump describe` and `pump plugins`)"
            info: dict[str, Any] = describe_class(cls, kind, name, self.distribution)
            if not info["summary"]:
                return "describes itself without a summary"
            keys = {f["name"] for f in info["fields"]}
            if issubclass(cls, Configurable):
                fields = cls.ConfigModel.model_fields
                expected = {f.alias or key for key, f in fields.items()}
                if keys != expected:
                    return f"describe shows keys {sorted(keys)}, the model has {sorted(expected)}"
            return None

        self._check_each(describes)

    def test_every_name_is_namespaced_by_the_distribution(self) -> None:
        prefix = self.namespace
        if prefix is None:
            return
        prefix = prefix or normalize_distribution(self.distribution).removeprefix("pump-")

        def namespaced(kind: str, name: str, cls: type) -> str | None:
            head = name.split(".")[0]
            if head == prefix or normalize_distribution(head) == normalize_distribution(prefix):
                return None
            return f"the name should be '{prefix}' or '{prefix}.<what>'"

        self._check_each(namespaced)
