"""Makes the fixture distributions importable and discoverable for the tests.

nox installs them (editable) into its test venvs. Anywhere else (e.g. the developer venv) they
are installed here, once per test session, into a temporary folder that is put on `sys.path`
and on `PYTHONPATH` (for the CLI subprocesses): a real install from the wheel each builds, never
a change to the running environment.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DISTRIBUTIONS = {
    "pump-test-plugins": HERE / "pump_test_plugins",
    "pump-test-plugins-conflict": HERE / "pump_test_plugins_conflict",
    "pump-test-plugins-broken": HERE / "pump_test_plugins_broken",
}


def missing() -> list[str]:
    """The fixture distributions the running interpreter does not see."""
    out = []
    for name in DISTRIBUTIONS:
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            out.append(name)
    return out


def _installer(target: Path) -> list[str]:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if Path(uv).exists():
        return [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            sys.executable,
            "--target",
            str(target),
        ]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target)]


def ensure_installed(target: Path) -> Path | None:
    """Install the missing distributions into `target`; returns it, or None if none was missing."""
    names = missing()
    if not names:
        return None
    command = [*_installer(target), "--no-deps", *(str(DISTRIBUTIONS[n]) for n in names)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"installing the fixture distributions failed:\n{' '.join(command)}\n"
            f"{result.stdout}\n{result.stderr}"
        )
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p
    )
    still = missing()
    if still:
        raise RuntimeError(f"installed into {target} but still not found: {still}")
    return target
