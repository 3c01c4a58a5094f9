"""HTTPServerSource: a webhook receiver that answers only once the events of a request are done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiohttp import hdrs, web
from pydantic import Field

import pump
from pump.context import SharedContext
from pump_http.auth import RequestAuth, ServerAuthConfig
from pump_http.body import BodyError, BodyFormat, decode, resolve_format
from pump_http.listener import Listener, ListenerConfig

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)

Method = Literal["POST", "PUT", "PATCH"]

#: Distinct Content-Type header values whose body format is remembered.
_KNOWN_CONTENT_TYPES = 64
JSON = "application/json"
_dumps = orjson.dumps


class HTTPServerSourceConfig(ListenerConfig, ServerAuthConfig):
    """Settings of an HTTPServerSource."""

    methods: list[Method] = Field(["POST", "PUT"], description="HTTP methods that deliver events")
    format: BodyFormat = Field(
        "auto",
        description="Body format: json (a document, or an array of many), ndjson (one per "
        "line), bytes, text, or auto (from the Content-Type; else bytes)",
    )
    split_arrays: bool = Field(True, description="A JSON array body is one event per item")
    max_body_size: int = Field(
        1024 * 1024, gt=0, le=1024**3, description="Largest body accepted, bytes (above: 413)"
    )
    respond: Literal["done", "accepted"] = Field(
        "done",
        description="done: 200 once every event of the request is done (5xx if one failed); "
        "accepted: 202 as soon as they are handed over (lost if the process dies first)",
    )
    response_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a request waits for its events to be done before it gets a 503 "
        "(the sender retries; the events may still be written, so they may come twice)",
    )
    retry_after: int = Field(
        1, ge=0, le=3600, description="Seconds in the Retry-After header of a 429 or 503"
    )
    context_headers: list[str] = Field(
        [],
        description="Request headers copied into the context (http_headers), by name; "
        "the token and signature headers never are",
        examples=[["X-GitHub-Event", "X-GitHub-Delivery"]],
    )


class HTTPServerSource(pump.Source):
    """Receives events over HTTP (webhooks) and answers once they are done.

    Each request is one batch: a JSON body is one event (a JSON array one per item), NDJSON
    one per line, anything else one bytes event. The answer says what became of them: 200 once
    every event is done (written by the sink, dropped or handled by the error policy), 500 when
    one failed and the pipeline stopped, 503 (with Retry-After) when they were not done within
    `response_timeout` or the pipeline is stopping, 429 (with Retry-After) while the pipeline is
    full (`max_in_flight`) or throttled, 413 above `max_body_size`, 400 for a body that is not
    its format, 401 without the token or a valid signature. Listens on 127.0.0.1 by default.
    """

    ConfigModel = HTTPServerSourceConfig
    Config: HTTPServerSourceConfig

    requests = pump.Counter("HTTP requests answered")
    busy_responses = pump.Counter("Requests answered 429 because the pipeline was full")
    unauthorized = pump.Counter("Requests answered 401 (no or a wrong token or signature)")
    bad_requests = pump.Counter("Requests answered 400 or 413 (a bad or too large body)")
    failed_responses = pump.Counter("Requests answered 5xx (events failed, late, or stopping)")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        c = self.Config
        self.auth = RequestAuth(c)
        web_app = web.Application(client_max_size=c.max_body_size)
        plain = True
        for method in c.methods:
            route = web_app.router.add_route(method, c.path, self._handle)
            plain = plain and isinstance(route.resource, web.PlainResource)
        # aiohttp matches a plain path (no {variables}) against the request's path with only
        # %2F and %25 left encoded: without a '%' in it, it is every answered request's path
        self._fixed_path = c.path if plain and "%" not in c.path else None
        self.listener = Listener(web_app, c, self.location())
        self._accepting = False
        self._bad_log = pump.RateLimitedLog(L, 10.0)
        self._retry_after = {"Retry-After": str(c.retry_after)}
        self._counts = self.counters.extra
        hidden = self.auth.secret_headers
        self._context_headers = [h for h in c.context_headers if h.lower() not in hidden]
        # read per request: settings as plain attributes, the body format per Content-Type
        self._checks_token = self.auth.checks_token
        self._checks_signature = self.auth.checks_signature
        self._max_body_size = c.max_body_size
        self._split_arrays = c.split_arrays
        self._respond_accepted = c.respond == "accepted"
        self._response_timeout = c.response_timeout
        self._formats: dict[str | None, tuple[BodyFormat, str]] = {}

    @property
    def port(self) -> int:
        """The port listened on (known once started; `port: 0` picks a free one)."""
        return self.listener.port

    def accepting(self) -> bool:
        """True while the source runs (before and after, requests are answered 503)."""
        return self._accepting

    @property
    def url(self) -> str:
        """The URL senders post to, as seen from this machine."""
        return self.listener.url

    async def start(self) -> None:
        """Listen: requests before the pipeline runs are answered 503."""
        await self.listener.start(
            authenticated=self.auth.checks_token or self.auth.checks_signature
        )

    async def stop(self) -> None:
        """Close the listener, giving open requests `shutdown_timeout` seconds."""
        self._accepting = False
        await self.listener.stop()

    async def main(self) -> None:
        """Accept requests until stopped; the listener does the work."""
        self._accepting = True
        try:
            await asyncio.Event().wait()
        finally:
            self._accepting = False

    # -- delivery ----------------------------------------------------------------------------

    def acknowledge(self, batch: pump.Batch) -> None:
        """Every event of a request is done: its answer is 200."""
        waiter = batch.token
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def reject(self, batch: pump.Batch) -> None:
        """An event of a request failed (or was not finished at a stop): its answer is 5xx."""
        waiter = batch.token
        if waiter is not None and not waiter.done():
            waiter.set_result(False)

    # -- the handler -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._counts["requests"] += 1  # self.requests, without two calls per request
        pipeline = self.Pipeline
        if not self._accepting or pipeline.error is not None:
            return self._unavailable("the pipeline is not running")
        headers = request.headers
        if self._checks_token and not self.auth.token_ok(headers):
            self.unauthorized += 1
            return _answer(401, {"error": "missing or wrong token"})
        content = request.content
        if content.is_eof():
            # the whole body is buffered (most webhooks): take it as it is, without the copies
            # of request.read(); it is one chunk unless the sender sent it in pieces
            body = content.read_nowait()
            if len(body) > self._max_body_size:
                return self._too_large(len(body))
            if not pipeline.is_ready():
                return self._busy()
        else:
            # refused before reading when the sender says it is too large or it would wait
            length = request.content_length
            if length is not None and length > self._max_body_size:
                return self._too_large(length)
            if not pipeline.is_ready():
                return self._busy()
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return self._too_large(None)
            # the pipeline may have stopped or filled up while the body was read
            if not self.accepting() or pipeline.is_error():
                return self._unavailable("the pipeline is not running")
            if not pipeline.is_ready():
                return self._busy()
        if self._checks_signature and not self.auth.signature_ok(headers, body):
            self.unauthorized += 1
            return _answer(401, {"error": "missing or wrong signature"})
        known = self._formats.get(headers.get(hdrs.CONTENT_TYPE))
        fmt, charset = known if known is not None else self._body_format(request)
        try:
            events = decode(body, fmt, self._split_arrays, charset)
        except BodyError as exc:
            self.bad_requests += 1
            self._bad_log.warning(
                "%s: refused a request from %s: %s", self.location(), request.remote, exc
            )
            return _answer(400, {"error": str(exc)})
        if not events:
            return _answer(200, {"events": 0})
        # ready, checked with no await since: hand over without waiting; the context is
        # shared by the request's events as it is (the pipeline would otherwise copy it)
        context_headers = self._context_headers
        context = SharedContext(
            {
                "http_method": request.method,
                "http_path": self._fixed_path or request.path,
                "http_query": request.query_string,
                "http_remote": request.remote,
                "http_headers": {k: headers[k] for k in context_headers if k in headers}
                if context_headers
                else {},
            }
        )
        batch = pipeline.process_batch(events, context, None, self)
        if self._respond_accepted:
            return _answer(202, {"events": len(events)})
        assert batch is not None  # events is not empty
        if batch.pending:
            # not done yet (a sink that writes asynchronously): wait for acknowledge/reject;
            # a batch done at once (most sinks) needs no future
            waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            batch.token = waiter
            try:
                async with asyncio.timeout(self._response_timeout):
                    await waiter
            except TimeoutError:
                self.failed_responses += 1
                return _answer(
                    503,
                    {"error": f"the events were not done within {self._response_timeout}s"},
                    self._retry_after,
                )
        if not batch.failed:
            return web.Response(body=_dumps({"events": len(events)}), content_type=JSON)
        if not self.accepting():
            return self._unavailable("the pipeline stopped before the events were done")
        self.failed_responses += 1
        return _answer(500, {"error": "the events failed; the pipeline stopped"})

    def _body_format(self, request: web.Request) -> tuple[BodyFormat, str]:
        """The format and charset of a request's body, remembered per Content-Type header
        value in `_formats` (aiohttp parses the header again on every request)."""
        fmt = resolve_format(self.Config.format, request.content_type)
        known = (fmt, (request.charset or "utf-8") if fmt == "text" else "utf-8")
        if len(self._formats) < _KNOWN_CONTENT_TYPES:  # senders use a few; bound the rest
            self._formats[request.headers.get(hdrs.CONTENT_TYPE)] = known
        return known

    def _busy(self) -> web.Response:
        self.busy_responses += 1
        return _answer(429, {"error": "the pipeline is full; try again later"}, self._retry_after)

    def _too_large(self, length: int | None) -> web.Response:
        self.bad_requests += 1
        size = f" ({length} bytes)" if length is not None else ""
        return _answer(413, {"error": f"the body{size} is above {self.Config.max_body_size} bytes"})

    def _unavailable(self, why: str) -> web.Response:
        self.failed_responses += 1
        return _answer(503, {"error": why}, self._retry_after)


def _answer(status: int, document: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=_dumps(document), content_type=JSON, headers=headers)
