"""Windows: tumbling, hopping (sliding) and session windows over event or processing time.

`TumblingWindow`, `HoppingWindow` and `SessionWindow` are processors (`window.tumbling`,
`window.hopping`/`window.sliding`, `window.session` in YAML). They key events (a field, several,
or a function; or one global window), read their time (a field of the event or context:
datetime, epoch s/ms/us/ns, ISO 8601 text; or processing time), reduce them (`reducers`), and
emit `{"key", "start", "end", <results>}` when the watermark closes a window.
"""

from __future__ import annotations

from pump.windows.aggregate import Aggregate
from pump.windows.config import (
    HoppingWindowConfig,
    SessionWindowConfig,
    TumblingWindowConfig,
    WindowConfig,
)
from pump.windows.duration import Duration, parse_duration
from pump.windows.eventtime import format_time, to_seconds
from pump.windows.processor import (
    HoppingWindow,
    LateEventError,
    SessionWindow,
    TumblingWindow,
    Window,
)
from pump.windows.reducers import (
    Collect,
    Count,
    Distinct,
    First,
    Histogram,
    Last,
    Max,
    Mean,
    Min,
    ReduceFunction,
    Reducer,
    Sum,
    Top,
    reducers,
)
from pump.windows.watermark import Watermarks

#: BSPump-style and peers' name of a hopping window.
SlidingWindow = HoppingWindow

__all__ = [
    "Aggregate",
    "Collect",
    "Count",
    "Distinct",
    "Duration",
    "First",
    "Histogram",
    "HoppingWindow",
    "HoppingWindowConfig",
    "Last",
    "LateEventError",
    "Max",
    "Mean",
    "Min",
    "ReduceFunction",
    "Reducer",
    "SessionWindow",
    "SessionWindowConfig",
    "SlidingWindow",
    "Sum",
    "Top",
    "TumblingWindow",
    "TumblingWindowConfig",
    "Watermarks",
    "Window",
    "WindowConfig",
    "format_time",
    "parse_duration",
    "reducers",
    "to_seconds",
]
