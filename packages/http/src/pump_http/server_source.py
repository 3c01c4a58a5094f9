"""HTTPServerSource: a webhook receiver that answers only once the events of a request are done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson
from aiohttp import web
from pydantic import Field

import pump
from pump_http.auth import RequestAuth, ServerAuthConfig
from pump_http.body import BodyError, BodyFormat, decode, resolve_format
from pump_http.listener import Listener, ListenerConfig

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)

Method = Literal["POST", "PUT", "PATCH"]


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
        for method in c.methods:
            web_app.router.add_route(method, c.path, self._handle)
        self.listener = Listener(web_app, c, self.location())
        self._accepting = False
        self._bad_log = pump.RateLimitedLog(L, 10.0)
        self._retry_after = {"Retry-After": str(c.retry_after)}
        self._counts = self.counters.extra
        hidden = self.auth.secret_headers
        self._context_headers = [h for h in c.context_headers if h.lower() not in hidden]

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
        done = batch.token
        if done is not None and not done.done():
            done.set_result(True)

    def reject(self, batch: pump.Batch) -> None:
        """An event of a request failed (or was not finished at a stop): its answer is 5xx."""
        done = batch.token
        if done is not None and not done.done():
            done.set_result(False)

    # -- the handler -------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._counts["requests"] += 1  # self.requests, without two calls per request
        pipeline = self.Pipeline
        if not self.accepting() or pipeline.is_error():
            return self._unavailable("the pipeline is not running")
        auth = self.auth
        if auth.checks_token and not auth.token_ok(request.headers):
            self.unauthorized += 1
            return _answer(401, {"error": "missing or wrong token"})
        c = self.Config
        length = request.content_length
        if length is not None and length > c.max_body_size:
            return self._too_large(length)
        if not pipeline.is_ready():
            return self._busy()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(None)
        if auth.checks_signature and not auth.signature_ok(request.headers, body):
            self.unauthorized += 1
            return _answer(401, {"error": "missing or wrong signature"})
        try:
            fmt = resolve_format(c.format, request.content_type)
            charset = (request.charset or "utf-8") if fmt == "text" else "utf-8"
            events = decode(body, fmt, c.split_arrays, charset)
        except BodyError as exc:
            self.bad_requests += 1
            self._bad_log.warning(
                "%s: refused a request from %s: %s", self.location(), request.remote, exc
            )
            return _answer(400, {"error": str(exc)})
        if not events:
            return _answer(200, {"events": 0})
        if not self.accepting() or pipeline.is_error():
            return self._unavailable("the pipeline is not running")
        if not pipeline.is_ready():
            return self._busy()
        # ready, checked just above with no await since: hand over without waiting
        context = self._context(request)
        if c.respond == "accepted":
            pipeline.process_batch(events, context=context, source=self)
            return _answer(202, {"events": len(events)})
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        pipeline.process_batch(events, context=context, source=self, token=done)
        if not done.done():
            try:
                async with asyncio.timeout(c.response_timeout):
                    await done
            except TimeoutError:
                self.failed_responses += 1
                return _answer(
                    503,
                    {"error": f"the events were not done within {c.response_timeout}s"},
                    self._retry_after,
                )
        if done.result():
            return _answer(200, {"events": len(events)})
        if not self.accepting():
            return self._unavailable("the pipeline stopped before the events were done")
        self.failed_responses += 1
        return _answer(500, {"error": "the events failed; the pipeline stopped"})

    def _context(self, request: web.Request) -> dict[str, Any]:
        headers = request.headers
        return {
            "http_method": request.method,
            "http_path": request.path,
            "http_query": request.query_string,
            "http_remote": request.remote,
            "http_headers": {k: headers[k] for k in self._context_headers if k in headers},
        }

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
    return web.Response(
        status=status,
        body=orjson.dumps(document),
        content_type="application/json",
        headers=headers,
    )
