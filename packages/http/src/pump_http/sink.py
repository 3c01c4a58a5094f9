"""HTTPSink: sends events with POST/PUT, one per request or a batch as JSON array or NDJSON."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import orjson
from pydantic import Field, model_validator

import pump
from pump.backoff import retry_after
from pump_http.client import ClientConfig, make_session, public_url, url_problem
from pump_http.errors import (
    TRANSIENT_STATUSES,
    HTTPConnectorError,
    HTTPPermanentWriteError,
    HTTPStatusError,
)
from pump_http.url_template import URLTemplate

if TYPE_CHECKING:
    from pump import Application, Pipeline

L = logging.getLogger(__name__)

#: Context key that overrides the URL per event (left out of dead letters: it has `_sink_`).
URL_KEY = "http_sink_url"


class HTTPSinkConfig(ClientConfig):
    """Settings of an HTTPSink."""

    url: str = Field(
        ...,
        description="URL to send to; {field} is the event's field (URL-quoted), "
        "{context[key]} a context key; context['http_sink_url'] overrides it per event",
        examples=["https://api.example.com/items/{id}"],
    )
    method: Literal["POST", "PUT", "PATCH"] = Field("POST", description="HTTP method")
    body: Literal["event", "json_array", "ndjson"] = Field(
        "event",
        description="event: one request per event; json_array or ndjson: the events of a "
        "batch going to one URL in one request",
    )
    max_batch: int = Field(
        1000, gt=0, le=100_000, description="json_array / ndjson: most events in one request"
    )
    content_type: str = Field(
        "",
        description="Content-Type ('': JSON for objects and batches, text/plain for str, "
        "application/octet-stream for bytes)",
    )
    max_concurrency: int = Field(8, gt=0, le=1024, description="Requests in flight at once")
    retry_after_max: float = Field(
        30.0,
        ge=0,
        description="Longest Retry-After of a 429/503 that is waited out before the "
        "pipeline's retry, seconds",
    )

    @model_validator(mode="after")
    def _url_template(self) -> HTTPSinkConfig:
        try:
            template = URLTemplate(self.url)
        except ValueError as exc:
            raise ValueError(f"url: not a URL template: {exc}") from None
        if template.static:
            bad_url = url_problem(self.url, ("http", "https"))
            if bad_url:
                raise ValueError(bad_url)
        return self


class HTTPSink(pump.Sink):
    """Sends events over HTTP; an event is done once the server answered its request with 2xx.

    `body: event` sends each event in a request of its own: bytes as they are, str as text,
    anything else as JSON. `json_array` and `ndjson` send the events of a batch that go to
    the same URL together (at most `max_batch` per request; bytes and str events are taken
    as JSON already). A 4xx answer (other than 408, 425 and 429) fails its events for good:
    they go to the pipeline's error policy at once. 429, 5xx, timeouts and lost connections
    are retried by the pipeline (`sink_retries`, `retry_backoff`), after the Retry-After the
    server asked for (up to `retry_after_max`). Up to `max_concurrency` requests are in flight.
    """

    ConfigModel = HTTPSinkConfig
    Config: HTTPSinkConfig

    requests = pump.Counter("HTTP requests answered")
    refused = pump.Counter("Events refused for good (a 4xx answer)")

    def __init__(
        self,
        app: Application,
        pipeline: Pipeline,
        id: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(app, pipeline, id, config)
        self.url = URLTemplate(self.Config.url)
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    async def start(self) -> None:
        """Open the client session."""
        self._session = make_session(self.Config)
        self._slots = asyncio.Semaphore(self.Config.max_concurrency)

    async def stop(self) -> None:
        """Close the client session (the pipeline has drained before)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- writing ------------------------------------------------------------------------------

    def write(self, events: list[Any], contexts: Sequence[dict[str, Any]]) -> Awaitable[None]:
        """Send the batch; the awaitable ends once every request was answered."""
        errors: dict[int, BaseException] = {}
        requests: list[tuple[str, bytes, str, list[int]]] = []
        by_url: dict[str, list[int]] = {}
        single = self.Config.body == "event"
        for i, event in enumerate(events):
            context = contexts[i]
            try:
                url = context.get(URL_KEY) or self.url.render(event, context)
                if single:
                    body, content_type = self._encode(event)
                    requests.append((url, body, content_type, [i]))
                else:
                    by_url.setdefault(url, []).append(i)
            except Exception as exc:
                errors[i] = pump.PermanentWriteError.wrap(self.location(), exc)
        if by_url:
            self._batches(events, by_url, requests, errors)
        return self._send(requests, errors)

    def _encode(self, event: Any) -> tuple[bytes, str]:
        given = self.Config.content_type
        if type(event) is bytes:
            return event, given or "application/octet-stream"
        if type(event) is str:
            return event.encode(), given or "text/plain; charset=utf-8"
        return orjson.dumps(event), given or "application/json"

    def _batches(
        self,
        events: list[Any],
        by_url: dict[str, list[int]],
        requests: list[tuple[str, bytes, str, list[int]]],
        errors: dict[int, BaseException],
    ) -> None:
        c = self.Config
        ndjson = c.body == "ndjson"
        content_type = c.content_type or ("application/x-ndjson" if ndjson else "application/json")
        for url, indexes in by_url.items():
            for start in range(0, len(indexes), c.max_batch):
                parts: list[bytes] = []
                kept: list[int] = []
                for i in indexes[start : start + c.max_batch]:
                    try:
                        parts.append(_json(events[i]))
                        kept.append(i)
                    except Exception as exc:
                        errors[i] = pump.PermanentWriteError.wrap(self.location(), exc)
                if not kept:
                    continue
                body = b"\n".join(parts) + b"\n" if ndjson else b"[" + b",".join(parts) + b"]"
                requests.append((url, body, content_type, kept))

    async def _send(
        self, requests: list[tuple[str, bytes, str, list[int]]], errors: dict[int, BaseException]
    ) -> None:
        outcomes = await asyncio.gather(
            *(
                self._request(url, body, content_type, len(kept))
                for url, body, content_type, kept in requests
            ),
            return_exceptions=True,
        )
        for (_, _, _, kept), outcome in zip(requests, outcomes, strict=True):
            if outcome is None:
                continue
            if not isinstance(outcome, Exception):
                raise outcome  # cancelled: not a failure of the events
            for i in kept:
                errors[i] = outcome
        if errors:
            raise pump.PartialWriteError(errors)

    async def _request(self, url: str, body: bytes, content_type: str, events: int) -> None:
        session, slots = self._session, self._slots
        if session is None or slots is None:
            raise HTTPConnectorError(f"{self.location()}: not started")
        c = self.Config
        wait: float | None = None
        async with slots:
            try:
                async with session.request(
                    c.method,
                    url,
                    data=body,
                    headers={"Content-Type": content_type},
                    allow_redirects=False,
                ) as response:
                    self.requests += 1
                    status = response.status
                    if 200 <= status < 300:
                        await response.read()
                        return
                    text = (await response.content.read(300)).decode("utf-8", "replace")
                    wait = retry_after(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise HTTPConnectorError(
                    f"{self.location()}: {c.method} {public_url(url, c)} failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        where = public_url(url, c)
        message = f"{self.location()}: {c.method} {where} answered {status}: {text.strip()}"
        if status in TRANSIENT_STATUSES or status >= 500:
            if wait:
                await asyncio.sleep(min(wait, c.retry_after_max))
            raise HTTPStatusError(message, status, where, wait)
        self.refused += events
        raise HTTPPermanentWriteError(message, status, where)


def _json(event: Any) -> bytes:
    """An event as one JSON document (bytes and str are taken as JSON already)."""
    if type(event) is bytes:
        return event.rstrip(b"\r\n")
    if type(event) is str:
        return event.rstrip("\r\n").encode()
    return orjson.dumps(event)
