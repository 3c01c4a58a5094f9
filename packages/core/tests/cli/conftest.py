"""Fixtures of the CLI tests: the fixture distributions (see ../plugins/fixture_dists) and a runner."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

_INSTALLER = Path(__file__).resolve().parents[1] / "plugins" / "fixture_dists" / "installer.py"


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


@pytest.fixture
def pump_cli(fixture_dists, tmp_path):
    """Run `python -m pump ARGS` in `tmp_path` (also on PYTHONPATH, for user modules)."""

    def run(*args, env=None, timeout=60):
        base = {k: v for k, v in os.environ.items() if not k.startswith("PUMP_")}
        base["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p
        )
        return subprocess.run(
            [sys.executable, "-m", "pump", *map(str, args)],
            capture_output=True,
            text=True,
            env={**base, **(env or {})},
            cwd=tmp_path,
            timeout=timeout,
            check=False,
        )

    return run
