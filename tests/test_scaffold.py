"""`pump new connector NAME`: a package outside the repository whose own tests pass at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pump.cli import main
from pump.scaffold import ScaffoldError, new_connector

ROOT = Path(__file__).resolve().parents[1]


def test_generated_connector_installs_and_passes_its_own_tests(tmp_path: Path, uv: str) -> None:
    assert main(["new", "connector", "demo_db", "--dir", str(tmp_path)]) == 0
    package = tmp_path / "pump-demo-db"
    assert (package / "src" / "pump_demo_db" / "source.py").is_file()
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([uv, "venv", "--quiet", "--python", version, str(venv)], check=True)
    core = f"pump-core[testing] @ {(ROOT / 'packages' / 'core').as_uri()}"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), core, f"{package}[test]"],
        check=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    result = subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=package,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # every contract rule applies (redelivery, a failing destination; the 6 of PluginContract)
    assert "21 passed" in summary and "skipped" not in summary, summary
    listed = subprocess.run(
        [str(venv / "bin" / "pump"), "plugins", "--json"], capture_output=True, text=True, env=env
    )
    assert listed.returncode == 0, listed.stderr
    assert '"demo_db"' in listed.stdout and "pump-demo-db" in listed.stdout


def test_a_bad_name_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["new", "connector", "My-DB", "--dir", str(tmp_path)]) == 2
    assert "connector name 'My-DB'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_an_existing_folder_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "pump-demo").mkdir()
    (tmp_path / "pump-demo" / "mine.txt").write_text("keep")
    with pytest.raises(ScaffoldError, match="exists and is not empty"):
        new_connector("demo", tmp_path)
    assert (tmp_path / "pump-demo" / "mine.txt").read_text() == "keep"
