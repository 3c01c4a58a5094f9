"""Query matching, sorting and aggregations of the test server (the part of the DSL it speaks).

Queries follow the Query DSL reference
(https://www.elastic.co/guide/en/elasticsearch/reference/current/query-dsl.html): `match_all`,
`term`, `terms`, `ids`, `exists`, `range`, `match` (on whole values and words) and `bool`
(`must`, `filter`, `should`, `must_not`, `minimum_should_match`). Sorting follows
https://www.elastic.co/guide/en/elasticsearch/reference/current/sort-search-results.html
(missing values last; dates sort by epoch milliseconds). Aggregations: `terms`,
`date_histogram`, `composite` (terms and date_histogram sources, `after`) and the metrics
`avg`, `sum`, `min`, `max`, `value_count`, `cardinality`
(https://www.elastic.co/guide/en/elasticsearch/reference/current/search-aggregations.html).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pump_elastic.testing.mapping import format_date, parse_date


class QueryError(Exception):
    """A request the test server cannot answer: `type` and `reason` as the cluster says."""

    def __init__(self, reason: str, type: str = "parsing_exception", status: int = 400) -> None:
        super().__init__(reason)
        self.type = type
        self.reason = reason
        self.status = status


Doc = tuple[str, str, dict[str, Any], int]  # index, id, source, shard_doc


def field_values(source: dict[str, Any], path: str) -> list[Any]:
    """Values of a dotted field path (lists flattened); `.keyword` sub-fields read the field."""
    path = path.removesuffix(".keyword")
    nodes: list[Any] = [source]
    for part in path.split("."):
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, dict) and part in node:
                value = node[part]
                if isinstance(value, list):
                    found.extend(value)
                else:
                    found.append(value)
        nodes = found
        if not nodes:
            return []
    return [n for n in nodes if n is not None]


def _comparable(value: Any, is_date: bool) -> Any:
    if is_date:
        parsed = parse_date(value)
        return parsed if parsed is not None else value
    if isinstance(value, bool):
        return int(value)
    return value


def _equal(a: Any, b: Any, is_date: bool) -> bool:
    if is_date:
        return parse_date(a) == parse_date(b)
    if isinstance(a, int | float) and isinstance(b, str):
        try:
            return float(b) == a
        except ValueError:
            return False
    return bool(a == b) or (isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower())


def compile_query(query: dict[str, Any] | None, types: dict[str, str]) -> Callable[[Doc], bool]:
    """A predicate for one query clause."""
    if not query:
        return lambda doc: True
    if len(query) != 1:
        raise QueryError(f"[_na] query malformed, must start with start_object: {sorted(query)}")
    ((kind, spec),) = query.items()
    if kind == "match_all":
        return lambda doc: True
    if kind == "match_none":
        return lambda doc: False
    if kind == "bool":
        return _bool(spec, types)
    if kind == "ids":
        wanted = set(spec.get("values", []))
        return lambda doc: doc[1] in wanted
    if kind == "exists":
        field = spec["field"]
        return lambda doc: bool(field_values(doc[2], field))
    if not isinstance(spec, dict) or len(spec) != 1:
        raise QueryError(f"[{kind}] query malformed: {spec!r}")
    ((field, arg),) = spec.items()
    is_date = types.get(field.removesuffix(".keyword")) == "date"
    if kind == "term":
        value = arg["value"] if isinstance(arg, dict) else arg
        return lambda doc: any(_equal(v, value, is_date) for v in field_values(doc[2], field))
    if kind == "terms":
        if not isinstance(arg, list):
            raise QueryError(f"[terms] query does not support [{field}] as {type(arg).__name__}")
        return lambda doc: any(
            _equal(v, w, is_date) for v in field_values(doc[2], field) for w in arg
        )
    if kind == "match":
        text = arg["query"] if isinstance(arg, dict) else arg
        return lambda doc: any(_matches(v, text, is_date) for v in field_values(doc[2], field))
    if kind == "range":
        return _range(field, arg, is_date)
    raise QueryError(f"unknown query [{kind}]", "parsing_exception")


def _matches(value: Any, text: Any, is_date: bool) -> bool:
    if _equal(value, text, is_date):
        return True
    if isinstance(value, str) and isinstance(text, str):
        words = set(value.lower().split())
        return any(word in words for word in text.lower().split())
    return False


def _bool(spec: dict[str, Any], types: dict[str, str]) -> Callable[[Doc], bool]:
    def clauses(key: str) -> list[Callable[[Doc], bool]]:
        value = spec.get(key, [])
        items = value if isinstance(value, list) else [value]
        return [compile_query(item, types) for item in items]

    must = clauses("must") + clauses("filter")
    should = clauses("should")
    must_not = clauses("must_not")
    minimum = int(spec.get("minimum_should_match", 0 if must else 1 if should else 0))

    def match(doc: Doc) -> bool:
        if not all(m(doc) for m in must) or any(m(doc) for m in must_not):
            return False
        return not minimum or sum(1 for m in should if m(doc)) >= minimum

    return match


def _range(field: str, spec: dict[str, Any], is_date: bool) -> Callable[[Doc], bool]:
    bounds = []
    for op in ("gt", "gte", "lt", "lte"):
        if op in spec:
            bound = spec[op]
            if is_date:
                bound = _date_math(bound)
            bounds.append((op, bound))

    def within(value: Any) -> bool:
        v = _comparable(value, is_date)
        try:
            for op, bound in bounds:
                if op == "gt" and not v > bound:
                    return False
                if op == "gte" and not v >= bound:
                    return False
                if op == "lt" and not v < bound:
                    return False
                if op == "lte" and not v <= bound:
                    return False
        except TypeError:
            return False
        return True

    return lambda doc: any(within(v) for v in field_values(doc[2], field))


def _date_math(value: Any) -> Any:
    if value == "now":
        return int(datetime.now(UTC).timestamp() * 1000)
    parsed = parse_date(value)
    if parsed is None:
        raise QueryError(f"failed to parse date field [{value}]", "parse_exception")
    return parsed


# -- sorting --------------------------------------------------------------------------------


class SortSpec:
    """A parsed `sort`: (field, descending) pairs; `_shard_doc`/`_doc` sort by index order."""

    def __init__(self, sort: Any, types: dict[str, str]) -> None:
        items = sort if isinstance(sort, list) else [sort] if sort else []
        self.fields: list[tuple[str, bool]] = []
        for item in items:
            if isinstance(item, str):
                self.fields.append((item, item == "_score"))
            elif isinstance(item, dict) and len(item) == 1:
                ((field, how),) = item.items()
                order = how.get("order", "asc") if isinstance(how, dict) else how
                if order not in ("asc", "desc"):
                    raise QueryError(f"[sort] unknown order [{order}]")
                self.fields.append((field, order == "desc"))
            else:
                raise QueryError(f"[sort] malformed: {item!r}")
        self.types = types

    def add_tiebreaker(self) -> None:
        """Point-in-time searches add `_shard_doc` unless the sort has it (PIT docs)."""
        if not any(f in ("_shard_doc", "_doc") for f, _ in self.fields):
            self.fields.append(("_shard_doc", False))

    def values(self, doc: Doc) -> list[Any]:
        """The hit's `sort` array."""
        out: list[Any] = []
        for field, desc in self.fields:
            if field in ("_shard_doc", "_doc"):
                out.append(doc[3])
            elif field == "_score":
                out.append(1.0)
            elif field == "_id":
                out.append(doc[1])
            else:
                found = field_values(doc[2], field)
                if not found:
                    out.append(None)
                    continue
                is_date = self.types.get(field.removesuffix(".keyword")) == "date"
                values = [_comparable(v, is_date) for v in found]
                try:
                    out.append(max(values) if desc else min(values))
                except TypeError:
                    out.append(values[0])
        return out

    def compare(self, a: list[Any], b: list[Any]) -> int:
        """Order of two sort arrays; missing values last in either direction."""
        for (_field, desc), x, y in zip(self.fields, a, b, strict=False):
            if x == y:
                continue
            if x is None:
                return 1
            if y is None:
                return -1
            try:
                less = x < y
            except TypeError:
                less = str(x) < str(y)
            result = -1 if less else 1
            return -result if desc else result
        return 0

    def key(self) -> Callable[[list[Any]], Any]:
        """A sort key for sort arrays."""
        return functools.cmp_to_key(self.compare)


# -- aggregations ---------------------------------------------------------------------------

BUCKET_AGGS = ("terms", "date_histogram", "composite")
METRIC_AGGS = ("avg", "sum", "min", "max", "value_count", "cardinality")

CALENDAR = {
    "minute": 60_000,
    "1m": 60_000,
    "hour": 3_600_000,
    "1h": 3_600_000,
    "day": 86_400_000,
    "1d": 86_400_000,
    "week": 604_800_000,
    "1w": 604_800_000,
}
UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def aggregate(aggs: dict[str, Any], docs: list[Doc], types: dict[str, str]) -> dict[str, Any]:
    """The `aggregations` of a response over `docs`."""
    out: dict[str, Any] = {}
    for name, spec in aggs.items():
        sub = spec.get("aggs") or spec.get("aggregations") or {}
        kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
        if len(kinds) != 1:
            raise QueryError(f"Expected exactly one aggregation type for [{name}], got {kinds}")
        kind = kinds[0]
        body = spec[kind]
        if kind == "terms":
            out[name] = _terms(body, sub, docs, types)
        elif kind == "date_histogram":
            out[name] = _date_histogram(body, sub, docs, types)
        elif kind == "composite":
            out[name] = _composite(body, sub, docs, types)
        elif kind in METRIC_AGGS:
            out[name] = {"value": _metric(kind, body["field"], docs, types)}
        else:
            raise QueryError(
                f"Unknown aggregation type [{kind}] did you mean [terms]?",
                "x_content_parse_exception",
            )
    return out


def _metric(kind: str, field: str, docs: list[Doc], types: dict[str, str]) -> Any:
    is_date = types.get(field) == "date"
    values = [_comparable(v, is_date) for d in docs for v in field_values(d[2], field)]
    if kind == "value_count":
        return len(values)
    if kind == "cardinality":
        return len({repr(v) for v in values})
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    if kind == "sum":
        return sum(numbers)
    if not numbers:
        return None
    if kind == "avg":
        return sum(numbers) / len(numbers)
    return min(numbers) if kind == "min" else max(numbers)


def _group(docs: Iterable[Doc], key: Callable[[Doc], list[Any]]) -> dict[Any, list[Doc]]:
    groups: dict[Any, list[Doc]] = {}
    for doc in docs:
        for k in key(doc):
            groups.setdefault(k, []).append(doc)
    return groups


def _bucket(
    key: Any, members: list[Doc], sub: dict[str, Any], types: dict[str, str]
) -> dict[str, Any]:
    bucket: dict[str, Any] = {"key": key, "doc_count": len(members)}
    bucket.update(aggregate(sub, members, types))
    return bucket


def _terms(
    body: dict[str, Any], sub: dict[str, Any], docs: list[Doc], types: dict[str, str]
) -> Any:
    field = body["field"]
    size = int(body.get("size", 10))
    groups = _group(
        docs, lambda d: list(dict.fromkeys(_hashable(v) for v in field_values(d[2], field)))
    )
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), _order_key(kv[0])))
    shown = ordered[:size]
    return {
        "doc_count_error_upper_bound": 0,
        "sum_other_doc_count": sum(len(m) for _, m in ordered[size:]),
        "buckets": [_bucket(k, m, sub, types) for k, m in shown],
    }


def _terms_keys(field: str) -> Callable[[Doc], list[Any]]:
    def keys(doc: Doc) -> list[Any]:
        return [_hashable(v) for v in field_values(doc[2], field)]

    return keys


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, dict | list) else repr(value)


def _order_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


def _interval(body: dict[str, Any]) -> int:
    spec = body.get("calendar_interval") or body.get("fixed_interval") or body.get("interval")
    if spec is None:
        raise QueryError(
            "Required one of fields [fixed_interval, calendar_interval], but none were specified."
        )
    if spec in CALENDAR:
        return CALENDAR[spec]
    number, unit = spec[:-1], spec[-1]
    if unit not in UNITS or not number.isdigit():
        raise QueryError(
            f"failed to parse setting [date_histogram.fixedInterval] with value [{spec}]",
            "illegal_argument_exception",
        )
    return int(number) * UNITS[unit]


def _date_keys(field: str, interval: int) -> Callable[[Doc], list[Any]]:
    def keys(doc: Doc) -> list[Any]:
        out = []
        for value in field_values(doc[2], field):
            millis = parse_date(value)
            if millis is not None:
                out.append(millis - millis % interval)
        return list(dict.fromkeys(out))

    return keys


def _date_histogram(
    body: dict[str, Any], sub: dict[str, Any], docs: list[Doc], types: dict[str, str]
) -> Any:
    interval = _interval(body)
    groups = _group(docs, _date_keys(body["field"], interval))
    minimum = int(body.get("min_doc_count", 0))
    buckets = []
    if groups:
        # min_doc_count 0 (the default) fills the empty buckets between the first and the last
        first, last = min(groups), max(groups)
        for key in range(first, last + 1, interval):
            members = groups.get(key, [])
            if len(members) >= max(minimum, 1 if minimum else 0):
                bucket = _bucket(key, members, sub, types)
                bucket["key_as_string"] = format_date(key)
                buckets.append(
                    dict(sorted(bucket.items(), key=lambda kv: kv[0] != "key_as_string"))
                )
    return {"buckets": buckets}


def _composite(
    body: dict[str, Any], sub: dict[str, Any], docs: list[Doc], types: dict[str, str]
) -> Any:
    sources = body.get("sources") or []
    size = int(body.get("size", 10))
    extractors: list[tuple[str, Callable[[Doc], list[Any]], bool]] = []
    for source in sources:
        ((name, spec),) = source.items()
        ((kind, options),) = spec.items()
        desc = options.get("order", "asc") == "desc"
        if kind == "terms":
            extractors.append((name, _terms_keys(options["field"]), desc))
        elif kind == "date_histogram":
            extractors.append((name, _date_keys(options["field"], _interval(options)), desc))
        else:
            raise QueryError(f"Invalid source type: {kind}", "x_content_parse_exception")
    groups: dict[tuple[Any, ...], list[Doc]] = {}
    for doc in docs:
        combos: list[tuple[Any, ...]] = [()]
        for _name, extract, _desc in extractors:
            values = list(dict.fromkeys(extract(doc)))
            combos = [(*c, v) for c in combos for v in values]
        for combo in combos:
            groups.setdefault(combo, []).append(doc)

    def compare(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
        for (_n, _e, desc), x, y in zip(extractors, a, b, strict=True):
            if x != y:
                result = -1 if _order_key(x) < _order_key(y) else 1
                return -result if desc else result
        return 0

    ordered = sorted(groups, key=functools.cmp_to_key(compare))
    after = body.get("after")
    if after is not None:
        marker = tuple(after.get(name) for name, _e, _d in extractors)
        ordered = [k for k in ordered if compare(k, marker) > 0]
    page = ordered[:size]
    names = [name for name, _e, _d in extractors]
    buckets = [_bucket(dict(zip(names, k, strict=True)), groups[k], sub, types) for k in page]
    out: dict[str, Any] = {}
    if buckets:
        out["after_key"] = buckets[-1]["key"]
    out["buckets"] = buckets
    return out
