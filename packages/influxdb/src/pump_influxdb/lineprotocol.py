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
import functools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from operator import countOf
from typing import Any, Literal

import orjson

from pump_influxdb.errors import LineProtocolError

Precision = Literal["ns", "us", "ms", "s"]
#: Builds a batch's lines: (events, contexts, fallback) → (lines, failures by index).
BatchFunction = Callable[
    [Sequence[Any], Sequence[Mapping[str, Any]], Callable[[Any, Mapping[str, Any]], str]],
    tuple[list["str | None"], "dict[int, Exception] | None"],
]

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


def float_text(value: float) -> str:
    """A finite float (exactly a float) as written in a line: the shortest text that reads back
    as the same number, as orjson writes it (`1e-7`, `0.00001`; `repr` would write `1e-07`,
    `1e-05`; InfluxDB and VictoriaMetrics read both alike). orjson does it in about half the
    time of `repr`, and a whole column of floats in one call (`float_texts`)."""
    return orjson.dumps(value).decode()


def float_texts(values: list[Any]) -> list[str | None]:
    """`float_text` of each value that is a finite float; None for any other value.

    A column of nothing but finite floats (the common case) is written by one orjson call
    and split: most of the cost of a float field is its text, so this is where a batch of
    points saves most.
    """
    if values and countOf(map(type, values), float) == len(values):
        text = orjson.dumps(values)
        if b"n" not in text:  # no "null": nothing NaN or infinite
            return text.decode()[1:-1].split(",")  # type: ignore[return-value]
    return [float_text(v) if type(v) is float and v - v == 0.0 else None for v in values]


def int_texts(values: list[Any], multiply: int = 1, divide: int = 1) -> list[str | None]:
    """The decimal text of each value that is an int (not a bool), times `multiply` and
    floor-divided by `divide`; None for any other value (or one too long for `str`).

    A column of nothing but ints within 64 bits is written by one orjson call and split: it
    takes half the time of `str` per value (as an f-string formats an int).
    """
    if values and countOf(map(type, values), int) == len(values):
        if multiply != 1 or divide != 1:
            values = [v * multiply // divide for v in values]
            multiply = divide = 1
        try:
            return orjson.dumps(values).decode()[1:-1].split(",")  # type: ignore[return-value]
        except orjson.JSONEncodeError:  # beyond 64 bits: value by value
            pass
    return [_int_text(v, multiply, divide) for v in values]


def _int_text(value: Any, multiply: int, divide: int) -> str | None:
    if type(value) is not int:
        return None
    try:
        return str(value * multiply // divide)
    except ValueError:  # more digits than str() writes
        return None


def plain_strings(values: list[Any]) -> list[str | None]:
    """Each value that is a str with nothing to escape in a string field (no `"`, no `\\`);
    None for any other value. A column of such strings is checked in one pass."""
    if values and countOf(map(type, values), str) == len(values):
        joined = "".join(values)
        if '"' not in joined and "\\" not in joined:
            return values
    return [v if type(v) is str and '"' not in v and "\\" not in v else None for v in values]


def format_field(value: Any, integers_as_float: bool = False) -> str | None:
    """A field value as written in a line; None for a value that is skipped (None, NaN, ±inf)."""
    kind = type(value)
    if kind is float:
        return float_text(value) if value - value == 0.0 else None
    if kind is int:
        return float_text(float(value)) if integers_as_float else f"{value}i"
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
        return float_text(float(value)) if integers_as_float else f"{int(value)}i"
    if isinstance(value, float | Decimal):
        number = float(value)
        return float_text(number) if math.isfinite(number) else None
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

    `line(event, context)` is a function compiled for these settings: one statement per tag
    and field, the common value types (str tags, float/int/str/bool fields, int times)
    formatted in place, escaped tag values cached; anything else goes through the methods
    below. It runs once per event, so it is the sink's hot path.
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
        #: (",key=", reference) of each tag, sorted by key (InfluxDB's own order)
        self.tags = [(f",{escape_tag(n, 'tag key')}=", r) for n, r in tag_refs]
        #: (",key=", reference) of each field; None: every other key of the event
        self.fields = [(f",{escape_field_key(n)}=", r) for n, r in references(fields)] or None
        self.time_ref = Reference(time_key) if time_key else None
        self.unit_ns = NANOSECONDS[time_unit]
        self.precision_ns = NANOSECONDS[precision]
        self.integers_as_float = integers == "float"
        self.clock = Clock(self.precision_ns)
        used = [r for r in (self.measurement_ref, self.time_ref) if r is not None]
        used += [r for _n, r in tag_refs]
        #: Event keys that are not fields when every other key is one.
        self.not_fields = frozenset(r.key for r in used if not r.from_context)
        #: Per tag: raw value → ",key=escaped value".
        self._tag_caches: list[dict[Any, str]] = [{} for _ in self.tags]
        #: Per tuple of tag values (the value itself for one tag): the static measurement
        #: and the whole tag set, as the batch functions write them (see `_tag_set`).
        self._tag_sets: dict[Any, str] = {}
        self._field_prefixes: dict[str, str] = {}
        self._measurements: dict[str, str] = {}
        self.line: Callable[[Mapping[str, Any], Mapping[str, Any]], str] = self._compile()
        #: Batch functions by the value types they expect (see `lines`).
        self._batch_functions: dict[tuple[type, ...], BatchFunction | None] = {}

    def _refs(self) -> list[Reference]:
        """The references of every setting: measurement, tags, fields, time."""
        refs = [r for r in (self.measurement_ref, self.time_ref) if r is not None]
        return refs + [r for _p, r in self.tags] + [r for _p, r in self.fields or ()]

    # -- a batch ------------------------------------------------------------------------------

    def lines(
        self,
        events: Sequence[Any],
        contexts: Sequence[Mapping[str, Any]],
        fallback: Callable[[Any, Mapping[str, Any]], str],
    ) -> tuple[list[str | None], dict[int, Exception] | None]:
        """The lines of a batch (None where an event failed) and the failures by index.

        Events are mostly alike, so the batch is built by a function compiled for the value
        types of its first event (a float `usage`, an int `count`, ...): float, int, str fields
        and int times checked and written a column at a time, then per event one lookup of
        the whole tag set and one f-string. An event that does not fit (another type, a
        missing key, not a dict) goes to `fallback(event, context)`, which builds it the slow
        way or raises.
        """
        function = self._batch_function(events[0]) if events else None
        if function is not None:
            return function(events, contexts, fallback)
        out: list[str | None] = []
        failures: dict[int, Exception] | None = None
        for i, event in enumerate(events):
            try:
                out.append(fallback(event, contexts[i]))
            except Exception as exc:
                if failures is None:
                    failures = {}
                failures[i] = exc
                out.append(None)
        return out, failures

    def _batch_function(self, sample: Any) -> BatchFunction | None:
        if type(sample) is not dict or self.fields is None:
            return None
        refs = [ref for _p, ref in self.fields]
        if self.time_ref is not None:
            refs.append(self.time_ref)
        try:
            signature = tuple(type(sample[r.key]) for r in refs if not r.from_context)
        except KeyError:
            signature = ()
        if not signature or signature in self._batch_functions:
            return self._batch_functions.get(signature)
        if len(self._batch_functions) >= 64:  # events of ever new kinds: stop learning
            return None
        function = self._compile_batch(signature)
        self._batch_functions[signature] = function
        return function

    def _compile_batch(self, signature: tuple[type, ...]) -> BatchFunction | None:
        """The batch function for events whose field (and time) values have these types.

        Its line is one f-string of the batch's values and constant texts (escaped names, as
        repr() literals: their text never becomes code). Float, int and str fields and int
        times come as texts made for the whole batch (`float_texts`, `int_texts`,
        `plain_strings`); the measurement and tag set as one text cached per tuple of tag
        values (`_tag_set`). The batch goes through a list comprehension; an
        event it cannot take (a missing key, not a mapping, a tag that cannot be written)
        stops it, and that batch and the next few go event by event instead, each event
        that does not fit to `fallback`.
        """
        types = iter(signature)
        names: dict[str, Any] = {
            "tag_set": self._tag_set,
            "measurement_of": self._measurement_of,
            "now": self.clock.now,
            "FLOAT_TEXTS": float_texts,
            "INT_TEXTS": int_texts,
            "PLAIN_STRINGS": plain_strings,
            "FLOAT_TEXT": float_text,
            "column_value": _column_value,
            "MEASUREMENTS": self._measurements,
            # batches left to go event by event, and how many after the last stop
            "SKIP": [0, 0],
        }

        def fetch(ref: Reference) -> str:
            return f"c[{ref.key!r}]" if ref.from_context else f"e[{ref.key!r}]"

        columns: list[tuple[str, str, str]] = []  # (name, key, function): float, str fields
        loads: list[tuple[str, str]] = []  # (name, expression) per event
        checks: list[str] = []
        pieces: list[tuple[bool, str]] = []  # (is code, text) of the line
        if self.measurement_ref is not None:
            loads.append(("m", fetch(self.measurement_ref)))
            pieces.append((True, "MEASUREMENTS.get(m) or measurement_of(m)"))
        elif not self.measurement:
            return None  # no measurement: the per-event function says so
        elif not self.tags:
            pieces.append((False, self.measurement))
        tag_key = ""
        if self.tags:
            # the tag set is looked up whole (with a static measurement), by the tuple of the
            # tag values read where they are used (binding them to names costs more)
            for n, (_prefix, ref) in enumerate(self.tags):
                names[f"TAG{n}"] = ref.key
            tag_key = ", ".join(
                f"{'c' if ref.from_context else 'e'}[TAG{n}]"
                for n, (_prefix, ref) in enumerate(self.tags)
            )
            if len(self.tags) > 1:
                tag_key = f"({tag_key})"
            names["TAGSETS"] = self._tag_sets
            pieces.append((True, f"TAGSETS.get({tag_key}) or tag_set({tag_key})"))
        pieces.append((False, " "))
        assert self.fields is not None
        for n, (prefix, ref) in enumerate(self.fields):
            if ref.from_context:
                return None  # context fields: the per-event function
            kind = next(types)
            value = f"f{n}"
            pieces.append((False, prefix[1:] if n == 0 else prefix))
            if kind is float:
                columns.append((value, ref.key, "FLOAT_TEXTS"))
                checks.append(f"{value} is not None")
                pieces.append((True, value))
                continue
            if kind is str:
                columns.append((value, ref.key, "PLAIN_STRINGS"))
                checks.append(f"{value} is not None")
                pieces += [(False, '"'), (True, value), (False, '"')]
                continue
            if kind is int and not self.integers_as_float:
                columns.append((value, ref.key, "INT_TEXTS"))
                checks.append(f"{value} is not None")
                pieces += [(True, value), (False, "i")]
                continue
            loads.append((value, fetch(ref)))
            if kind is int:
                checks.append(f"type({value}) is int")
                pieces.append((True, f"FLOAT_TEXT(float({value}))"))
            elif kind is bool:
                checks.append(f"type({value}) is bool")
                pieces.append((True, f"'true' if {value} else 'false'"))
            else:
                return None  # None, mappings, other numbers: the per-event function
        pieces.append((False, " "))
        if self.time_ref is not None and not self.time_ref.from_context:
            if next(types) is not int:
                return None
            names["TIME_TEXTS"] = functools.partial(
                int_texts,
                multiply=max(self.unit_ns // self.precision_ns, 1),
                divide=max(self.precision_ns // self.unit_ns, 1),
            )
            columns.append(("s", self.time_ref.key, "TIME_TEXTS"))
            checks.append("s is not None")
            pieces.append((True, "s"))
        elif self.time_ref is not None:
            return None
        else:
            pieces.append((True, "now()"))
        line = " ".join(f'f"{{{text}}}"' if code else repr(text) for code, text in pieces if text)
        # the comprehension takes cached names and tags only: one missing stops it, the event
        # by event loop caches it
        cached = line.replace("MEASUREMENTS.get(m) or measurement_of(m)", "MEASUREMENTS[m]")
        cached = cached.replace(
            f"TAGSETS.get({tag_key}) or tag_set({tag_key})", f"TAGSETS[{tag_key}]"
        )
        condition = " and ".join(checks) or "True"
        names.update({f"K{name}": key for name, key, _maker in columns})
        prepare = []
        for name, _key, maker in columns:  # None where a value does not fit
            prepare += [
                "    try:",
                f"        {name.upper()} = {maker}([e[K{name}] for e in events])",
                "    except Exception:  # a key missing, an event not a mapping",
                f"        {name.upper()} = {maker}([column_value(e, K{name}) for e in events])",
            ]
        each = ", ".join(["e", "c", *(column[0] for column in columns)])
        zipped = ", ".join(["events", "contexts", *(column[0].upper() for column in columns)])
        if not any(ref.from_context for ref in self._refs()):  # the comprehension needs no c
            each_event = each.replace("e, c", "e", 1)
            events_zipped = zipped.replace("events, contexts", "events", 1)
        else:
            each_event, events_zipped = each, zipped
        body = [
            "def lines(events, contexts, fallback):",
            *prepare,
            "    if SKIP[0]:",
            "        SKIP[0] -= 1",
            "    else:",
            "        odd = []",
            "        try:",
            "            out = [",
            f"                {cached}",
            f"                if {condition}",
            "                else odd.append(0)",
            f"                for {each_event} in zip({events_zipped})",
            *[f"                for {name} in [{load}]" for name, load in loads],
            "            ]",
            "        except Exception:  # this batch and the next 1, 2, 4 ... 16 event by event",
            "            SKIP[1] = min(2 * SKIP[1] or 1, 16)",
            "            SKIP[0] = SKIP[1] - 1",
            "        else:",
            "            SKIP[1] = 0",
            "            if not odd:",
            "                return out, None",
            "            return complete(out, events, contexts, fallback)",
            "    out = []",
            "    append = out.append",
            "    failures = None",
            f"    for {each} in zip({zipped}):",
            "        try:",
            *[f"            {name} = {load}" for name, load in loads],
            f"            if {condition}:",
            f"                append({line})",
            "                continue",
            "        except Exception:",
            "            pass",
            "        try:",
            "            append(fallback(e, c))",
            "        except Exception as exc:",
            "            if failures is None:",
            "                failures = {}",
            "            failures[len(out)] = exc",
            "            append(None)",
            "    return out, failures",
        ]
        names["complete"] = _complete
        exec(
            compile("\n".join(body), f"<lines of {self!r}>", "exec"), names
        )  # generated from names, keys and texts as repr()
        function: BatchFunction = names["lines"]
        return function

    # -- the compiled function ------------------------------------------------------------------

    def _compile(self) -> Callable[[Mapping[str, Any], Mapping[str, Any]], str]:
        names: dict[str, Any] = {
            "tag_value": self._tag_value,
            "field_value": self._field_value,
            "other_fields": self._other_fields,
            "measurement_of": self._measurement_of,
            "time_of": self._time_of,
            "no_fields": _no_fields,
            "float_text": float_text,
            "MEASUREMENT": self.measurement,
        }

        def fetch(ref: Reference) -> str:
            return f"{'cget' if ref.from_context else 'get'}({ref.key!r})"

        body = ["def line(event, context):", "    get = event.get", "    cget = context.get"]
        if self.measurement_ref is not None:
            body.append(f"    m = measurement_of({fetch(self.measurement_ref)})")
        else:
            body.append("    m = MEASUREMENT or measurement_of(None)")
        parts = ["{m}"]
        for n, (_prefix, ref) in enumerate(self.tags):
            names[f"TAGS{n}"] = self._tag_caches[n]
            body += [
                f"    v = {fetch(ref)}",
                f"    t{n} = TAGS{n}.get(v) if v.__class__ is str else None",
                f"    if t{n} is None:",
                f"        t{n} = tag_value({n}, v)",
            ]
            parts.append(f"{{t{n}}}")
        if self.fields is None:
            body.append("    fields = other_fields(event)")
        else:
            for n, (prefix, ref) in enumerate(self.fields):
                names[f"F{n}"] = prefix
                integer = (
                    f"{{F{n}}}{{float_text(float(v))}}"
                    if self.integers_as_float
                    else f"{{F{n}}}{{v}}i"
                )
                body += [
                    f"    v = {fetch(ref)}",
                    "    c = v.__class__",
                    "    if c is float and v - v == 0.0:",
                    f'        f{n} = f"{{F{n}}}{{float_text(v)}}"',
                    "    elif c is int:",
                    f'        f{n} = f"{integer}"',
                    "    elif c is str and '\"' not in v and '\\\\' not in v:",
                    f"        f{n} = f'{{F{n}}}\"{{v}}\"'",
                    "    else:",
                    f"        f{n} = field_value(F{n}, v)",
                ]
            joined = "".join(f"{{f{n}}}" for n in range(len(self.fields)))
            body.append(f'    fields = f"{joined}"')
        body += ["    if not fields:", "        no_fields()"]
        if self.time_ref is not None:
            body.append(f"    v = {fetch(self.time_ref)}")
            body.append("    if v.__class__ is int:")
            if self.unit_ns == self.precision_ns:
                body.append("        stamp = v")
            elif self.unit_ns > self.precision_ns:
                body.append(f"        stamp = v * {self.unit_ns // self.precision_ns}")
            else:
                body.append(f"        stamp = v // {self.precision_ns // self.unit_ns}")
            body += ["    else:", "        stamp = time_of(v)"]
        else:
            body.append("    stamp = time_of(None)")
        body.append(f'    return f"{"".join(parts)} {{fields[1:]}} {{stamp}}"')
        exec(
            compile("\n".join(body), f"<line of {self!r}>", "exec"), names
        )  # generated from names, keys as repr()
        function: Callable[[Mapping[str, Any], Mapping[str, Any]], str] = names["line"]
        return function

    # -- what the compiled function hands over -------------------------------------------------

    def _measurement_of(self, named: Any) -> str:
        """The escaped measurement an event names (or the static one)."""
        if named is None or named == "":
            if self.measurement:
                return self.measurement
            raise LineProtocolError(
                "the event names no measurement: set `measurement`, or `measurement_key` "
                "to the key that holds it"
            )
        text = named if isinstance(named, str) else str(named)
        escaped = self._measurements.get(text)
        if escaped is None:
            try:
                escaped = escape_measurement(text)
            except LineProtocolError as exc:
                assert self.measurement_ref is not None
                raise LineProtocolError(f"key {self.measurement_ref.text!r}: {exc}") from None
            if len(self._measurements) >= _CACHE_LIMIT:
                self._measurements.clear()
            self._measurements[text] = escaped
        return escaped

    def _tag_set(self, key: Any) -> str:
        """The static measurement and the tag set of a batch function's key: the tuple of the
        tag values (the value itself for one tag). Cached only for str values and None:
        1, 1.0 and True are one key of a dict."""
        values = key if len(self.tags) > 1 else (key,)
        text = self.measurement if self.measurement_ref is None else ""
        text += "".join([self._tag_value(n, value) for n, value in enumerate(values)])
        if all(value is None or type(value) is str for value in values):
            if len(self._tag_sets) >= _CACHE_LIMIT:
                self._tag_sets.clear()
            self._tag_sets[key] = text
        return text

    def _tag_value(self, n: int, value: Any) -> str:
        """ ",key=value" of tag `n` (a mapping: of each of its items; nothing: "")."""
        prefix, ref = self.tags[n]
        if value is None or value == "":
            if value is None or type(value) is str:
                self._tag_caches[n][value] = ""  # no tag: the batch comprehension finds it
            return ""
        if isinstance(value, Mapping):
            items = sorted(value.items(), key=lambda kv: str(kv[0]))
            return "".join(
                f",{escape_tag(str(k), 'tag key')}={self._escape_tag_value(v, ref)}"
                for k, v in items
                if v is not None and v != ""
            )
        if type(value) is not str:  # 1, 1.0 and True are one key of a dict: never cached
            return prefix + self._escape_tag_value(value, ref)
        cache = self._tag_caches[n]
        pair = cache.get(value)
        if pair is None:
            pair = prefix + self._escape_tag_value(value, ref)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[value] = pair
        return pair

    @staticmethod
    def _escape_tag_value(value: Any, ref: Reference) -> str:
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = value if isinstance(value, str) else str(value)
        try:
            return escape_tag(text, "tag value")
        except LineProtocolError as exc:
            raise LineProtocolError(f"tag {ref.text!r}: {exc}") from None

    def _field_value(self, prefix: str, value: Any) -> str:
        """ ",key=value" of a field whose value is not a plain str, int or float."""
        if isinstance(value, Mapping):
            return self._items_as_fields(value)
        try:
            text = format_field(value, self.integers_as_float)
        except LineProtocolError as exc:
            raise LineProtocolError(f"field {prefix[1:-1]!r}: {exc}") from None
        return "" if text is None else prefix + text

    def _other_fields(self, event: Mapping[str, Any]) -> str:
        """Every key of the event not used otherwise, as fields."""
        not_fields = self.not_fields
        return self._items_as_fields(
            {key: value for key, value in event.items() if key not in not_fields}
        )

    def _items_as_fields(self, items: Mapping[Any, Any]) -> str:
        out = []
        for key, value in items.items():
            try:
                text = format_field(value, self.integers_as_float)
            except LineProtocolError as exc:
                raise LineProtocolError(f"field {key!r}: {exc}") from None
            if text is None:
                continue
            name = key if type(key) is str else str(key)
            prefix = self._field_prefixes.get(name)
            if prefix is None:
                prefix = f",{escape_field_key(name)}="
                if len(self._field_prefixes) < _CACHE_LIMIT:
                    self._field_prefixes[name] = prefix
            out.append(prefix + text)
        return "".join(out)

    def _time_of(self, value: Any) -> int:
        """The timestamp of an event's time (None: the time of writing)."""
        if value is None:
            return self.clock.now()
        try:
            return to_timestamp(value, self.unit_ns, self.precision_ns)
        except LineProtocolError as exc:
            assert self.time_ref is not None
            raise LineProtocolError(f"key {self.time_ref.text!r}: {exc}") from None


def _complete(
    out: list[str | None],
    events: Sequence[Any],
    contexts: Sequence[Mapping[str, Any]],
    fallback: Callable[[Any, Mapping[str, Any]], str],
) -> tuple[list[str | None], dict[int, Exception] | None]:
    """`out` with the lines a batch function left out (None) made by `fallback`."""
    failures: dict[int, Exception] | None = None
    for i, line in enumerate(out):
        if line is None:
            try:
                out[i] = fallback(events[i], contexts[i])
            except Exception as exc:
                if failures is None:
                    failures = {}
                failures[i] = exc
    return out, failures


def _column_value(event: Any, key: str) -> Any:
    """`event[key]`, or None where the event is no mapping or lacks the key."""
    try:
        return event[key]
    except Exception:
        return None


def _no_fields() -> None:
    raise LineProtocolError(
        "the event has no field to write (a point needs at least one; None, NaN and "
        "infinite values are left out)"
    )


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
