"""Run the quickstart if its output is missing, then summary.yaml; print the summary.

python examples/pandas-summary/start.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUESTS = HERE.parent / "quickstart" / "out" / "requests"


def main() -> int:
    if not any(REQUESTS.glob("*.jsonl")):
        code = subprocess.call([sys.executable, str(HERE.parent / "quickstart" / "start.py")])
        if code:
            return code
    shutil.rmtree(HERE / "out", ignore_errors=True)
    # the file.jsonl source remembers files it read (post_process: keep): read them afresh
    for position in REQUESTS.glob(".*.pos"):
        position.unlink()
    code = subprocess.call([sys.executable, "-m", "pump", "run", "summary.yaml"], cwd=HERE)
    if code == 0:
        import pandas as pd

        frame = pd.concat(pd.read_parquet(p) for p in sorted((HERE / "out").glob("*.parquet")))
        print(frame.to_string(index=False, max_rows=12))
    return code


if __name__ == "__main__":
    sys.exit(main())
