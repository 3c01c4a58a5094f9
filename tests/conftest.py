"""Fixtures of the cross-package tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def uv() -> str:
    """uv from PATH (nox and dev.py put it there), else the one dev.py installed into .venv."""
    found = shutil.which("uv") or shutil.which("uv", path=str(ROOT / ".venv" / "bin"))
    if found is None:
        pytest.fail("this test builds with uv: run it through `python3 dev.py test` or nox")
    return found
