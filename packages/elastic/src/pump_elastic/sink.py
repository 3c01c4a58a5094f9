"""ElasticsearchSink: bulk indexing; each event is done only when its own bulk item succeeded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import orjson
from elasticsearch import AsyncElasticsearch
from pydantic import Field, field_validator

import pump
from pump_elastic.connection import ElasticsearchConnection
from pump_elastic.errors import ElasticsearchConnectorError, item_error
from pump_elastic.feeders import (
    BUILT_IN,
    CustomFeeder,
    FeederError,
    custom_action,
    document,
    resolve_feeder,
)
from pump_elastic.index_name import IndexName, event_time

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)

#: Context keys that override, per event, what the configuration says (BSPump's `es_index`).
INDEX_KEY, ID_KEY, OP_KEY, ROUTING_KEY = "es_index", "es_id", "es_op", "es_routing"


class ElasticsearchSinkConfig(pump.ComponentConfig):
    """Settings of an ElasticsearchSink."""

    index: str = Field(
        "",
        description="Index to write to; time templates allowed (logs-{%Y.%m.%d}); '' : "
        "every event names its own in context['es_index']",
        examples=["logs-{%Y.%m.%d}"],
    )
    data_feeder: str = Field(
        "create_or_index",
        description="create_or_index (an id means index, none means create), create, index, "
        "update, delete, or 'module:function' returning (action, document)",
    )
    id_field: str = Field(
        "_id",
        description="Event field holding the document id (taken out of the document when '_id')",
    )
    time_field: str = Field(
        "",
        description="Event field with the event time for index templates ('': the time of writing)",
    )
    doc_as_upsert: bool = Field(True, description="update: create the document when it is missing")
    on_conflict: Literal["done", "error"] = Field(
        "done", description="create of an existing id (409): done (already there) or error"
    )
    bulk_max_actions: int = Field(1000, gt=0, description="Actions per bulk request at most")
    bulk_max_bytes: int = Field(5 * 1024 * 1024, gt=0, description="Bytes per bulk request at most")
    bulk_flush_interval: float = Field(
        0.05, gt=0, description="Seconds a partly filled bulk waits for more"
    )
    max_concurrent_bulks: int = Field(
        4, gt=0, description="Bulk requests in flight at once (BSPump's loader_per_url)"
    )
    item_retries: int = Field(
        5,
        ge=0,
        description="Retries of items refused with 429/5xx before the pipeline's retry takes over",
    )
    item_retry_backoff: float = Field(
        0.1, gt=0, description="First pause before retrying refused items, seconds"
    )
    refresh: Literal["false", "true", "wait_for"] = Field(
        "false", description="Refresh after each bulk: false, true or wait_for"
    )
    stop_timeout: float = Field(30.0, gt=0, description="Seconds stop() waits for bulks in flight")

    @field_validator("index")
    @classmethod
    def _index_name(cls, value: str) -> str:
        static = IndexName(value)
        sample = static.render(0)
        if sample != sample.lower():
            raise ValueError(f"index names must be lowercase: {value!r}")
        if sample[:1] in ("-", "_", "+") or set(sample) & set('\\/*?"<>| ,#:'):
            raise ValueError(
                f"invalid index name {value!r}: must not start with -, _ or + nor contain "
                '\\ / * ? " < > | space , # :'
            )
        return value

    @field_validator("data_feeder")
    @classmethod
    def _feeder(cls, value: str) -> str:
        resolve_feeder(value)
        return value


class _Write:
    """One `write()` call: the future the pipeline awaits, and its events' outcomes."""

    __slots__ = ("failures", "future", "pending")

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future
        self.failures: dict[int, BaseException] = {}
        self.pending = 1  # released at the end of write(), once every action is queued

    def fail(self, index: int, exc: BaseException) -> None:
        self.failures[index] = exc
        self.done()

    def done(self) -> None:
        self.pending -= 1
        if self.pending == 0 and not self.future.done():
            if self.failures:
                self.future.set_exception(pump.PartialWriteError(self.failures))
            else:
                self.future.set_result(None)


class _Action:
    """One bulk action: its NDJSON lines and the event it stands for."""

    __slots__ = ("id", "index", "key", "lines", "op", "position", "settled", "write")

    def __init__(
        self, op: str, index: str, id: Any, lines: bytes, write: _Write, position: int
    ) -> None:
        self.op = op
        self.index = index
        self.id = id
        self.key = (index, id) if id is not None else None
        self.lines = lines
        self.write = write
        self.position = position
        self.settled = False

    def settle(self, error: BaseException | None = None) -> None:
        """Done (error None) or failed with `error`; only the first outcome counts."""
        if self.settled:
            return
        self.settled = True
        if error is None:
            self.write.done()
        else:
            self.write.fail(self.position, error)


class _Chunk:
    """Actions sent in one bulk request; `finished` resolves when all of them are settled."""

    __slots__ = ("actions", "finished", "keys", "size")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.actions: list[_Action] = []
        self.keys: set[tuple[str, Any]] = set()
        self.size = 0
        self.finished: asyncio.Future[None] = loop.create_future()


def _send_bulk(client: AsyncElasticsearch, payload: bytes, refresh: str | None) -> Awaitable[Any]:
    # the body is ready NDJSON: the client's serializer passes bytes through
    return client.bulk(operations=payload, refresh=refresh)  # type: ignore[arg-type]


class ElasticsearchSink(pump.Sink):
    """Writes events with the bulk API; an event is done when Elasticsearch confirmed its item.

    Actions are gathered into bulk requests of at most `bulk_max_actions` actions and
    `bulk_max_bytes` bytes, sent after `bulk_flush_interval` at the latest; up to
    `max_concurrent_bulks` are in flight. Two actions on one document id are never in flight
    at once: a bulk holding an id waits for the earlier bulk holding it, so operations on a
    document keep their order. Items refused with 429 or 5xx are retried (`item_retries`);
    a whole request that fails is retried by the connection, then every item of it fails
    together. Items refused for good (a mapping error, a missing document, an invalid index
    name, a 409 when `on_conflict` is error) fail with BulkItemError carrying Elasticsearch's
    status, error type and reason, for the pipeline's error policy. Context keys `es_index`,
    `es_id`, `es_op` and `es_routing` override the configuration per event.
    """

    ConfigModel = ElasticsearchSinkConfig
    Config: ElasticsearchSinkConfig

    bulks_sent = pump.Counter("Bulk requests Elasticsearch answered")
    items_retried = pump.Counter("Bulk items retried after a 429/5xx refusal")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        connection: ElasticsearchConnection | str,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
        *,
        data_feeder: CustomFeeder | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.Connection = app.locate_connection(connection, ElasticsearchConnection, where=self)
        self.feeder = (
            data_feeder if data_feeder is not None else resolve_feeder(self.Config.data_feeder)
        )
        self.index_name = IndexName(self.Config.index)
        self._tasks = pump.TaskGroup(self.location())
        self._busy: dict[tuple[str, Any], asyncio.Future[None]] = {}
        self._chunk: _Chunk | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._slots: asyncio.Semaphore | None = None
        self._headers: dict[tuple[str, str], bytes] = {}
        self._log = pump.RateLimitedLog(L, 5.0)

    # -- writing ------------------------------------------------------------------------------

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Awaitable[None]:
        """Queue the events' actions; the future completes when every item is settled."""
        loop = asyncio.get_running_loop()
        write = _Write(loop.create_future())
        cfg = self.Config
        feeder, id_field, time_field = self.feeder, cfg.id_field, cfg.time_field
        render = self.index_name.render
        default_index = self.index_name.template if self.index_name.static else None
        lines_of = self._lines
        add = self._add
        # the overrides of one context object are read once (a batch often shares one)
        last_context: Any = None
        c_index = c_op = c_id = c_routing = None
        for i, event in enumerate(events):
            context = contexts[i]
            if context is not last_context:
                last_context = context
                if context:
                    get = context.get
                    c_index, c_op, c_id = get(INDEX_KEY), get(OP_KEY), get(ID_KEY)
                    c_routing = get(ROUTING_KEY)
                else:
                    c_index = c_op = c_id = c_routing = None
            try:
                index = c_index or default_index
                if not index:
                    seconds = None  # render() takes the time of writing
                    if time_field and type(event) is dict:
                        seconds = event_time(event.get(time_field))
                    index = render(seconds)
                    if not index:
                        raise FeederError(
                            "the event names no index: set `index`, "
                            "or context['es_index'] in a processor"
                        )
                if type(feeder) is str:
                    op, doc_id, lines = lines_of(
                        c_op or feeder, event, index, id_field, c_id, c_routing
                    )
                else:
                    custom: CustomFeeder = feeder  # type: ignore[assignment]
                    op, index, doc_id, line, body = custom_action(custom, context, event, index)
                    lines = line + b"\n" + (body + b"\n" if body is not None else b"")
            except Exception as exc:  # never becomes valid by retrying: the error policy decides
                write.failures[i] = pump.PermanentWriteError.wrap(self.location(), exc)
                continue
            write.pending += 1
            add(_Action(op, index, doc_id, lines, write, i))
        write.done()
        if self._chunk is not None and self._timer is None:
            self._timer = loop.call_later(cfg.bulk_flush_interval, self._flush_soon)
        return write.future

    def _lines(
        self, op: str, event: Any, index: str, id_field: str, given_id: Any, routing: Any
    ) -> tuple[str, Any, bytes]:
        """(operation, id, NDJSON lines) of one event for a built-in feeder."""
        if op == "delete":
            doc_id = given_id
            if doc_id is None and isinstance(event, Mapping):
                doc_id = event.get(id_field)
            body = None
        else:
            doc_id, body = document(event, id_field)
            if given_id is not None:
                doc_id = given_id
        if op == "create_or_index":
            op = "index" if doc_id is not None else "create"
        elif op not in BUILT_IN:
            raise FeederError(
                f"unknown operation {op!r} in context['es_op']: one of {', '.join(BUILT_IN[1:])}"
            )
        if doc_id is None and op in ("update", "delete"):
            raise FeederError(
                f"{op} needs a document id (event field {id_field!r} or context['es_id'])"
            )
        if routing is not None:
            meta: dict[str, Any] = {"_index": index, "routing": routing}
            if doc_id is not None:
                meta["_id"] = doc_id = str(doc_id)
            header = orjson.dumps({op: meta}) + b"\n"
        else:
            # `{"op":{"_index":"name"` once per (op, index); the id is appended per event
            prefix = self._headers.get((op, index))
            if prefix is None:
                prefix = self._headers[op, index] = orjson.dumps({op: {"_index": index}})[:-2]
            if doc_id is None:
                header = prefix + b"}}\n"
            else:
                doc_id = str(doc_id)
                header = prefix + b',"_id":' + orjson.dumps(doc_id) + b"}}\n"
        if body is None:  # delete
            return op, doc_id, header
        if op == "update":
            upsert = b',"doc_as_upsert":true}' if self.Config.doc_as_upsert else b"}"
            return op, doc_id, header + b'{"doc":' + body + upsert + b"\n"
        return op, doc_id, header + body + b"\n"

    def _add(self, action: _Action) -> None:
        chunk = self._chunk
        key = action.key
        if chunk is None:
            chunk = self._chunk = _Chunk(asyncio.get_running_loop())
        elif key is not None and key in chunk.keys:
            # a second action on one document goes to the next bulk, which waits for this one
            self._seal()
            chunk = self._chunk = _Chunk(asyncio.get_running_loop())
        chunk.actions.append(action)
        chunk.size += len(action.lines)
        if key is not None:
            chunk.keys.add(key)
        cfg = self.Config
        if len(chunk.actions) >= cfg.bulk_max_actions or chunk.size >= cfg.bulk_max_bytes:
            self._seal()

    def _flush_soon(self) -> None:
        self._timer = None
        self._seal()

    def _seal(self) -> None:
        """Send the chunk being filled: after the bulks holding its ids, within the slots."""
        chunk, self._chunk = self._chunk, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if chunk is None or not chunk.actions:
            return
        busy = self._busy
        waits = {busy[k] for k in chunk.keys if k in busy}
        for key in chunk.keys:
            busy[key] = chunk.finished
        self._tasks.spawn(self._send(chunk, waits), name=f"{self.Id}-bulk")

    async def _send(self, chunk: _Chunk, waits: set[asyncio.Future[None]]) -> None:
        try:
            if waits:
                await asyncio.wait(waits)
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.Config.max_concurrent_bulks)
            async with self._slots:
                await self._bulk(chunk.actions)
        except BaseException as exc:
            error = (
                exc
                if isinstance(exc, Exception)
                else ElasticsearchConnectorError(
                    f"{self.location()}: the bulk was cancelled before Elasticsearch answered"
                )
            )
            for action in chunk.actions:
                action.settle(error)
            raise
        finally:
            chunk.finished.set_result(None)
            busy = self._busy
            for key in chunk.keys:
                if busy.get(key) is chunk.finished:
                    del busy[key]

    async def _bulk(self, actions: list[_Action]) -> None:
        """Send actions until each succeeded or failed for good (429/5xx items retried)."""
        cfg = self.Config
        backoff = pump.Backoff(
            cfg.item_retry_backoff, max(cfg.item_retry_backoff, 10.0), attempts=cfg.item_retries
        )
        refresh = None if cfg.refresh == "false" else cfg.refresh
        connection = self.Connection
        on_conflict_done = cfg.on_conflict == "done"
        while actions:
            payload = b"".join([a.lines for a in actions])
            try:
                response = await connection.request(
                    "bulk",
                    partial(_send_bulk, payload=payload, refresh=refresh),
                    where=self.location(),
                )
                self.bulks_sent += 1
                body = response.body
                items = body["items"]
                if len(items) != len(actions):
                    raise ElasticsearchConnectorError(
                        f"{self.location()}: the bulk answer has {len(items)} items "
                        f"for {len(actions)} actions"
                    )
            except Exception as exc:
                error = (
                    exc
                    if isinstance(exc, ElasticsearchConnectorError)
                    else ElasticsearchConnectorError(
                        f"{self.location()}: bulk of {len(actions)} actions failed: "
                        f"{connection.explain(exc)}"
                    )
                )
                for action in actions:
                    action.settle(error)
                return
            if not body.get("errors"):
                for action in actions:
                    action.settle()
                return
            retry: list[_Action] = []
            for action, item in zip(actions, items, strict=True):
                result = item.get(action.op) or next(iter(item.values()))
                status = result.get("status", 500)
                if status < 300 or (status == 404 and action.op == "delete"):
                    action.settle()
                    continue
                if status == 409 and action.op == "create" and on_conflict_done:
                    action.settle()  # already there: a retried create finds its own document
                    continue
                refusal = result.get("error") or {}
                failure = item_error(
                    action.op,
                    action.index,
                    action.id,
                    status,
                    str(refusal.get("type", "unknown")),
                    str(refusal.get("reason", "")),
                )
                if failure.retryable and not backoff.exhausted:
                    retry.append(action)
                else:
                    action.settle(failure)
            actions = retry
            if actions:
                self.items_retried += len(actions)
                self.counters.warnings += 1
                await backoff.pause(
                    self._log,
                    f"{self.location()}: {len(actions)} bulk item(s) refused (temporarily)",
                )

    # -- lifecycle ------------------------------------------------------------------------------

    async def flush(self) -> None:
        """Send the partly filled bulk now and wait for every bulk in flight."""
        self._seal()
        await self._tasks.drain()

    async def stop(self) -> None:
        """Send what is queued and wait for it (bounded by stop_timeout), then cancel the rest."""
        self._seal()
        if not await self._tasks.drain(self.Config.stop_timeout):
            L.warning(
                "%s: bulks still in flight after %.1fs; cancelled (their events are not "
                "acknowledged)",
                self.location(),
                self.Config.stop_timeout,
            )
            await self._tasks.cancel()
