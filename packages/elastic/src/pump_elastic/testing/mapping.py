"""Field types of a test index: dynamic mapping and the parse errors a real cluster returns.

Follows the documented dynamic field mapping rules
(https://www.elastic.co/guide/en/elasticsearch/reference/current/dynamic-field-mapping.html):
JSON booleans map to `boolean`, integers to `long`, other numbers to `float`, strings that
parse as ISO 8601 dates to `date` (date detection), other strings to `text` with a `keyword`
sub-field, objects to `object`. Numeric fields coerce numeric strings
(https://www.elastic.co/guide/en/elasticsearch/reference/current/coerce.html); a value that
cannot be parsed fails the document with `document_parsing_exception`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

#: Metadata fields a document source must not contain
#: (https://www.elastic.co/guide/en/elasticsearch/reference/current/mapping-fields.html).
METADATA_FIELDS = frozenset({"_id", "_index", "_source", "_routing", "_seq_no", "_version"})

NUMERIC = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float"})
INTEGRAL = frozenset({"long", "integer", "short", "byte"})


class MappingError(Exception):
    """A document does not fit the index's mapping: `type` and `reason` as the cluster says."""

    def __init__(self, type: str, reason: str) -> None:
        super().__init__(reason)
        self.type = type
        self.reason = reason


def parse_date(value: Any) -> int | None:
    """Epoch milliseconds of a date value (`strict_date_optional_time||epoch_millis`), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    return None


def format_date(millis: int) -> str:
    """ISO 8601 with milliseconds and `Z`, as the cluster formats date keys."""
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def _dynamic_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        if len(value) >= 10 and value[4:5] == "-" and parse_date(value) is not None:
            return "date"
        return "text"
    if isinstance(value, dict):
        return "object"
    return None


class Mapping:
    """Field path → type of one index, grown by dynamic mapping as documents arrive."""

    def __init__(self, properties: dict[str, Any] | None = None) -> None:
        self.types: dict[str, str] = {}
        # (path, Python type) pairs that fit whatever the value (a str into a text field, ...)
        self._fits_always: set[tuple[str, type]] = set()
        if properties:
            self._load(properties, "")

    def _load(self, properties: dict[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = prefix + name
            if "properties" in spec:
                self.types[path] = "object"
                self._load(spec["properties"], path + ".")
            else:
                self.types[path] = str(spec.get("type", "object"))

    def as_properties(self) -> dict[str, Any]:
        """The mapping in the `properties` form of the get-mapping API."""
        root: dict[str, Any] = {}
        for path, kind in sorted(self.types.items()):
            node = root
            parts = path.split(".")
            for part in parts[:-1]:
                node = node.setdefault(part, {"properties": {}})["properties"]
            if kind == "object":
                node.setdefault(parts[-1], {"properties": {}})
            else:
                node[parts[-1]] = {"type": kind}
        return root

    def check(self, source: dict[str, Any], doc_id: str) -> None:
        """Raise MappingError when `source` does not fit; map new fields dynamically."""
        for name in source:
            if name in METADATA_FIELDS:
                raise MappingError(
                    "document_parsing_exception",
                    f"[1:2] Field [{name}] is a metadata field and cannot be added inside a "
                    "document. Use the index API request parameters.",
                )
        new: dict[str, str] = {}
        self._check(source, "", doc_id, new)
        self.types.update(new)

    def _check(self, source: dict[str, Any], prefix: str, doc_id: str, new: dict[str, str]) -> None:
        types = self.types
        always = self._fits_always
        for name, value in source.items():
            path = prefix + name
            kind = type(value)
            if (path, kind) in always:
                continue
            values = value if isinstance(value, list) else (value,)
            for item in values:
                if item is None:
                    continue
                known = types.get(path) or new.get(path)
                if known is None:
                    known = _dynamic_type(item)
                    if known is None:
                        continue
                    new[path] = known
                if known == "object":
                    if not isinstance(item, dict):
                        raise MappingError(
                            "document_parsing_exception",
                            f"[1:2] object mapping for [{path}] tried to parse field [{name}] as "
                            "object, but found a concrete value",
                        )
                    self._check(item, path + ".", doc_id, new)
                elif not _fits(known, item):
                    preview = item if not isinstance(item, dict) else "{...}"
                    raise MappingError(
                        "document_parsing_exception",
                        f"[1:2] failed to parse field [{path}] of type [{known}] in document "
                        f"with id '{doc_id}'. Preview of field's value: '{preview}'",
                    )
            known = types.get(path) or new.get(path)
            if known is not None and known in ALWAYS.get(kind, ()):
                always.add((path, kind))


#: Python types whose every value fits a field type (dates and coercions depend on the value).
ALWAYS: dict[type, frozenset[str]] = {
    str: frozenset({"text", "keyword"}),
    int: NUMERIC,
    float: NUMERIC - INTEGRAL,
    bool: frozenset({"boolean"}),
}


def _fits(kind: str, value: Any) -> bool:
    if isinstance(value, dict):
        return False
    if kind in NUMERIC:
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return kind not in INTEGRAL or float(value).is_integer()
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return False
            return kind not in INTEGRAL or number.is_integer()
        return False
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false", "")
    if kind == "date":
        return parse_date(value) is not None
    return True
