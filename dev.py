#!/usr/bin/env python3
"""Pump developer bootstrap: needs only Python 3.11+ and pip (no make, no uv, no nox).

    python3 dev.py quickstart            # .venv + every package editable, then an example pipeline
    python3 dev.py test [-- PYTEST ARGS] # .venv + nox, then `nox -s lint typecheck tests_all`
    python3 dev.py bench                 # .venv + every package, then every bench/*.py

The first run creates .venv (stdlib venv), installs uv into it with pip, and with uv
installs every packages/* editable (and nox, for `test`). Later runs skip the install
while the stamp file in .venv is newer than every pyproject.toml. The exit code is the
command's exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
EXE = ".exe" if os.name == "nt" else ""
PYTHON = BIN / f"python{EXE}"
UV = BIN / f"uv{EXE}"
NOX = BIN / f"nox{EXE}"
STAMP = VENV / ".pump-dev-stamp"

UV_SPEC = "uv>=0.4"
NOX_SPEC = "nox>=2024.10"
QUICKSTART = ROOT / "examples" / "quickstart" / "start.py"
NOX_SESSIONS = ["lint", "typecheck", "tests_all"]

USAGE = """usage: python3 dev.py COMMAND [ARGS]

commands:
  quickstart           set up .venv and run examples/quickstart/start.py
  test [-- ARGS]       set up .venv and run nox -s lint typecheck tests_all (ARGS go to pytest)
  bench                set up .venv and run every bench/*.py
"""


def step(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def env() -> dict[str, str]:
    """The environment for every command: .venv/bin first on PATH (nox finds uv there)."""
    result = dict(os.environ)
    result["PATH"] = str(BIN) + os.pathsep + result.get("PATH", "")
    # uv must use the interpreters on the machine, never download one.
    result.setdefault("UV_PYTHON_DOWNLOADS", "never")
    result.pop("PYTHONHOME", None)
    return result


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def run(cmd: list[str], *, quiet: bool = False) -> int:
    """Run cmd from the repo root. quiet: keep the output unless the command fails."""
    if not quiet:
        return subprocess.call(cmd, cwd=ROOT, env=env())
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout)
        step(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return proc.returncode


def packages() -> list[str]:
    """Workspace members: packages/<name>/ with a pyproject.toml, as repo-relative paths."""
    return sorted(rel(p.parent) for p in ROOT.glob("packages/*/pyproject.toml"))


def pyprojects() -> list[Path]:
    return [ROOT / "pyproject.toml", *ROOT.glob("packages/*/pyproject.toml")]


def read_stamp() -> list[str]:
    """What the last successful bootstrap installed into .venv ([] when unknown)."""
    try:
        content = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return []
    return [str(item) for item in content] if isinstance(content, list) else []


def stamp_is_fresh(wanted: list[str]) -> bool:
    """True when .venv already holds everything in `wanted` and no pyproject.toml changed since."""
    if not (STAMP.is_file() and PYTHON.exists() and UV.exists()):
        return False
    if not set(wanted) <= set(read_stamp()):
        return False
    stamp_time = STAMP.stat().st_mtime
    return all(p.stat().st_mtime < stamp_time for p in pyprojects() if p.exists())


def bootstrap(tools: list[str]) -> int:
    """Create .venv, install uv with pip, then with uv every package editable plus `tools`."""
    editables = packages()
    wanted = [UV_SPEC, *tools, *(f"-e {p}" for p in editables)]
    if stamp_is_fresh(wanted):
        step(".venv is up to date, skipping install")
        return 0

    started = time.monotonic()
    if not PYTHON.exists():
        step("creating .venv")
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)

    step(f"installing {UV_SPEC} into .venv with pip")
    code = run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", UV_SPEC],
        quiet=True,
    )
    if code:
        return code

    uv_pip = [str(UV), "pip", "install", "--quiet", "--python", str(PYTHON)]
    if tools:
        step(f"installing {' '.join(tools)} into .venv with uv")
        code = run([*uv_pip, *tools])
        if code:
            return code
    if editables:
        step(f"installing {' '.join(editables)} (editable) into .venv with uv")
        code = run([*uv_pip, *(arg for p in editables for arg in ("-e", p))])
        if code:
            return code

    # Tools installed by an earlier command stay installed: keep them in the stamp.
    kept = [w for w in read_stamp() if not w.startswith("-e ") and w not in wanted]
    STAMP.write_text(json.dumps([*wanted, *kept], indent=1) + "\n")
    step(f".venv ready ({time.monotonic() - started:.1f}s)")
    return 0


def cmd_quickstart(args: list[str]) -> int:
    code = bootstrap([])
    if code:
        return code
    if not QUICKSTART.is_file():
        step(f"{rel(QUICKSTART)} does not exist yet")
        return 1
    step(f"running {rel(QUICKSTART)}")
    return run([str(PYTHON), str(QUICKSTART), *args])


def cmd_test(args: list[str]) -> int:
    code = bootstrap([NOX_SPEC])
    if code:
        return code
    if args and args[0] == "--":
        args = args[1:]
    cmd = [str(NOX), "-s", *NOX_SESSIONS]
    if args:
        cmd += ["--", *args]
    step(f"running nox -s {' '.join(NOX_SESSIONS)}" + (f" -- {' '.join(args)}" if args else ""))
    return run(cmd)


def cmd_bench(args: list[str]) -> int:
    code = bootstrap([])
    if code:
        return code
    scripts = sorted((ROOT / "bench").glob("*.py"))
    if not scripts:
        step("no bench/*.py scripts")
        return 0
    failed = 0
    for script in scripts:
        step(f"running {rel(script)}")
        code = run([str(PYTHON), str(script), *args])
        if code:
            step(f"{rel(script)} exited with {code}")
            failed = failed or code
    return failed


COMMANDS = {"quickstart": cmd_quickstart, "test": cmd_test, "bench": cmd_bench}


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must say so on an older Python
        step(f"Python 3.11+ is needed, this is {sys.version.split()[0]}")
        return 1
    if not argv or argv[0] not in COMMANDS:
        sys.stderr.write(USAGE)
        return 0 if argv and argv[0] in ("-h", "--help", "help") else 2
    try:
        return COMMANDS[argv[0]](argv[1:])
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
