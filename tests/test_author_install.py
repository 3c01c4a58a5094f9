"""A connector author's documented install runs the contract suites: no pytest-asyncio needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / "tests" / "author_kit" / "memory_contracts.py"


def test_pump_core_testing_extra_runs_the_contract_suites(tmp_path: Path, uv: str) -> None:
    """`pip install pump-core[testing]` into a fresh venv, then pytest on a contract-suite file."""
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([uv, "venv", "--quiet", "--python", version, str(venv)], check=True)
    # The README's install line for authors, from the clone: not editable, only this extra.
    core = f"pump-core[testing] @ {(ROOT / 'packages' / 'core').as_uri()}"
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), core], check=True)
    listed = subprocess.run(
        [uv, "pip", "list", "--python", str(python)], capture_output=True, text=True, check=True
    ).stdout
    assert "pytest-asyncio" not in listed, "the testing extra must not need pytest-asyncio"

    project = tmp_path / "author"
    project.mkdir()
    shutil.copy(CONTRACTS, project / "test_memory_contracts.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    result = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-rA", "test_memory_contracts.py"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # Every rule that applies to an in-memory source and sink ran and passed; the others
    # (redelivery, a failing destination) are skipped by the suites themselves.
    assert "10 passed" in summary and "failed" not in summary, summary
    assert (
        "PASSED test_memory_contracts.py::TestListSink::test_written_events_can_be_read_back"
        in (result.stdout)
    )
