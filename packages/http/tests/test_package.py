"""The package imports and names its version."""

from __future__ import annotations

import importlib.metadata

import pump_http


def test_the_package_imports_with_its_version() -> None:
    assert pump_http.__version__ == importlib.metadata.version("pump-http")
