"""HTTPClientSource: polls a URL on each trigger; the response is the event (BSPump's shape)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import orjson
from multidict import CIMultiDictProxy, MultiDictProxy
from pydantic import Field, field_validator, model_validator
from yarl import URL

import pump
from pump.backoff import retry_after
from pump.common.encoding import known_encoding_or_none
from pump.trigger import TriggerSourceConfig
from pump_http.client import ClientConfig, make_session, public_url, url_problem
from pump_http.errors import HTTPResponseError, HTTPStatusError
from pump_http.jsonpath import MISSING, lookup

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)

RequestMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
ParamValue = str | int | float


class HTTPClientSourceConfig(TriggerSourceConfig, ClientConfig):
    """Settings of an HTTPClientSource."""

    url: str = Field(
        ..., description="URL requested on each trigger", examples=["https://api.example.com/v1"]
    )
    method: RequestMethod = Field("GET", description="HTTP method")
    params: dict[str, ParamValue] = Field(
        {}, description="Query parameters added to the URL", examples=[{"q": "London"}]
    )
    body: str = Field("", description="Request body, sent as it is (with content_type)")
    json_body: Any = Field(None, description="Request body as JSON (instead of body)")
    content_type: str = Field(
        "", description="Content-Type of body ('': text/plain; json_body is application/json)"
    )
    response: Literal["bytes", "text", "json"] = Field(
        "bytes",
        description="What the event is: the body as bytes (BSPump's), decoded text, or parsed JSON",
    )
    encoding: str = Field(
        "", description="Encoding of text responses ('': the response's charset, else UTF-8)"
    )
    items_path: str | None = Field(
        None,
        description="response: json — dotted path of a list in the document, one event per "
        "item ('' : the document is the list); unset: the document is one event",
        examples=["data.items"],
    )
    conditional: bool = Field(
        True,
        description="Send the last ETag / Last-Modified back (If-None-Match, "
        "If-Modified-Since), so an unchanged resource (304) emits nothing",
    )
    pagination: Literal["none", "link", "cursor"] = Field(
        "none",
        description="Follow further pages: link (the Link header's rel=next) or cursor "
        "(cursor_path in the JSON response, sent back as cursor_param)",
    )
    cursor_path: str = Field(
        "",
        description="pagination: cursor — dotted path of the next cursor in the JSON response",
        examples=["meta.next_cursor"],
    )
    cursor_param: str = Field(
        "cursor", description="pagination: cursor — query parameter the cursor is sent in"
    )
    max_pages: int = Field(100, gt=0, le=100_000, description="Most pages read in one cycle")
    max_response_size: int = Field(
        64 * 1024 * 1024, gt=0, description="Largest response body read, bytes"
    )
    request_retries: int = Field(
        3,
        ge=0,
        description="Retries of a request that failed transiently (no connection, timeout, "
        "408/425/429/5xx) before the cycle fails",
    )
    request_retry_delay: float = Field(
        0.5, gt=0, description="First pause before retrying a request, seconds (then doubles)"
    )
    request_retry_delay_max: float = Field(
        10.0, gt=0, description="Longest pause before retrying a request, seconds"
    )

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        return known_encoding_or_none(value)

    @model_validator(mode="after")
    def _consistent(self) -> HTTPClientSourceConfig:
        problems = []
        bad_url = url_problem(self.url, ("http", "https"))
        if bad_url:
            problems.append(bad_url)
        if self.body and self.json_body is not None:
            problems.append("give body or json_body, not both")
        if self.items_path is not None and self.response != "json":
            problems.append("items_path needs response: json")
        if self.pagination == "cursor" and not self.cursor_path:
            problems.append("pagination: cursor needs cursor_path")
        if self.request_retry_delay_max < self.request_retry_delay:
            problems.append("request_retry_delay_max is below request_retry_delay")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class _Reply:
    """A response, read: status, headers, final URL, body, Link header."""

    __slots__ = ("body", "charset", "headers", "links", "status", "url")

    def __init__(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        url: URL,
        body: bytes,
        links: MultiDictProxy[MultiDictProxy[str | URL]],
        charset: str | None,
    ) -> None:
        self.status = status
        self.headers = headers
        self.url = url
        self.body = body
        self.links = links
        self.charset = charset


class _Poll:
    """The pages of one cycle: their validators are kept once every page's events are done."""

    __slots__ = ("failed", "pending", "validators")

    def __init__(self) -> None:
        self.pending = 1  # the cycle itself, released when it ends
        self.failed = False
        self.validators: tuple[str | None, str | None] | None = None


class HTTPClientSource(pump.TriggerSource):
    """Requests a URL each time a trigger fires; the response (bytes, text or JSON) is the event.

    The context carries `http_url`, `http_status`, `http_headers` and `http_page`. With
    `conditional` (the default) the ETag and Last-Modified of the last response whose events
    are done are sent back, so an unchanged resource answers 304 and nothing is emitted.
    `pagination` follows the Link header's next page or a cursor in the JSON body. A request
    that fails transiently (no connection, a timeout, 408/425/429/5xx) is retried with backoff
    (`request_retries`); then, or on any other failure, the cycle fails: it is logged, counted
    and tried again at the next trigger (`on_cycle_error: stop` stops the pipeline instead).
    A response that is not the JSON it should be goes to the pipeline's error policy.
    """

    # pydantic's mypy plugin types a model class by its constructor, and a required key
    # (url) makes that "incompatible" with TriggerSource's model: it is a subclass of it.
    ConfigModel = HTTPClientSourceConfig  # type: ignore[assignment]
    Config: HTTPClientSourceConfig

    requests = pump.Counter("HTTP requests answered")
    not_modified = pump.Counter("Polls answered 304 Not Modified (nothing new)")
    retried = pump.Counter("Requests retried")
    pages = pump.Counter("Result pages read")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self._session: aiohttp.ClientSession | None = None
        self._validators: tuple[str | None, str | None] = (None, None)
        self._retry_log = pump.RateLimitedLog(L, 10.0)

    async def start(self) -> None:
        """Open the client session (and refuse to start without a trigger)."""
        await super().start()
        self._session = make_session(self.Config)

    async def stop(self) -> None:
        """Close the client session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- a cycle -----------------------------------------------------------------------------

    async def cycle(self) -> None:
        """Request the URL (and its further pages); emit what came."""
        c = self.Config
        poll = _Poll()
        try:
            url: URL = URL(c.url)
            params: dict[str, ParamValue] = {**c.params, **c.auth_params()}
            headers = self._conditional_headers() if c.conditional else {}
            for page in range(c.max_pages):
                reply = await self._fetch(url, params, headers if page == 0 else {})
                if reply.status == 304 and page == 0:
                    self.not_modified += 1
                    return
                if page == 0 and c.conditional:
                    poll.validators = (
                        reply.headers.get("ETag"),
                        reply.headers.get("Last-Modified"),
                    )
                self.pages += 1
                document = await self._emit_page(reply, page, poll)
                following = self._next_page(reply, document, url, params)
                if following is None:
                    return
                url, params = following
            L.warning(
                "%s: stopped after max_pages=%d pages; the next cycle starts at the first one",
                self.location(),
                c.max_pages,
            )
        except BaseException:
            poll.failed = True
            raise
        finally:
            self._settle(poll)

    def _conditional_headers(self) -> dict[str, str]:
        etag, modified = self._validators
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        return headers

    async def _fetch(
        self, url: URL, params: Mapping[str, ParamValue], headers: dict[str, str]
    ) -> _Reply:
        """One request, retried while it fails transiently."""
        c = self.Config
        backoff = pump.Backoff(
            c.request_retry_delay, c.request_retry_delay_max, attempts=c.request_retries
        )
        while True:
            try:
                return await self._request(url, params, headers)
            except (aiohttp.ClientError, TimeoutError, HTTPStatusError) as exc:
                if isinstance(exc, HTTPStatusError) and not exc.transient:
                    raise
                if backoff.exhausted:
                    if isinstance(exc, HTTPStatusError):
                        raise
                    raise HTTPResponseError(
                        f"{self.location()}: {c.method} {public_url(url, c)} failed: "
                        f"{_describe(exc)}"
                    ) from exc
                delay = backoff.next_delay()
                if isinstance(exc, HTTPStatusError) and exc.retry_after is not None:
                    delay = min(max(delay, exc.retry_after), c.request_retry_delay_max)
                self.retried += 1
                self._retry_log.warning(
                    "%s: %s %s failed (%s); retry %d of %d in %.2fs",
                    self.location(),
                    c.method,
                    public_url(url, c),
                    _describe(exc),
                    backoff.attempt,
                    c.request_retries,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _request(
        self, url: URL, params: Mapping[str, ParamValue], headers: dict[str, str]
    ) -> _Reply:
        c = self.Config
        session = self._session
        if session is None:
            raise RuntimeError(f"{self.location()}: not started")
        data: Any = None
        if c.json_body is not None:
            data = orjson.dumps(c.json_body)
            headers = {"Content-Type": "application/json", **headers}
        elif c.body:
            data = c.body.encode()
            headers = {"Content-Type": c.content_type or "text/plain", **headers}
        async with session.request(
            c.method, url, params=params, headers=headers, data=data
        ) as response:
            self.requests += 1
            status = response.status
            if status == 304 or 200 <= status < 300:
                body = b"" if status == 304 else await self._read(response)
                return _Reply(
                    status, response.headers, response.url, body, response.links, response.charset
                )
            raise HTTPStatusError(
                f"{self.location()}: {c.method} {public_url(response.url, c)} answered "
                f"{status} {response.reason or ''}".rstrip(),
                status,
                public_url(response.url, c),
                retry_after(response.headers.get("Retry-After")),
            )

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.Config.max_response_size
        too_large = HTTPResponseError(
            f"{self.location()}: the response of {public_url(response.url, self.Config)} is "
            f"larger than max_response_size={limit} bytes"
        )
        if response.content_length is not None and response.content_length > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(256 * 1024):
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def _emit_page(self, reply: _Reply, page: int, poll: _Poll) -> Any:
        """Emit a page's events (its bad body to the error policy); the JSON document, if any."""
        c = self.Config
        context = {
            "http_url": public_url(reply.url, c),
            "http_status": reply.status,
            "http_headers": dict(reply.headers),
            "http_page": page,
        }
        document: Any = MISSING
        json_error: HTTPResponseError | None = None
        if c.response == "json" or c.pagination == "cursor":
            try:
                document = orjson.loads(reply.body)
            except orjson.JSONDecodeError as exc:
                json_error = HTTPResponseError(
                    f"{self.location()}: the response of {context['http_url']} is not JSON: {exc}"
                )
        error: HTTPResponseError | None = None  # of the event: to the error policy
        events: list[Any]
        if c.response == "bytes":
            events = [reply.body]
        elif c.response == "text":
            encoding = c.encoding or reply.charset or "utf-8"
            try:
                events = [reply.body.decode(encoding)]
            except (UnicodeDecodeError, LookupError) as exc:
                events = [reply.body]
                error = HTTPResponseError(
                    f"{self.location()}: the response of {context['http_url']} is not "
                    f"{encoding} text: {exc}"
                )
        elif json_error is not None:
            events, error = [reply.body], json_error
        elif c.items_path is None:
            events = [document]
        else:
            items = lookup(document, c.items_path)
            if type(items) is list:
                events = items
            else:
                events = [document]
                found = "nothing" if items is MISSING else f"a {type(items).__name__}"
                error = HTTPResponseError(
                    f"{self.location()}: items_path '{c.items_path}' of the response of "
                    f"{context['http_url']} is {found}, not a list"
                )
        if events:
            poll.pending += 1
            await self.emit(
                events, context, token=poll, errors={0: error} if error is not None else None
            )
        if json_error is not None and c.pagination == "cursor":
            raise json_error  # no cursor to go on with
        return document

    def _next_page(
        self, reply: _Reply, document: Any, url: URL, params: dict[str, ParamValue]
    ) -> tuple[URL, dict[str, ParamValue]] | None:
        """The URL and parameters of the next page, or None when this was the last."""
        c = self.Config
        if c.pagination == "link":
            link = reply.links.get("next")
            target = link.get("url") if link is not None else None
            if target is None:
                return None
            following = reply.url.join(URL(str(target)))
            if following == reply.url:
                return None  # a page linking to itself
            # the link carries its own query; only the credentials are added again
            return following, dict(c.auth_params())
        if c.pagination == "cursor":
            cursor = lookup(document, c.cursor_path)
            if cursor is MISSING or cursor is None or cursor == "" or cursor is False:
                return None
            if not isinstance(cursor, (str, int, float)):
                raise HTTPResponseError(
                    f"{self.location()}: cursor_path '{c.cursor_path}' holds a "
                    f"{type(cursor).__name__}, not a string or number"
                )
            if params.get(c.cursor_param) == cursor:
                return None  # the same page again: the server does not advance
            return URL(c.url), {**params, c.cursor_param: cursor}
        return None

    # -- delivery ----------------------------------------------------------------------------

    def _settle(self, poll: _Poll) -> None:
        poll.pending -= 1
        if poll.pending == 0 and not poll.failed and poll.validators is not None:
            self._validators = poll.validators

    def acknowledge(self, batch: pump.Batch) -> None:
        """A page's events are done; once all of the cycle's are, its validators are kept."""
        if isinstance(batch.token, _Poll):
            self._settle(batch.token)

    def reject(self, batch: pump.Batch) -> None:
        """A page's events failed: the next poll asks for the resource again (no validators)."""
        if isinstance(batch.token, _Poll):
            batch.token.failed = True
            self._settle(batch.token)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
