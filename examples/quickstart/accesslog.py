"""The quickstart's own processing steps, used by access-log.yaml and access_log.py.

Each is plain Python: a parse function, a filter predicate, a processor that reads a lookup,
and an aggregator that closes a row per minute of log time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

import pump
from pump.common import Aggregator
from pump.common.aggregation import AggregationStrategy

# 81.2.69.160 - - [14/Nov/2023:09:00:01 +0000] "GET /cart HTTP/1.1" 200 5120 "-" "Mozilla/5.0 ..."
LINE = re.compile(
    r'(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<path>\S+) [^"]*" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)"$'
)


def parse(line: str) -> dict[str, Any]:
    """A combined-format access-log line as a dict; a damaged line raises (→ dead letter)."""
    match = LINE.match(line)
    if match is None:
        raise ValueError("not a complete access-log line")
    event: dict[str, Any] = match.groupdict()
    moment = datetime.strptime(event["time"], "%d/%b/%Y:%H:%M:%S %z")
    event["time"] = moment.isoformat()
    event["status"] = int(event["status"])
    event["bytes"] = 0 if event["bytes"] == "-" else int(event["bytes"])
    return event


def is_page_view(event: dict[str, Any]) -> bool:
    """False for health checks and static files: they are dropped."""
    path = event["path"]
    return not (path == "/healthz" or path.startswith("/static/") or path == "/favicon.ico")


class GeoEnrich(pump.Processor):
    """Adds `country` from the lookup keyed by the first two octets of the client's address."""

    class ConfigModel(pump.ComponentConfig):
        lookup: str = Field("countries", description="Id of the lookup (prefix → country)")

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, id, config)
        self.Lookup = app.locate_lookup(self.Config.lookup)

    def process(self, context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        prefix = event["ip"].rsplit(".", 2)[0]
        event["country"] = self.Lookup.get(prefix, "??")
        return event


class MinuteStats(AggregationStrategy):
    """Counts the requests of one minute into a flat row (CSV-friendly)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.minute = ""
        self.requests = 0
        self.visitors: set[str] = set()
        self.statuses: Counter[int] = Counter()
        self.bytes = 0
        self.countries: Counter[str] = Counter()
        self.paths: Counter[str] = Counter()

    def append(self, context: Mapping[str, Any], event: dict[str, Any]) -> None:
        self.minute = event["time"][:16]
        self.requests += 1
        self.visitors.add(event["ip"])
        self.statuses[event["status"] // 100] += 1
        self.bytes += event["bytes"]
        self.countries[event["country"]] += 1
        self.paths[event["path"]] += 1

    def flush(self) -> dict[str, Any]:
        row = {
            "minute": self.minute,
            "requests": self.requests,
            "visitors": len(self.visitors),
            "ok_2xx": self.statuses[2],
            "redirect_3xx": self.statuses[3],
            "client_error_4xx": self.statuses[4],
            "server_error_5xx": self.statuses[5],
            "kilobytes": round(self.bytes / 1000),
            "top_country": self.countries.most_common(1)[0][0],
            "top_page": self.paths.most_common(1)[0][0],
        }
        self.reset()
        return row

    def is_empty(self) -> bool:
        return self.requests == 0


class MinuteAggregator(Aggregator):
    """One row per minute of log time: a row is complete when the first event of the next
    minute comes (or the input ends). The requests it took are done once the row is written."""

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, MinuteStats(), id=id, config=config)

    def process(self, context: dict[str, Any], event: dict[str, Any]) -> None:
        strategy = self.AggregationStrategy
        assert isinstance(strategy, MinuteStats)
        if self.CurrentSize and event["time"][:16] != strategy.minute:
            self._emit()
        return super().process(context, event)
