"""docs/writing-a-connector.md explains every hook and attribute of the contract suites."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from pump.testing import LookupContract, PluginContract, SinkContract, SourceContract

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-a-connector.md"


def public_surface(suite: type) -> set[str]:
    """The hooks and attributes an author fills in: public, not a test, defined on the suite."""
    names = set()
    for name, value in vars(suite).items():
        if name.startswith("_") or name.startswith("test_"):
            continue
        if inspect.isfunction(value) or not callable(value):
            names.add(name)
    return names - {"registry"}  # PluginContract's helper, not a hook


@pytest.mark.parametrize("suite", [SourceContract, SinkContract, LookupContract, PluginContract])
def test_the_guide_names_every_hook_and_attribute(suite: type) -> None:
    text = GUIDE.read_text()
    missing = sorted(name for name in public_surface(suite) if f"`{name}" not in text)
    assert not missing, f"docs/writing-a-connector.md does not explain {suite.__name__}: {missing}"


def test_the_guide_names_the_emit_arguments_and_the_delivery_hooks() -> None:
    text = GUIDE.read_text()
    for name in ("token=", "errors=", "contexts=", "acknowledge(batch)", "reject(batch)",
                 "PUMP_REQUIRE_SERVICES", "require_service", "pump new connector"):
        assert name in text, name
