"""BSPump's analyzers on Pump's state: `Analyzer`, `TimeWindowAnalyzer`, `SessionAnalyzer`,
`LatchAnalyzer`, `ThresholdAnalyzer`, and their matrices (numpy when installed).

BSPump analyzer code ports by changing `bspump.analyzer` to `pump.analyzer`."""

from __future__ import annotations

from pump.analyzer.analyzer import Analyzer, AnalyzerConfig
from pump.analyzer.latch import LatchAnalyzer, LatchAnalyzerConfig
from pump.analyzer.matrix import HAS_NUMPY, ListArray, Matrix, SessionMatrix, TimeWindowMatrix
from pump.analyzer.session import SessionAnalyzer
from pump.analyzer.threshold import ThresholdAnalyzer, ThresholdAnalyzerConfig
from pump.analyzer.timewindow import TimeWindowAnalyzer

__all__ = [
    "HAS_NUMPY",
    "Analyzer",
    "AnalyzerConfig",
    "LatchAnalyzer",
    "LatchAnalyzerConfig",
    "ListArray",
    "Matrix",
    "SessionAnalyzer",
    "SessionMatrix",
    "ThresholdAnalyzer",
    "ThresholdAnalyzerConfig",
    "TimeWindowAnalyzer",
    "TimeWindowMatrix",
]
