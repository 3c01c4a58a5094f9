"""The BSPump examples import `port_helpers` (the stand-in for `bspump.http`) from this folder."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
