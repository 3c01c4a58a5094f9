"""The test server's documents: indices, bulk writes, searches, point-in-time snapshots.

Bulk behaviour follows
https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html:
items are carried out in order, each with its own `status`; `create` of an existing id is a
409 `version_conflict_engine_exception`, `update` of a missing document without an upsert a
404 `document_missing_exception`, `delete` of a missing document a 404 with result
`not_found` (not an error). Index names follow the rules of the create-index API
(https://www.elastic.co/guide/en/elasticsearch/reference/current/indices-create-index.html);
a missing index is created on first write from the matching index template
(https://www.elastic.co/guide/en/elasticsearch/reference/current/index-templates.html).
Writes are visible to searches at once (as if every request refreshed).
"""

from __future__ import annotations

import base64
import fnmatch
import os
import threading
import time
import uuid
from bisect import bisect_right
from collections.abc import Iterator
from typing import Any

import orjson

from pump_elastic.testing.faults import ERRORS, Faults
from pump_elastic.testing.mapping import Mapping, MappingError
from pump_elastic.testing.search import (
    Doc,
    QueryError,
    SortSpec,
    aggregate,
    compile_query,
)

INVALID_NAME_CHARS = set('\\/*?"<>| ,#:')
OPS = ("index", "create", "update", "delete")


class Document:
    """One stored document."""

    __slots__ = ("order", "seq_no", "source", "version")

    def __init__(self, source: dict[str, Any], version: int, seq_no: int, order: int) -> None:
        self.source = source
        self.version = version
        self.seq_no = seq_no
        self.order = order


class Index:
    """One index: its documents by id and its mapping."""

    def __init__(self, name: str, mapping: Mapping) -> None:
        self.name = name
        self.docs: dict[str, Document] = {}
        self.mapping = mapping
        self.uuid = uuid.uuid4().hex[:22]
        self.seq_no = 0


def index_name_problem(name: str) -> str | None:
    """Why `name` is not a valid index name, or None (the create-index API's rules)."""
    if not name:
        return "must not be empty"
    if name != name.lower():
        return "must be lowercase"
    if name[0] in "-_+":
        return "must not start with '_', '-', or '+'"
    if name in (".", ".."):
        return "must not be '.' or '..'"
    if set(name) & INVALID_NAME_CHARS:
        return 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
    if len(name.encode()) > 255:
        return "index name is too long, (" + str(len(name.encode())) + " > 255)"
    return None


def error_body(type: str, reason: str, **extra: Any) -> dict[str, Any]:
    """An `error` object as the cluster returns it."""
    cause = {"type": type, "reason": reason, **extra}
    return {**cause, "root_cause": [cause]}


class Store:
    """Every index, template and open point in time of one test server (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.indices: dict[str, Index] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.pits: dict[str, tuple[float, list[Doc], dict[str, str]]] = {}
        self.sorted_hits: dict[Any, list[tuple[list[Any], Doc]]] = {}
        self.order = 0
        self.requests: dict[str, int] = {}

    # -- indices ----------------------------------------------------------------------------

    def create_index(self, name: str, body: dict[str, Any] | None = None) -> Index:
        """Create an index (settings ignored, mappings kept); QueryError when it cannot be."""
        problem = index_name_problem(name)
        if problem:
            raise QueryError(
                f"Invalid index name [{name}], {problem}", "invalid_index_name_exception"
            )
        if name in self.indices:
            raise QueryError(
                f"index [{name}/{self.indices[name].uuid}] already exists",
                "resource_already_exists_exception",
            )
        properties: dict[str, Any] = {}
        template = self._template_for(name)
        if template:
            properties.update(
                template.get("template", {}).get("mappings", {}).get("properties", {})
            )
        if body:
            properties.update(body.get("mappings", {}).get("properties", {}))
        index = self.indices[name] = Index(name, Mapping(properties))
        return index

    def _template_for(self, name: str) -> dict[str, Any] | None:
        best: dict[str, Any] | None = None
        for template in self.templates.values():
            patterns = template.get("index_patterns", [])
            patterns = [patterns] if isinstance(patterns, str) else patterns
            if any(fnmatch.fnmatchcase(name, p) for p in patterns) and (
                best is None or template.get("priority", 0) > best.get("priority", 0)
            ):
                best = template
        return best

    def resolve(self, expression: str, missing_ok: bool = False) -> list[Index]:
        """Indices named by a comma-separated list with wildcards; `_all`/`*` is every one."""
        if not expression or expression in ("_all", "*"):
            return [self.indices[n] for n in sorted(self.indices)]
        out: list[Index] = []
        for part in expression.split(","):
            if "*" in part or "?" in part:
                out.extend(
                    self.indices[n] for n in sorted(self.indices) if fnmatch.fnmatchcase(n, part)
                )
            elif part in self.indices:
                out.append(self.indices[part])
            elif not missing_ok:
                raise QueryError(f"no such index [{part}]", "index_not_found_exception", 404)
        return out

    def documents(self, expression: str = "_all") -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(index, id, source) of every document of the indices named (for tests)."""
        with self.lock:
            docs = [
                (i.name, k, d.source)
                for i in self.resolve(expression, True)
                for k, d in i.docs.items()
            ]
        return iter(docs)

    # -- bulk -------------------------------------------------------------------------------

    def bulk(self, body: bytes, default_index: str | None, faults: Faults) -> dict[str, Any]:
        """Carry out an NDJSON bulk body; the response with one item per action."""
        started = time.monotonic()
        lines = body.split(b"\n")
        items: list[dict[str, Any]] = []
        errors = False
        i, n = 0, len(lines)
        loads = orjson.loads
        with self.lock:
            while i < n:
                line = lines[i]
                i += 1
                if not line.strip():
                    continue
                try:
                    action = loads(line)
                except orjson.JSONDecodeError as exc:
                    raise QueryError(
                        f"Malformed action/metadata line [{i}]: {exc}", "x_content_parse_exception"
                    ) from None
                if not isinstance(action, dict) or len(action) != 1:
                    raise QueryError(
                        f"Malformed action/metadata line [{i}], expected START_OBJECT with one "
                        f"operation but found [{str(action)[:80]}]",
                        "illegal_argument_exception",
                    )
                ((op, meta),) = action.items()
                if op not in OPS:
                    raise QueryError(
                        f"Malformed action/metadata line [{i}], expected one of "
                        f"[create, delete, index, update] but found [{op}]",
                        "illegal_argument_exception",
                    )
                source: Any = None
                if op != "delete":
                    if i >= n or not lines[i].strip():
                        raise QueryError(
                            "The bulk request must be terminated by a newline [\\n]",
                            "illegal_argument_exception",
                        )
                    try:
                        source = loads(lines[i])
                    except orjson.JSONDecodeError as exc:
                        source = exc
                    i += 1
                item = self._item(op, meta or {}, source, default_index, faults)
                if "error" in item:
                    errors = True
                items.append({op: item})
        return {"errors": errors, "took": int((time.monotonic() - started) * 1000), "items": items}

    def _item(
        self, op: str, meta: dict[str, Any], source: Any, default_index: str | None, faults: Faults
    ) -> dict[str, Any]:
        name = meta.get("_index") or default_index
        doc_id = meta.get("_id")
        if doc_id is not None:
            doc_id = str(doc_id)
        result: dict[str, Any] = {"_index": name, "_id": doc_id}
        if not name:
            return self._fail(
                result,
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;",
            )
        rule = faults.take("item", op=op)
        if rule is not None:
            type_, reason = ERRORS.get(rule.status, ("injected_exception", "injected"))
            return self._fail(result, rule.status, type_, reason)
        if op in ("update", "delete") and doc_id is None:
            return self._fail(
                result,
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: id is missing;",
            )
        if isinstance(source, Exception):
            return self._fail(
                result, 400, "document_parsing_exception", f"[1:1] failed to parse: {source}"
            )
        index = self.indices.get(name)
        if index is None:
            try:
                index = self.create_index(name)
            except QueryError as exc:
                return self._fail(result, exc.status, exc.type, exc.reason)
        existing = index.docs.get(doc_id) if doc_id is not None else None
        if op == "delete":
            if existing is None:
                return self._done(result, index, None, "not_found", 404)
            del index.docs[doc_id]  # type: ignore[arg-type]
            return self._done(result, index, existing, "deleted", 200, bump=True)
        if op == "update":
            return self._update(result, index, doc_id, existing, source)  # type: ignore[arg-type]
        if not isinstance(source, dict):
            return self._fail(
                result,
                400,
                "document_parsing_exception",
                "[1:1] failed to parse: the document is not a JSON object",
            )
        if op == "create" and existing is not None:
            return self._fail(
                result,
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists (current version "
                f"[{existing.version}])",
            )
        if doc_id is None:
            doc_id = result["_id"] = base64.urlsafe_b64encode(os.urandom(15)).decode()
        return self._store(result, index, doc_id, existing, source)

    def _store(
        self,
        result: dict[str, Any],
        index: Index,
        doc_id: str,
        existing: Document | None,
        source: dict[str, Any],
    ) -> dict[str, Any]:
        try:
            index.mapping.check(source, doc_id)
        except MappingError as exc:
            return self._fail(result, 400, exc.type, exc.reason)
        self.order += 1
        version = existing.version + 1 if existing else 1
        doc = Document(source, version, index.seq_no, existing.order if existing else self.order)
        index.seq_no += 1
        index.docs[doc_id] = doc
        if existing is None:
            return self._done(result, index, doc, "created", 201)
        return self._done(result, index, doc, "updated", 200)

    def _update(
        self,
        result: dict[str, Any],
        index: Index,
        doc_id: str,
        existing: Document | None,
        body: Any,
    ) -> dict[str, Any]:
        if not isinstance(body, dict) or ("doc" not in body and "upsert" not in body):
            reason = (
                "script updates are not supported by this test server"
                if isinstance(body, dict) and "script" in body
                else "Validation Failed: 1: script or doc is missing;"
            )
            return self._fail(result, 400, "action_request_validation_exception", reason)
        partial = body.get("doc") or {}
        if existing is None:
            if body.get("doc_as_upsert"):
                return self._store(result, index, doc_id, None, dict(partial))
            if "upsert" in body:
                return self._store(result, index, doc_id, None, dict(body["upsert"]))
            return self._fail(
                result, 404, "document_missing_exception", f"[{doc_id}]: document missing"
            )
        merged = _merge(existing.source, partial)
        if merged == existing.source and body.get("detect_noop", True):
            return self._done(result, index, existing, "noop", 200)
        return self._store(result, index, doc_id, existing, merged)

    @staticmethod
    def _done(
        result: dict[str, Any],
        index: Index,
        doc: Document | None,
        outcome: str,
        status: int,
        bump: bool = False,
    ) -> dict[str, Any]:
        if doc is not None:
            result["_version"] = doc.version + (1 if bump else 0)
            result["_seq_no"] = doc.seq_no
        else:
            result["_version"] = 1
        result["result"] = outcome
        result["_shards"] = {"total": 1, "successful": 1, "failed": 0}
        result["_primary_term"] = 1
        result["status"] = status
        return result

    @staticmethod
    def _fail(result: dict[str, Any], status: int, type: str, reason: str) -> dict[str, Any]:
        result["status"] = status
        result["error"] = {"type": type, "reason": reason, "index": result.get("_index")}
        return result

    # -- reading ----------------------------------------------------------------------------

    def get(self, name: str, doc_id: str) -> dict[str, Any]:
        """The get API's answer for one document."""
        with self.lock:
            index = self.indices.get(name)
            doc = index.docs.get(doc_id) if index else None
            if index is None:
                return {
                    "_index": name,
                    "_id": doc_id,
                    "found": False,
                    "error": error_body("index_not_found_exception", f"no such index [{name}]"),
                }
            if doc is None:
                return {"_index": name, "_id": doc_id, "found": False}
            return {
                "_index": name,
                "_id": doc_id,
                "_version": doc.version,
                "_seq_no": doc.seq_no,
                "_primary_term": 1,
                "found": True,
                "_source": doc.source,
            }

    def mget(self, body: dict[str, Any], default_index: str | None) -> dict[str, Any]:
        """https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-multi-get.html"""
        if "ids" in body:
            specs = [{"_index": default_index, "_id": i} for i in body["ids"]]
        else:
            specs = body.get("docs", [])
        docs = []
        for spec in specs:
            name = spec.get("_index") or default_index
            if not name:
                raise QueryError(
                    "Validation Failed: 1: index is missing for doc 0;",
                    "action_request_validation_exception",
                )
            docs.append(self.get(name, str(spec["_id"])))
        return {"docs": docs}

    def open_pit(self, expression: str, keep_alive: str) -> dict[str, Any]:
        """https://www.elastic.co/guide/en/elasticsearch/reference/current/point-in-time-api.html"""
        if not keep_alive:
            raise QueryError("[keep_alive] is required", "action_request_validation_exception")
        with self.lock:
            indices = self.resolve(expression)
            docs = self._snapshot(indices)
            types = _types(indices)
            pit_id = base64.urlsafe_b64encode(os.urandom(24)).decode()
            self.pits[pit_id] = (time.monotonic(), docs, types)
        return {
            "id": pit_id,
            "_shards": {
                "total": len(indices),
                "successful": len(indices),
                "skipped": 0,
                "failed": 0,
            },
        }

    def close_pit(self, pit_id: str) -> dict[str, Any]:
        """Close a point in time; `num_freed` 0 when it was not open."""
        with self.lock:
            found = self.pits.pop(pit_id, None) is not None
            for memo in [m for m in self.sorted_hits if m[0] == pit_id]:
                del self.sorted_hits[memo]
        return {"succeeded": True, "num_freed": 1 if found else 0}

    @staticmethod
    def _snapshot(indices: list[Index]) -> list[Doc]:
        return [(i.name, k, d.source, d.order) for i in indices for k, d in i.docs.items()]

    def search(self, expression: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """https://www.elastic.co/guide/en/elasticsearch/reference/current/search-search.html"""
        started = time.monotonic()
        pit = body.get("pit")
        with self.lock:
            if pit is not None:
                if expression:
                    raise QueryError(
                        "[indices] cannot be used with point in time. Do not specify "
                        "any index with point in time.",
                        "action_request_validation_exception",
                    )
                snapshot = self.pits.get(pit.get("id", ""))
                if snapshot is None:
                    raise QueryError(
                        "No search context found for id [pit]",
                        "search_context_missing_exception",
                        404,
                    )
                _, docs, types = snapshot
            else:
                indices = self.resolve(expression or "_all")
                docs, types = self._snapshot(indices), _types(indices)
        sort = SortSpec(body.get("sort"), types)
        if pit is not None:
            sort.add_tiebreaker()
        # a point in time never changes: its sorted hits are kept for the next pages
        memo = (pit.get("id"), orjson.dumps(body.get("query")), repr(sort.fields)) if pit else None
        cached = self.sorted_hits.get(memo) if memo else None
        if cached is not None:
            hits = [d for _, d in cached]
        else:
            matches = compile_query(body.get("query"), types)
            hits = [d for d in docs if matches(d)]
        size = int(body.get("size", 10))
        start = int(body.get("from", 0))
        after = body.get("search_after")
        if sort.fields:
            if cached is None:
                order = sort.key()
                cached = sorted(((sort.values(d), d) for d in hits), key=lambda kv: order(kv[0]))
                if memo:
                    with self.lock:
                        if len(self.sorted_hits) > 16:
                            self.sorted_hits.clear()
                        self.sorted_hits[memo] = cached
            keyed = cached
            if after is not None:
                if len(after) != len(sort.fields):
                    raise QueryError(
                        f"search_after has {len(after)} value(s) but sort has {len(sort.fields)}.",
                        "illegal_argument_exception",
                    )
                key = sort.key()
                position = bisect_right(keyed, key(after), key=lambda kv: key(kv[0]))
                keyed = keyed[position:]
            page = keyed[start : start + size]
        else:
            if after is not None:
                raise QueryError(
                    "Sort must contain at least one field.", "illegal_argument_exception"
                )
            page = [([], d) for d in hits[start : start + size]]
        includes = body.get("_source", True)
        out_hits = []
        for values, doc in page:
            hit: dict[str, Any] = {
                "_index": doc[0],
                "_id": doc[1],
                "_score": None if sort.fields else 1.0,
            }
            if includes is not False:
                hit["_source"] = _filter_source(doc[2], includes)
            if sort.fields:
                hit["sort"] = values
            out_hits.append(hit)
        response: dict[str, Any] = {
            "took": 0,
            "timed_out": False,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {
                "total": {"value": len(hits), "relation": "eq"},
                "max_score": None if sort.fields else (1.0 if hits else None),
                "hits": out_hits,
            },
        }
        if pit is not None:
            response["pit_id"] = pit["id"]
        aggs = body.get("aggs") or body.get("aggregations")
        if aggs:
            response["aggregations"] = aggregate(aggs, hits, types)
        response["took"] = int((time.monotonic() - started) * 1000)
        return response

    def count(self, expression: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """The count API's answer."""
        with self.lock:
            indices = self.resolve(expression or "_all")
            docs, types = self._snapshot(indices), _types(indices)
        matches = compile_query(body.get("query"), types)
        return {
            "count": sum(1 for d in docs if matches(d)),
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        }


def _types(indices: list[Index]) -> dict[str, str]:
    types: dict[str, str] = {}
    for index in indices:
        types.update(index.mapping.types)
    return types


def _merge(base: dict[str, Any], partial: dict[str, Any]) -> dict[str, Any]:
    """A partial update: objects merge recursively, other values are replaced."""
    out = dict(base)
    for key, value in partial.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _filter_source(source: dict[str, Any], includes: Any) -> dict[str, Any]:
    if includes is True or includes is None:
        return source
    fields = (
        includes
        if isinstance(includes, list)
        else includes.get("includes", [])
        if isinstance(includes, dict)
        else [includes]
    )
    return {k: v for k, v in source.items() if any(fnmatch.fnmatchcase(k, f) for f in fields)}
