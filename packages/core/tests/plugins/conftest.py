"""Fixtures of the plugin tests: the fixture distributions, installed for the session."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

_INSTALLER = Path(__file__).resolve().parent / "fixture_dists" / "installer.py"


def load_installer():
    """The installer module, loaded by path (test folders are not packages)."""
    spec = importlib.util.spec_from_file_location("pump_fixture_dists_installer", _INSTALLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fixture_dists(tmp_path_factory):
    """pump-test-plugins, -conflict and -broken are installed and discoverable."""
    pythonpath, path = os.environ.get("PYTHONPATH"), list(sys.path)
    target = load_installer().ensure_installed(tmp_path_factory.mktemp("fixture_dists"))
    yield target
    if target is not None:
        sys.path[:] = path
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath
