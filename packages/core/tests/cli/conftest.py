"""CLI test fixtures: a runner of `python -m pump` (fixture_dists comes from ../conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


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
