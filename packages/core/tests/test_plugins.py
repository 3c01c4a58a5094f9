"""pump-core's own entry points follow the one shape too (docs/connector-shape.md §2, §3)."""

from __future__ import annotations

from pump.plugins import Registry
from pump.testing import PluginContract


def core_entry_points() -> dict[tuple[str, str], type]:
    """Every (kind, name) pump-core declares, with the class it loads."""
    registry = Registry(allow=None, deny=(), environ={})
    return {
        (row.kind, row.name): registry.load(row.kind, row.name)
        for row in registry.inventory(load=False)
        if row.distribution == "pump-core"
    }


class TestCorePlugins(PluginContract):
    distribution = "pump-core"
    declared = core_entry_points()
    namespace = None  # the core's names are the common ones: json.parse, print, ...


def test_the_core_declares_its_common_components():
    declared = core_entry_points()
    assert len(declared) >= 20
    assert {("processor", "json.parse"), ("sink", "null"), ("trigger", "periodic")} <= set(declared)
