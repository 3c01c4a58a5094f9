"""ElasticsearchTestServer: an HTTP server speaking the REST subset the pump-elastic components use.

Every response carries `X-Elastic-Product: Elasticsearch`, which the official clients check on
every successful response since 7.14
(https://www.elastic.co/guide/en/elasticsearch/client/python-api/current/release-notes.html);
`GET /` answers the root info API
(https://www.elastic.co/guide/en/elasticsearch/reference/current/rest-api-root.html). Errors
use the documented error body `{"error": {"root_cause": [...], "type", "reason"}, "status"}`.
Security, when users or API keys are given, answers 401 `security_exception` with a
`WWW-Authenticate` header as a secured cluster does
(https://www.elastic.co/guide/en/elasticsearch/reference/current/http-clients.html).

    server = ElasticsearchTestServer()
    url = server.start_in_thread()      # or `await server.start()` in the running loop
    server.faults.fail_items(429, count=3)
    server.stop_thread()

`python -m pump_elastic.testing` runs one in a process of its own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from pump_elastic.testing.faults import ERRORS, Faults
from pump_elastic.testing.search import QueryError
from pump_elastic.testing.store import Store, error_body

#: The server version the root info API reports (the client's major).
VERSION = "9.1.0"
PRODUCT_HEADERS = {"X-Elastic-Product": "Elasticsearch"}
CONTROL = "/_pump_testing"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers={**PRODUCT_HEADERS, **(headers or {})},
    )


def _error(
    status: int, type: str, reason: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return _json({"error": error_body(type, reason), "status": status}, status, headers)


class ElasticsearchTestServer:
    """A protocol-level stand-in for a single-node cluster, with fault injection (`faults`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        users: Mapping[str, str] | None = None,
        api_keys: Iterable[str] = (),
        bearer_tokens: Iterable[str] = (),
        cluster_name: str = "pump-test",
    ) -> None:
        self.host = host
        self.port = port
        self.users = dict(users or {})
        self.api_keys = set(api_keys)
        self.bearer_tokens = set(bearer_tokens)
        self.cluster_name = cluster_name
        self.store = Store()
        self.faults = Faults()
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        """The base URL clients connect to."""
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ----------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application (one catch-all route, dispatched by path and method)."""
        application = web.Application(
            client_max_size=512 * 1024 * 1024, middlewares=[self._middleware]
        )
        application.router.add_route("*", "/{tail:.*}", self._dispatch)
        return application

    async def start(self) -> str:
        """Listen in the running event loop; returns the URL."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self.url

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    def start_in_thread(self) -> str:
        """Serve from a thread with its own event loop (usable from any test); returns the URL."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stopped = asyncio.Event()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_until_complete(self._stopped.wait())
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="es-test-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self.url

    def stop_thread(self) -> None:
        """Stop a server started with `start_in_thread()`."""
        loop, stopped, thread = self._loop, self._stopped, self._thread
        if loop is None or stopped is None or thread is None:
            return
        loop.call_soon_threadsafe(stopped.set)
        thread.join(10)
        self._thread = self._loop = None

    def reset(self) -> None:
        """Forget every index, template, point in time and fault rule."""
        with self.store.lock:
            self.store.indices.clear()
            self.store.templates.clear()
            self.store.pits.clear()
        self.faults.clear()

    def documents(self, index: str = "_all") -> list[tuple[str, str, dict[str, Any]]]:
        """(index, id, source) of every stored document of `index` (a name, pattern or `_all`)."""
        return list(self.store.documents(index))

    # -- HTTP -----------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests += 1
        path = request.path
        if not path.startswith(CONTROL):
            denied = self._authenticate(request)
            if denied is not None:
                return denied
            delay = self.faults.take("delay", path)
            if delay is not None:
                await asyncio.sleep(delay.seconds)
            refused = self.faults.take("request", path)
            if refused is not None:
                type_, reason = ERRORS.get(refused.status, ("injected_exception", "injected"))
                headers = {"Retry-After": "1"} if refused.status == 429 else None
                return _error(refused.status, type_, reason, headers)
        try:
            return await handler(request)
        except QueryError as exc:
            return _error(exc.status, exc.type, exc.reason)
        except orjson.JSONDecodeError as exc:
            return _error(
                400, "x_content_parse_exception", f"[1:1] failed to parse the body: {exc}"
            )

    def _authenticate(self, request: web.Request) -> web.Response | None:
        if not (self.users or self.api_keys or self.bearer_tokens):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        user = "_anonymous"
        if scheme == "Basic":
            with contextlib.suppress(ValueError):
                user, _, password = base64.b64decode(credentials).decode().partition(":")
                if self.users.get(user) == password and user in self.users:
                    return None
        elif (scheme == "ApiKey" and credentials in self.api_keys) or (
            scheme == "Bearer" and credentials in self.bearer_tokens
        ):
            return None
        return _error(
            401,
            "security_exception",
            f"unable to authenticate user [{user}] for REST request [{request.path}]",
            {"WWW-Authenticate": 'Basic realm="security", charset="UTF-8"'},
        )

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        parts = [p for p in request.path.split("/") if p]
        if request.path.startswith(CONTROL):
            return await self._control(request, parts[1:])
        if not parts:
            if method == "HEAD":
                return web.Response(status=200, headers=PRODUCT_HEADERS)
            return _json(self._info())
        first, rest = parts[0], parts[1:]
        if first == "_bulk":
            return await self._bulk(request, None)
        if first == "_search":
            return _json(self.store.search(None, await self._body(request)))
        if first == "_msearch":
            return _json(await self._msearch(request, None))
        if first == "_mget":
            return _json(self.store.mget(await self._body(request), None))
        if first == "_count":
            return _json(self.store.count(None, await self._body(request)))
        if first == "_pit" and method == "DELETE":
            return _json(self.store.close_pit((await self._body(request)).get("id", "")))
        if first == "_cluster" and rest[:1] == ["health"]:
            return _json(self._health())
        if first == "_index_template" and rest:
            return await self._template(request, rest[0])
        if first == "_refresh":
            return _json({"_shards": {"total": 1, "successful": 1, "failed": 0}})
        if first.startswith("_"):
            return _error(
                400,
                "illegal_argument_exception",
                f"request [{request.path}] is not supported by this test server",
            )
        return await self._index_api(request, first, rest)

    async def _index_api(
        self, request: web.Request, name: str, rest: list[str]
    ) -> web.StreamResponse:
        method = request.method
        store = self.store
        if not rest:
            if method == "HEAD":
                found = bool(store.resolve(name, missing_ok=True))
                return web.Response(status=200 if found else 404, headers=PRODUCT_HEADERS)
            if method == "PUT":
                with store.lock:
                    store.create_index(name, await self._body(request))
                return _json({"acknowledged": True, "shards_acknowledged": True, "index": name})
            if method == "DELETE":
                with store.lock:
                    indices = store.resolve(name)
                    for index in indices:
                        del store.indices[index.name]
                return _json({"acknowledged": True})
            with store.lock:
                indices = store.resolve(name)
            return _json(
                {i.name: {"mappings": {"properties": i.mapping.as_properties()}} for i in indices}
            )
        action = rest[0]
        if action == "_bulk":
            return await self._bulk(request, name)
        if action == "_search":
            return _json(store.search(name, await self._body(request)))
        if action == "_msearch":
            return _json(await self._msearch(request, name))
        if action == "_mget":
            return _json(store.mget(await self._body(request), name))
        if action == "_count":
            return _json(store.count(name, await self._body(request)))
        if action == "_pit":
            return _json(store.open_pit(name, request.query.get("keep_alive", "")))
        if action == "_refresh":
            with store.lock:
                store.resolve(name)
            return _json({"_shards": {"total": 1, "successful": 1, "failed": 0}})
        if action == "_mapping":
            with store.lock:
                indices = store.resolve(name)
            return _json(
                {i.name: {"mappings": {"properties": i.mapping.as_properties()}} for i in indices}
            )
        if action == "_doc" and len(rest) == 2 and method == "GET":
            doc = store.get(name, rest[1])
            if "error" in doc:
                return _json({"error": doc["error"], "status": 404}, 404)
            return _json(doc, 200 if doc["found"] else 404)
        if action == "_doc" and len(rest) == 2 and method == "DELETE":
            line = orjson.dumps({"delete": {"_index": name, "_id": rest[1]}}) + b"\n"
            with store.lock:
                item = store.bulk(line, None, self.faults)["items"][0]["delete"]
            return _json(item, item["status"])
        if action in ("_doc", "_create") and len(rest) == 2 and method in ("PUT", "POST"):
            op = (
                "create"
                if action == "_create" or request.query.get("op_type") == "create"
                else "index"
            )
            line = (
                orjson.dumps({op: {"_index": name, "_id": rest[1]}}) + b"\n" + await request.read()
            )
            with store.lock:
                item = store.bulk(line, None, self.faults)["items"][0][op]
            if "error" in item:
                return _json(
                    {"error": error_body(**item["error"]), "status": item["status"]}, item["status"]
                )
            return _json(item, item["status"])
        return _error(
            400,
            "illegal_argument_exception",
            f"request [{method} {request.path}] is not supported by this test server",
        )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw.strip():
            return {}
        body = orjson.loads(raw)
        if not isinstance(body, dict):
            raise QueryError("request body is not an object", "x_content_parse_exception")
        return body

    async def _bulk(self, request: web.Request, index: str | None) -> web.StreamResponse:
        body = await request.read()
        reset = self.faults.take("reset", request.path)
        if reset is not None:
            if reset.apply_first:
                self.store.bulk(body, index, Faults())
            _reset(request)
            return web.Response(status=200)
        response = self.store.bulk(body, index, self.faults)
        return _json(response)

    async def _msearch(self, request: web.Request, index: str | None) -> dict[str, Any]:
        """Multi search.

        https://www.elastic.co/guide/en/elasticsearch/reference/current/search-multi-search.html
        """
        lines = [line for line in (await request.read()).split(b"\n") if line.strip()]
        if len(lines) % 2:
            raise QueryError(
                "The msearch request must be terminated by a newline [\n]",
                "illegal_argument_exception",
            )
        responses = []
        for header_line, body_line in zip(lines[::2], lines[1::2], strict=True):
            header = orjson.loads(header_line)
            target = header.get("index", index)
            if isinstance(target, list):
                target = ",".join(target)
            try:
                found = self.store.search(target, orjson.loads(body_line))
                found["status"] = 200
            except QueryError as exc:
                found = {"error": error_body(exc.type, exc.reason), "status": exc.status}
            responses.append(found)
        return {"took": 0, "responses": responses}

    async def _template(self, request: web.Request, name: str) -> web.StreamResponse:
        """Composable index templates: put, get, exists, delete.

        https://www.elastic.co/guide/en/elasticsearch/reference/current/indices-put-template.html
        """
        templates = self.store.templates
        if request.method == "PUT" or request.method == "POST":
            body = await self._body(request)
            if not body.get("index_patterns"):
                raise QueryError(
                    "Validation Failed: 1: index patterns are missing;",
                    "action_request_validation_exception",
                )
            if request.query.get("create") == "true" and name in templates:
                raise QueryError(
                    f"index template [{name}] already exists", "illegal_argument_exception"
                )
            templates[name] = body
            return _json({"acknowledged": True})
        if request.method == "HEAD":
            return web.Response(status=200 if name in templates else 404, headers=PRODUCT_HEADERS)
        if request.method == "DELETE":
            if templates.pop(name, None) is None:
                return _error(
                    404, "resource_not_found_exception", f"index_template [{name}] missing"
                )
            return _json({"acknowledged": True})
        if name not in templates:
            return _error(
                404, "resource_not_found_exception", f"index template matching [{name}] not found"
            )
        return _json({"index_templates": [{"name": name, "index_template": templates[name]}]})

    def _info(self) -> dict[str, Any]:
        return {
            "name": "pump-test-node",
            "cluster_name": self.cluster_name,
            "cluster_uuid": "pump-test-cluster-uuid",
            "version": {
                "number": VERSION,
                "build_flavor": "default",
                "build_type": "pump_elastic.testing",
                "lucene_version": "10.2.2",
                "minimum_wire_compatibility_version": "8.19.0",
                "minimum_index_compatibility_version": "8.0.0",
            },
            "tagline": "You Know, for Search",
        }

    def _health(self) -> dict[str, Any]:
        """https://www.elastic.co/guide/en/elasticsearch/reference/current/cluster-health.html"""
        shards = len(self.store.indices)
        return {
            "cluster_name": self.cluster_name,
            "status": "green",
            "timed_out": False,
            "number_of_nodes": 1,
            "number_of_data_nodes": 1,
            "active_primary_shards": shards,
            "active_shards": shards,
            "relocating_shards": 0,
            "initializing_shards": 0,
            "unassigned_shards": 0,
            "delayed_unassigned_shards": 0,
            "number_of_pending_tasks": 0,
            "number_of_in_flight_fetch": 0,
            "task_max_waiting_in_queue_millis": 0,
            "active_shards_percent_as_number": 100.0,
        }

    async def _control(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        """Test control: `POST /_pump_testing/faults` (a rule as JSON) and `.../reset`."""
        if parts == ["faults"]:
            try:
                self.faults.configure(await self._body(request))
            except (TypeError, ValueError) as exc:
                return _error(400, "illegal_argument_exception", str(exc))
            return _json({"acknowledged": True})
        if parts == ["reset"]:
            self.reset()
            return _json({"acknowledged": True})
        return _error(404, "resource_not_found_exception", f"no test control {request.path}")


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP reset (SO_LINGER 0), as a node dying mid-request would."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
