"""The quickstart's own processing steps, used by access-log.yaml and access_log.py.

Each is plain Python: a parse function, a filter predicate, a processor that reads a lookup,
and an aggregator that closes a row per minute of log time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from itertools import groupby
from operator import itemgetter
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
# 14/Nov/2023:09:00:01 +0000 (the log's fixed time format)
STAMP = re.compile(r"(\d\d)/([A-Z][a-z][a-z])/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
MONTHS = {
    "Jan": 1,
    "Feb": 2,
    "Mar": 3,
    "Apr": 4,
    "May": 5,
    "Jun": 6,
    "Jul": 7,
    "Aug": 8,
    "Sep": 9,
    "Oct": 10,
    "Nov": 11,
    "Dec": 12,
}

# A server logs many requests per second: each distinct timestamp is converted once.
_iso_times: dict[str, str] = {}


def iso_time(stamp: str) -> str:
    """`14/Nov/2023:09:00:01 +0000` as ISO 8601 (`2023-11-14T09:00:01+00:00`); ValueError if bad.

    The same result as `datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z").isoformat()`, at a
    fraction of its cost: the format is fixed, and repeated timestamps come from a cache.
    """
    iso = _iso_times.get(stamp)
    if iso is None:
        match = STAMP.fullmatch(stamp)
        month = MONTHS.get(match[2]) if match else None
        if match is None or month is None:
            raise ValueError(f"time data {stamp!r} is not like 14/Nov/2023:09:00:01 +0000")
        day, _, year, hour, minute, second, sign, tz_hours, tz_minutes = match.groups()
        offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes))
        zone = timezone(-offset if sign == "-" else offset)
        # datetime() checks the ranges (a 31st of November, hour 24) as strptime would
        moment = datetime(int(year), month, int(day), int(hour), int(minute), int(second), 0, zone)
        iso = moment.isoformat()
        if len(_iso_times) >= 10_000:
            _iso_times.clear()
        _iso_times[stamp] = iso
    return iso


def parse(line: str) -> dict[str, Any]:
    """A combined-format access-log line as a dict; a damaged line raises (→ dead letter)."""
    match = LINE.match(line)
    if match is None:
        raise ValueError("not a complete access-log line")
    ip, stamp, method, path, status, size, referrer, agent = match.groups()
    return {
        "ip": ip,
        "time": iso_time(stamp),
        "method": method,
        "path": path,
        "status": int(status),
        "bytes": 0 if size == "-" else int(size),
        "referrer": referrer,
        "agent": agent,
    }


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
        self.events: list[dict[str, Any]] = []

    @property
    def minute(self) -> str:
        """The minute of the requests held (`2023-11-14T09:00`), "" when none are."""
        return self.events[0]["time"][:16] if self.events else ""

    def append(self, context: Mapping[str, Any], event: dict[str, Any]) -> None:
        # only kept here: the row is counted at flush, by the C-level Counter, sum and set
        self.events.append(event)

    def extend(self, contexts: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
        self.events += events  # a whole run of requests at once

    def flush(self) -> dict[str, Any]:
        events, self.events = self.events, []
        statuses = Counter(map(itemgetter("status"), events))
        classes: Counter[int] = Counter()
        for status, n in statuses.items():
            classes[status // 100] += n
        countries = Counter(map(itemgetter("country"), events))
        paths = Counter(map(itemgetter("path"), events))
        return {
            "minute": events[0]["time"][:16] if events else "",
            "requests": len(events),
            "visitors": len(set(map(itemgetter("ip"), events))),
            "ok_2xx": classes[2],
            "redirect_3xx": classes[3],
            "client_error_4xx": classes[4],
            "server_error_5xx": classes[5],
            "kilobytes": round(sum(map(itemgetter("bytes"), events)) / 1000),
            "top_country": countries.most_common(1)[0][0],
            "top_page": paths.most_common(1)[0][0],
        }

    def is_empty(self) -> bool:
        return not self.events


class MinuteAggregator(Aggregator):
    """One row per minute of log time: a row is complete when the first event of the next
    minute comes (or the input ends). The requests it took are done once the row is written."""

    def __init__(self, app, pipeline, id=None, config=None):
        super().__init__(app, pipeline, MinuteStats(), id=id, config=config)
        self.minute = ""  # of the requests held

    def process(self, context: dict[str, Any], event: dict[str, Any]) -> None:
        return self.process_batch([context], [event])[0]

    def process_batch(self, contexts: list[dict[str, Any]], events: list[dict[str, Any]]) -> list:
        # called once per batch: each run of requests from the same minute is held at once
        minutes = [event["time"][:16] for event in events]
        start = 0
        for minute, run in groupby(minutes):
            if minute != self.minute:
                if self.CurrentSize:
                    self._emit()
                self.minute = minute
            end = start + len(list(run))
            super().process_batch(contexts[start:end], events[start:end])
            start = end
        return [None] * len(events)
