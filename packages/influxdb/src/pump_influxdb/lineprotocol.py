"""InfluxDB line protocol: escaping, timestamps, and one line per event from a mapping config.

A line is `measurement[,tag=value...] field=value[,field=value...] timestamp`. Escaping follows
InfluxDB's parser (1.x and 2.x share it): commas and spaces in the measurement; commas, equals
signs and spaces in tag keys, tag values and field keys (and double quotes in field keys, which
would otherwise open a string in the field set); double quotes and backslashes in string field
values, which are quoted; integers carry an `i`. Some names cannot be carried at all — a
newline anywhere but in a string field, a backslash at the end of a name or before a character
that is escaped, a measurement starting with `#` (a comment), a measurement or field key
starting with a tab (the parser skips it) — and are refused with a `LineProtocolError` naming
the key, never silently changed.
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

from pump_influxdb.errors import LineProtocolError

Precision = Literal["ns", "us", "ms", "s"]

#: Nanoseconds in one unit of each precision.
NANOSECONDS: dict[str, int] = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}

#: A context key is referred to as `context.NAME` where a config names an event key.
CONTEXT_PREFIX = "context."

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MEASUREMENT_SPECIALS = ", "
#: What InfluxDB unescapes in a measurement (an `=` needs no escape, but `\=` is read as `=`).
_MEASUREMENT_UNESCAPED = ', ="'
_KEY_SPECIALS = ",= "
_FIELD_KEY_SPECIALS = ',= "'
#: Escaped names and tag values kept per cache; beyond this the cache starts over.
_CACHE_LIMIT = 100_000


def _escape(value: str, specials: str, what: str, unescaped: str = "") -> str:
    """`value` with each special character escaped; LineProtocolError if it cannot be carried.

    `unescaped` are the characters the server reads after a backslash (default: `specials`).
    """
    unescaped = unescaped or specials
    if not value:
        raise LineProtocolError(f"{what} is empty")
    if "\n" in value:
        raise LineProtocolError(
            f"{what} {value!r} contains a newline (line protocol cannot carry it)"
        )
    if "\\" in value and (value.endswith("\\") or any(f"\\{c}" in value for c in unescaped)):
        raise LineProtocolError(
            f"{what} {value!r} has a backslash at its end or before one of {unescaped!r} "
            "(line protocol cannot carry it)"
        )
    for c in specials:
        if c in value:
            value = value.replace(c, "\\" + c)
    return value


def escape_measurement(name: str) -> str:
    """A measurement name as written in a line."""
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name!r} starts with '#' (a comment line)")
    if name.startswith("\t"):
        raise LineProtocolError(f"measurement {name!r} starts with a tab (the parser skips it)")
    return _escape(name, _MEASUREMENT_SPECIALS, "measurement", _MEASUREMENT_UNESCAPED)


def escape_tag(text: str, what: str = "tag") -> str:
    """A tag key or tag value as written in a line."""
    return _escape(text, _KEY_SPECIALS, what)


def escape_field_key(key: str) -> str:
    """A field key as written in a line."""
    if key.startswith("\t"):
        raise LineProtocolError(f"field key {key!r} starts with a tab (the parser skips it)")
    return _escape(key, _FIELD_KEY_SPECIALS, "field key")


def quote_string(value: str) -> str:
    """A string field value, quoted."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    return f'"{value}"'


def format_field(value: Any, integers_as_float: bool = False) -> str | None:
    """A field value as written in a line; None for a value that is skipped (None, NaN, ±inf)."""
    kind = type(value)
    if kind is float:
        return repr(value) if value - value == 0.0 else None
    if kind is int:
        return repr(float(value)) if integers_as_float else f"{value}i"
    if kind is str:
        return quote_string(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return None
    # subclasses and other numbers: numpy scalars, Decimal, IntEnum, str subclasses
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return repr(float(value)) if integers_as_float else f"{int(value)}i"
    if isinstance(value, float | Decimal):
        number = float(value)
        return repr(number) if math.isfinite(number) else None
    if isinstance(value, str):
        return quote_string(str(value))
    if hasattr(value, "item"):  # a numpy scalar
        return format_field(value.item(), integers_as_float)
    raise LineProtocolError(
        f"a field value of type {type(value).__name__} (fields are numbers, strings or booleans)"
    )


def to_timestamp(value: Any, unit_ns: int, precision_ns: int) -> int:
    """`value` (a number in units of `unit_ns`, a datetime, ISO 8601 text) in the precision."""
    kind = type(value)
    if kind is int:
        if unit_ns == precision_ns:
            return value  # type: ignore[no-any-return]
        if unit_ns > precision_ns:
            return value * (unit_ns // precision_ns)  # type: ignore[no-any-return]
        return value // (precision_ns // unit_ns)  # type: ignore[no-any-return]
    if kind is float:
        if not math.isfinite(value):
            raise LineProtocolError(f"time {value!r} is not a finite number")
        scaled: float = value * unit_ns / precision_ns
        return round(scaled)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        micros: int = (value - _EPOCH) // datetime.timedelta(microseconds=1)
        return (micros * 1000) // precision_ns
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return to_timestamp(int(text), unit_ns, precision_ns)
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise LineProtocolError(
                f"time {value!r} is neither a number nor ISO 8601 text"
            ) from None
        return to_timestamp(parsed, unit_ns, precision_ns)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise LineProtocolError(
            f"time of type {type(value).__name__} (give a number, a datetime or ISO 8601 text)"
        )
    return to_timestamp(
        float(value) if isinstance(value, Decimal) else int(value), unit_ns, precision_ns
    )


class Clock:
    """Timestamps for events that carry none: the time of writing, never the same one twice.

    A point without a timestamp gets one here rather than from the server, so that a batch
    sent again after a failure writes the same points again instead of new ones.
    """

    def __init__(self, precision_ns: int) -> None:
        self.precision_ns = precision_ns
        self._last = 0

    def now(self) -> int:
        """The current time in the precision, above the last one given (at ns precision)."""
        stamp = time.time_ns() // self.precision_ns
        if self.precision_ns == 1 and stamp <= self._last:
            stamp = self._last + 1
        self._last = stamp
        return stamp


class Reference:
    """Where a value comes from: an event key, or a context key written `context.NAME`."""

    __slots__ = ("from_context", "key", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.from_context = text.startswith(CONTEXT_PREFIX)
        self.key = text[len(CONTEXT_PREFIX) :] if self.from_context else text

    @property
    def name(self) -> str:
        """The key itself (what a tag or field is named after when the config gives a list)."""
        return self.key


def references(spec: Iterable[str] | Mapping[str, str]) -> list[tuple[str, Reference]]:
    """(name, reference) pairs of a `tags`/`fields` setting: a list of keys, or name → key."""
    if isinstance(spec, Mapping):
        return [(name, Reference(ref)) for name, ref in spec.items()]
    return [(Reference(ref).name, Reference(ref)) for ref in spec]


class LineBuilder:
    """Builds the line of one event (a mapping) from the sink's mapping settings.

    `measurement` is the static measurement, `measurement_key` an event (or context) key that
    names it per event. `tags` and `fields` list event keys (or map a tag/field name to a key);
    a key whose value is a mapping contributes each of its items. Without `fields`, every key
    of the event not used for the measurement, a tag or the time is a field. `time_key` holds
    the time (`time_unit` for numbers); without one the point gets the time of writing.
    """

    def __init__(
        self,
        *,
        measurement: str = "",
        measurement_key: str = "",
        tags: Iterable[str] | Mapping[str, str] = (),
        fields: Iterable[str] | Mapping[str, str] = (),
        time_key: str = "",
        time_unit: Precision = "s",
        precision: Precision = "ns",
        integers: Literal["integer", "float"] = "integer",
    ) -> None:
        self.measurement = escape_measurement(measurement) if measurement else ""
        self.measurement_ref = Reference(measurement_key) if measurement_key else None
        tag_refs = sorted(references(tags), key=lambda pair: pair[0])
        self.tags = [(f",{escape_tag(n, 'tag key')}=", r) for n, r in tag_refs]
        field_refs = references(fields)
        self.fields = [(f"{escape_field_key(n)}=", r) for n, r in field_refs] or None
        self.time_ref = Reference(time_key) if time_key else None
        self.unit_ns = NANOSECONDS[time_unit]
        self.precision_ns = NANOSECONDS[precision]
        self.integers_as_float = integers == "float"
        self.clock = Clock(self.precision_ns)
        used = [r for r in (self.measurement_ref, self.time_ref) if r is not None]
        used += [r for _n, r in tag_refs]
        #: Event keys that are not fields when every other key is one.
        self.not_fields = frozenset(r.key for r in used if not r.from_context)
        self._tag_values: dict[Any, str] = {}
        self._names: dict[str, str] = {}
        self._measurements: dict[str, str] = {}

    # -- one event ------------------------------------------------------------------------

    def line(self, event: Mapping[str, Any], context: Mapping[str, Any]) -> str:
        """The line of `event`; LineProtocolError when it cannot be written."""
        value: Any
        get = event.get
        measurement = self.measurement
        ref = self.measurement_ref
        if ref is not None:
            named = context.get(ref.key) if ref.from_context else get(ref.key)
            if named is not None and named != "":
                measurement = self._measurement(named, ref)
        if not measurement:
            raise LineProtocolError(
                "the event names no measurement: set `measurement`, or `measurement_key` "
                "to the key that holds it"
            )
        parts = [measurement]
        append = parts.append
        tag_values = self._tag_values
        for prefix, ref in self.tags:
            value = context.get(ref.key) if ref.from_context else get(ref.key)
            if type(value) is str:
                escaped = tag_values.get(value)
                if escaped is None:
                    if not value:
                        continue
                    escaped = self._tag_value(value, ref)
                append(prefix)
                append(escaped)
            elif value is not None:
                self._other_tags(append, prefix, value, ref)
        separator = " "
        integers_as_float = self.integers_as_float
        field_pairs: Any = self.fields
        if field_pairs is None:
            not_fields = self.not_fields
            field_pairs = (
                (None, (key, value)) for key, value in event.items() if key not in not_fields
            )
        for prefix, ref in field_pairs:
            if prefix is None:
                key, value = ref
                prefix = self._field_prefix(key)
            else:
                value = context.get(ref.key) if ref.from_context else get(ref.key)
            kind = type(value)
            if kind is float:
                if value - value != 0.0:
                    continue
                text = repr(value)
            elif kind is int:
                text = repr(float(value)) if integers_as_float else f"{value}i"
            elif kind is str:
                text = (
                    f'"{value}"' if "\\" not in value and '"' not in value else quote_string(value)
                )
            elif isinstance(value, Mapping):
                separator = self._field_items(append, separator, value)
                continue
            else:
                try:
                    formatted = format_field(value, integers_as_float)
                except LineProtocolError as exc:
                    raise LineProtocolError(f"field {prefix[:-1]!r}: {exc}") from None
                if formatted is None:
                    continue
                text = formatted
            append(separator)
            append(prefix)
            append(text)
            separator = ","
        if separator == " ":
            raise LineProtocolError(
                "the event has no field to write (a point needs at least one; None, NaN and "
                "infinite values are left out)"
            )
        ref = self.time_ref
        stamp = None
        if ref is not None:
            when = context.get(ref.key) if ref.from_context else get(ref.key)
            if when is not None:
                try:
                    stamp = to_timestamp(when, self.unit_ns, self.precision_ns)
                except LineProtocolError as exc:
                    raise LineProtocolError(f"key {ref.text!r}: {exc}") from None
        if stamp is None:
            stamp = self.clock.now()
        append(" ")
        append(str(stamp))
        return "".join(parts)

    # -- the slower paths -------------------------------------------------------------------

    def _measurement(self, named: Any, ref: Reference) -> str:
        text = named if isinstance(named, str) else str(named)
        escaped = self._measurements.get(text)
        if escaped is None:
            try:
                escaped = escape_measurement(text)
            except LineProtocolError as exc:
                raise LineProtocolError(f"key {ref.text!r}: {exc}") from None
            if len(self._measurements) >= _CACHE_LIMIT:
                self._measurements.clear()
            self._measurements[text] = escaped
        return escaped

    def _tag_value(self, value: str, ref: Reference) -> str:
        try:
            escaped = escape_tag(value, "tag value")
        except LineProtocolError as exc:
            raise LineProtocolError(f"tag {ref.text!r}: {exc}") from None
        cache = self._tag_values
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[value] = escaped
        return escaped

    def _other_tags(self, append: Any, prefix: str, value: Any, ref: Reference) -> None:
        """A tag value that is not a str: a mapping gives several tags, others their text."""
        if isinstance(value, Mapping):
            for key, item in sorted(value.items(), key=lambda kv: str(kv[0])):
                if item is None or item == "":
                    continue
                append(f",{self._name(str(key), 'tag key')}=")
                append(self._tag_value(item if isinstance(item, str) else str(item), ref))
            return
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        if text:
            append(prefix)
            append(self._tag_value(text, ref))

    def _field_items(self, append: Any, separator: str, items: Mapping[str, Any]) -> str:
        """A mapping's items as fields; the separator the next field needs."""
        for key, value in items.items():
            try:
                text = format_field(value, self.integers_as_float)
            except LineProtocolError as exc:
                raise LineProtocolError(f"field {key!r}: {exc}") from None
            if text is None:
                continue
            append(separator)
            append(self._field_prefix(str(key)))
            append(text)
            separator = ","
        return separator

    def _field_prefix(self, key: str) -> str:
        prefix = self._names.get(key)
        if prefix is None:
            prefix = self._name(key, "field key") + "="
            self._names[key] = prefix
        return prefix

    def _name(self, key: str, what: str) -> str:
        if what == "field key":
            return escape_field_key(key)
        return escape_tag(key, what)


def bspump_line(event: tuple[Any, ...] | list[Any], precision_ns: int) -> str:
    """BSPump's tuple form (measurement, tag set, field set, time in seconds) as a line.

    The tag and field sets are line protocol already (`"tag1=a,tag2=b"`, `"field=12"`), as in
    BSPump's InfluxDBSink: `("collection", "tag1=a,tag2=b", "field=12", 1234567890)` becomes
    `collection,tag1=a,tag2=b field=12 1234567890000000000` at ns precision.
    """
    if len(event) != 4:
        raise LineProtocolError(
            f"a tuple event has {len(event)} items; BSPump's form is "
            "(measurement, tag set, field set, time in seconds)"
        )
    measurement, tag_set, field_set, seconds = event
    if not isinstance(field_set, str) or not field_set:
        raise LineProtocolError("the tuple's field set is empty or not text")
    key = escape_measurement(str(measurement))
    if tag_set:
        key = f"{key},{tag_set}"
    stamp = to_timestamp(seconds, NANOSECONDS["s"], precision_ns)
    return f"{key} {field_set} {stamp}"


def text_lines(event: str | bytes) -> str:
    """Ready-made line protocol (one line or several), without its final newline."""
    if isinstance(event, bytes | bytearray | memoryview):
        try:
            text = bytes(event).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LineProtocolError(f"the line is not UTF-8: {exc}") from None
    else:
        text = event
    text = text.strip("\n")
    if not text.strip():
        raise LineProtocolError("the line is empty")
    return text


def point_line(point: Any, precision: Precision, clock: Clock) -> str:
    """An influxdb_client Point as a line in the sink's precision (stamped now when timeless).

    A Point's integer time is in the Point's own write precision (the client's rule); it is
    scaled to the sink's precision.
    """
    line: str = point.to_line_protocol(precision=precision)
    if not line:
        raise LineProtocolError("the Point has no fields")
    when = getattr(point, "_time", None)
    if when is None:
        return f"{line} {clock.now()}"
    own = str(getattr(point, "write_precision", precision) or precision)
    if isinstance(when, int) and own != precision and own in NANOSECONDS:
        head, _sep, stamp = line.rpartition(" ")
        scaled = to_timestamp(int(stamp), NANOSECONDS[own], NANOSECONDS[precision])
        return f"{head} {scaled}"
    return line
