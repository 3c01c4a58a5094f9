"""The file quickstart in one command: make the sample, run access-log.yaml, say where it went.

    python examples/quickstart/start.py [pump run options, e.g. --progress live]

It writes 100,000 access-log lines into data/, then runs `pump run access-log.yaml` from this
folder (live progress on a terminal, a summary at the end), so the results land in out/:
requests/*.jsonl (parsed, enriched, filtered requests), minutes.csv (one row per minute) and
dead-letter.jsonl (the damaged lines, each with its error, file and line number).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    subprocess.run([sys.executable, "generate.py"], cwd=HERE, check=True)
    shutil.rmtree(HERE / "out", ignore_errors=True)
    # `python -m pump` puts this folder on sys.path, so access-log.yaml finds accesslog.py
    code = subprocess.call(
        [sys.executable, "-m", "pump", "run", "access-log.yaml", *sys.argv[1:]], cwd=HERE
    )
    if code == 0:
        out = HERE / "out"
        print(f"\nresults in {out}:")
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            lines = sum(1 for _ in path.open("rb"))
            print(f"  {path.relative_to(out)}  ({lines:,} lines)")
    return code


if __name__ == "__main__":
    sys.exit(main())
