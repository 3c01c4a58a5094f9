"""The admin API of `pump run --admin HOST:PORT`: pipelines, metrics, health, pause and resume.

| method | path | what |
| --- | --- | --- |
| GET | `/health` | liveness: 200 while the process answers |
| GET | `/ready` | 200 once the pipelines are started and every connection is up, else 503 |
| GET | `/pipelines` | every pipeline: state, counters, in flight |
| GET | `/pipelines/{id}` | one pipeline, with its components' counters and its last errors |
| POST | `/pipelines/{id}/pause`, `.../resume` | stop, restart its sources' hand-overs |
| POST | `/lookups/{id}/reload` | load a lookup again |
| GET | `/metrics` | Prometheus text (prometheus_client), read from the counters at scrape time |

Bound to anything but a loopback address, the server refuses to start without a token
(`PUMP_ADMIN_TOKEN`); with a token, every request must carry `Authorization: Bearer <token>`
or gets 401. No response carries a secret: the values of every secret setting of the
application (passwords, tokens, URLs with credentials) are masked in every body.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from pydantic import BaseModel, SecretStr

from pump.config import SECRET_MASK, is_secret
from pump.errors import PumpError
from pump.lookup import LookupLoadError
from pump_http.metrics import PumpCollector

if TYPE_CHECKING:
    from pump.application import Application
    from pump.pipeline import Pipeline

__all__ = ["TOKEN_ENV", "AdminError", "AdminServer", "parse_listen"]

L = logging.getLogger(__name__)

#: The environment variable holding the admin API's token.
TOKEN_ENV = "PUMP_ADMIN_TOKEN"
#: Errors of a pipeline shown by `/pipelines/{id}` (the newest).
LAST_ERRORS = 10

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class AdminError(PumpError):
    """The admin API cannot start: a bad address, no token off loopback, the port in use."""


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[::1]:PORT`) as (host, port)."""
    found = re.fullmatch(r"\[?(?P<host>[^\s\]]*)\]?:(?P<port>\d{1,5})", listen.strip())
    if found is None or int(found["port"]) > 65_535:
        raise AdminError(f"admin API: '{listen}' is not HOST:PORT (e.g. 127.0.0.1:8470)")
    return found["host"], int(found["port"])


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; a name that may resolve elsewhere is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AdminServer:
    """The admin API of one application, on aiohttp; `await start()`, `await stop()`."""

    def __init__(self, app: Application, listen: str, token: str | None = None) -> None:
        self.app = app
        self.host, self.port = parse_listen(listen)
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        if not self.token and not is_loopback(self.host):
            raise AdminError(
                f"admin API: refusing to listen on {listen} without a token: anyone who can "
                f"reach it could pause the pipelines; set {TOKEN_ENV}, or listen on 127.0.0.1"
            )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(PumpCollector(app))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._runner: web.AppRunner | None = None
        self._secrets: list[str] | None = None

    @property
    def url(self) -> str:
        """http://host:port of the server (the bound port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen; AdminError when the address cannot be used."""
        web_app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        web_app.add_routes(
            [
                web.get("/", self._index),
                web.get("/health", self._health),
                web.get("/ready", self._ready),
                web.get("/pipelines", self._pipelines),
                web.get("/pipelines/{id}", self._pipeline),
                web.post("/pipelines/{id}/pause", self._pause),
                web.post("/pipelines/{id}/resume", self._resume),
                web.post("/lookups/{id}/reload", self._reload),
                web.get("/metrics", self._metrics),
            ]
        )
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise AdminError(f"admin API: cannot listen on {self.url}: {exc}") from None
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        L.info("admin API at %s%s", self.url, " (token required)" if self.token else "")

    async def stop(self) -> None:
        """Stop answering."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- every request ---------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The token check, JSON errors, and the masking of secrets in every response."""
        if self.token and not self._authorized(request):
            return self._mask(
                _json(
                    {"error": "unauthorized: send Authorization: Bearer <PUMP_ADMIN_TOKEN>"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="pump"'},
                )
            )
        try:
            response = await handler(request)
        except _Answer as answer:
            response = answer.response
        except web.HTTPException as exc:
            response = _json({"error": exc.reason}, status=exc.status)
        if request.path == "/metrics":  # names, ids and numbers only
            return response
        return self._mask(response)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    def _mask(self, response: web.StreamResponse) -> web.StreamResponse:
        if not isinstance(response, web.Response) or response.body is None:
            return response
        body = response.body
        if not isinstance(body, bytes):
            return response
        text = body.decode("utf-8", "replace")
        masked = text
        for secret in self.secrets():
            masked = masked.replace(secret, SECRET_MASK)
        if masked != text:
            response.body = masked.encode()
        return response

    def secrets(self) -> list[str]:
        """The values of every secret setting of the application's components (longest first)."""
        if self._secrets is None:
            found: set[str] = set()
            for component in self._components():
                found.update(_secret_values(component.Config))
            found.update(_secret_values_of_mapping(os.environ, only=(TOKEN_ENV,)))
            self._secrets = sorted((s for s in found if len(s) >= 3), key=len, reverse=True)
        return self._secrets

    def _components(self) -> Iterator[Any]:
        yield from self.app.Connections.values()
        yield from self.app.Lookups.values()
        for pipeline in self.app.Pipelines.values():
            yield pipeline
            yield from pipeline.components()

    # -- the endpoints ---------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return _json(
            {
                "endpoints": [
                    "GET /health",
                    "GET /ready",
                    "GET /pipelines",
                    "GET /pipelines/{id}",
                    "POST /pipelines/{id}/pause",
                    "POST /pipelines/{id}/resume",
                    "POST /lookups/{id}/reload",
                    "GET /metrics",
                ]
            }
        )

    async def _health(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def _ready(self, request: web.Request) -> web.Response:
        waiting: list[str] = []
        if not self.app.started:
            waiting.append("the application has not started (or is stopping)")
        for pid, pipeline in self.app.Pipelines.items():
            if pipeline.state in ("stopped", "failed", "stopping"):
                waiting.append(f"pipeline '{pid}' is {pipeline.state}")
        for cid, connection in self.app.Connections.items():
            if connection.counters.extra.get("connected", 1) != 1:
                waiting.append(f"connection '{cid}' is not connected")
        status = 200 if not waiting else 503
        return _json({"ready": not waiting, "waiting_for": waiting}, status=status)

    async def _pipelines(self, request: web.Request) -> web.Response:
        return _json({"pipelines": [self._summary(p) for p in self.app.Pipelines.values()]})

    async def _pipeline(self, request: web.Request) -> web.Response:
        pipeline = self._locate_pipeline(request)
        metrics = pipeline.metrics()
        detail = self._summary(pipeline, metrics)
        detail["components"] = metrics["components"]
        detail["last_errors"] = [
            _error_view(e.as_dict()) for e in list(pipeline.errors)[-LAST_ERRORS:]
        ]
        return _json(detail)

    async def _pause(self, request: web.Request) -> web.Response:
        pipeline = self._locate_pipeline(request)
        pipeline.pause()
        L.warning("admin API: pipeline '%s' paused", pipeline.Id)
        return _json({"pipeline": pipeline.Id, "state": pipeline.state})

    async def _resume(self, request: web.Request) -> web.Response:
        pipeline = self._locate_pipeline(request)
        pipeline.resume()
        L.warning("admin API: pipeline '%s' resumed", pipeline.Id)
        return _json({"pipeline": pipeline.Id, "state": pipeline.state})

    async def _reload(self, request: web.Request) -> web.Response:
        lookup_id = request.match_info["id"]
        lookup = self.app.Lookups.get(lookup_id)
        if lookup is None:
            return _not_found("lookup", lookup_id, self.app.Lookups)
        reload = getattr(lookup, "reload", None)
        if reload is None:
            return _json({"error": f"lookup '{lookup_id}' cannot be reloaded"}, status=409)
        try:
            changed = await reload()
        except LookupLoadError as exc:
            return _json({"lookup": lookup_id, "error": str(exc)}, status=502)
        return _json({"lookup": lookup_id, "changed": bool(changed)})

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encoder(self.registry))
        response.headers["Content-Type"] = content_type
        return response

    # -- helpers ---------------------------------------------------------------------------

    def _locate_pipeline(self, request: web.Request) -> Pipeline:
        pipeline_id = request.match_info["id"]
        pipeline = self.app.Pipelines.get(pipeline_id)
        if pipeline is None:
            raise _Answer(_not_found("pipeline", pipeline_id, self.app.Pipelines))
        return pipeline

    @staticmethod
    def _summary(pipeline: Pipeline, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
        m = metrics if metrics is not None else pipeline.metrics()
        return {
            "id": pipeline.Id,
            "state": pipeline.state,
            "paused": pipeline.paused,
            "in_flight": m["in_flight"],
            "max_in_flight": pipeline.Config.max_in_flight,
            "counters": {
                k: m[k]
                for k in (
                    "events_in",
                    "events_out",
                    "dropped",
                    "aggregated",
                    "errors",
                    "warnings",
                    "dead_lettered",
                )
            },
            "events_per_second": m["eps"],
            "throttled_by": m["throttled_by"],
            "error": _error_view(m["error"]) if m["error"] else None,
        }


class _Answer(Exception):
    """Ends a request with this response (a 404 naming what is known)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _not_found(kind: str, wanted: str, known: dict[str, Any]) -> web.Response:
    return _json({"error": f"no {kind} '{wanted}'", f"known_{kind}s": sorted(known)}, status=404)


def _error_view(error: dict[str, Any]) -> dict[str, Any]:
    """A pipeline error without the event itself (events may carry personal data)."""
    return {k: v for k, v in error.items() if k != "event"}


def _secret_values(config: Any) -> set[str]:
    """The secret values in a config model (SecretStr fields and keys marked secret)."""
    found: set[str] = set()
    if not isinstance(config, BaseModel):
        return found
    model = type(config)
    for key in model.model_fields:
        value = getattr(config, key, None)
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif is_secret(model, key) and isinstance(value, str):
            found.add(value)
        elif isinstance(value, BaseModel):
            found |= _secret_values(value)
    extra = config.model_extra or {}
    for key, value in extra.items():
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, str) and _secret_name(key):
            found.add(value)
    return found


def _secret_values_of_mapping(mapping: Any, only: tuple[str, ...]) -> set[str]:
    return {str(mapping[k]) for k in only if mapping.get(k)}


def _secret_name(key: str) -> bool:
    return bool(re.search(r"pass|secret|token|key|credential", key, re.IGNORECASE))


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response; values JSON has no type for are written as their str()."""
    return web.json_response(
        data, status=status, headers=headers, dumps=lambda d: json.dumps(d, default=str)
    )
