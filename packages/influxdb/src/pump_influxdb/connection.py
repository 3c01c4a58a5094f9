"""InfluxDBConnection: where the server is, which API it speaks, how to authenticate.

One `influxdb_client.client.influxdb_client_async.InfluxDBClientAsync` (aiohttp underneath) is
shared by the components of a connection. The 2.x/3.x write API goes through the client's
write service (`/api/v2/write`, org and bucket, token); the 1.x API (`/write` and `/query`,
database and retention policy, user and password) through the same client's HTTP layer,
since InfluxDB 1.x before 1.8 has no `/api/v2/write`. `api: auto` asks the server (`/ping`,
then `/health`) which it is.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import aiohttp
import orjson
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.rest import ApiException
from influxdb_client.service.write_service import WriteService
from pydantic import Field, SecretStr, model_validator

import pump
from pump.backoff import retry_after
from pump_influxdb.errors import (
    InfluxDBAuthError,
    InfluxDBError,
    InfluxDBNotFound,
    InfluxDBQueryError,
    InfluxDBUnavailable,
)
from pump_influxdb.lineprotocol import NANOSECONDS

if TYPE_CHECKING:
    from pump import Application

L = logging.getLogger(__name__)

#: `precision` of the 1.x write API (it reads "us" as nanoseconds).
V1_PRECISION = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}
#: `epoch` of the 1.x query API.
V1_EPOCH = {"ns": "ns", "us": "u", "ms": "ms", "s": "s"}


class InfluxDBConnectionConfig(pump.TLSConfig, pump.ReconnectConfig):
    """Settings of an InfluxDBConnection (TLS keys and retry pauses as in every connector)."""

    url: str = Field(
        "http://localhost:8086",
        description="Server URL, http(s)://host:port (a path prefix allowed)",
        examples=["https://influx.example:8086"],
    )
    api: Literal["auto", "v1", "v2"] = Field(
        "auto",
        description="v1 (/write, /query: database, user, password), v2 (/api/v2/write: org, "
        "bucket, token; InfluxDB 2.x, 3.x, Cloud), auto (ask the server's /ping and /health)",
    )
    database: str = Field("", description="1.x: the database", examples=["telegraf"])
    retention_policy: str = Field(
        "", description="1.x: the retention policy ('': the database's default)"
    )
    username: str = Field("", description="1.x: user name ('': no authentication)")
    password: SecretStr = Field(SecretStr(""), description="1.x: password (secret)")
    org: str = Field("", description="2.x: organization name or id", examples=["my-org"])
    bucket: str = Field("", description="2.x/3.x: bucket (3.x: database); 'db/rp' on 1.8's v2 API")
    token: SecretStr = Field(SecretStr(""), description="2.x/3.x: API token (secret)")
    timeout: float = Field(10.0, gt=0, le=3600, description="Seconds one request may take")
    gzip: bool = Field(False, description="Gzip request bodies (writes)")
    gzip_level: int = Field(1, ge=1, le=9, description="Gzip compression level, 1 (fast) to 9")
    max_connections: int = Field(
        10, gt=0, le=1000, description="HTTP connections kept open to the server at most"
    )
    check_on_start: bool = Field(
        True,
        description="On start, reach the server and check the database or bucket, failing "
        "clearly when it cannot be used",
    )

    @model_validator(mode="after")
    def _consistent(self) -> InfluxDBConnectionConfig:
        problems = []
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append("key 'url': not an http(s)://host[:port] URL")
        elif parts.username is not None or parts.password is not None:
            problems.append(
                "key 'url': credentials in the URL; give them as username/password or token"
            )
        if self.api == "v1" and not self.database and not self.bucket:
            problems.append("key 'database': required with api v1")
        if self.api == "v2" and not self.bucket and not self.database:
            problems.append("key 'bucket': required with api v2")
        if self.api == "auto" and not self.database and not self.bucket:
            problems.append("key 'database' (1.x) or 'bucket' (2.x/3.x): give one")
        if self.password.get_secret_value() and not self.username:
            problems.append("key 'password': set, but 'username' is not")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Answer:
    """A server's answer to a request: status, text of the body, headers."""

    __slots__ = ("headers", "status", "text")

    def __init__(self, status: int, text: str, headers: Mapping[str, str]) -> None:
        self.status = status
        self.text = text
        self.headers = headers

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        """The server's error message (the `error` or `message` of a JSON body, else the text)."""
        text = self.text.strip()
        if text.startswith("{"):
            try:
                body = orjson.loads(text)
            except orjson.JSONDecodeError:
                return text[:2000]
            if isinstance(body, dict):
                for key in ("error", "message"):
                    if isinstance(body.get(key), str):
                        return str(body[key])[:2000]
        return text[:2000] or f"HTTP {self.status}"

    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (Retry-After: seconds or an HTTP date), if any."""
        return retry_after(_header(self.headers, "Retry-After"))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


class InfluxDBConnection(pump.Connection):
    """The server, its API and credentials; gives components one shared InfluxDBClientAsync.

    Secrets (password, token) never appear in messages, logs or `describe` output. The
    connection does not retry on its own: each component retries with `Config.backoff()`.
    """

    ConfigModel = InfluxDBConnectionConfig
    Config: InfluxDBConnectionConfig

    connected = pump.Gauge("1 while the server answers, 0 after a request could not reach it")
    requests_failed = pump.Counter("Requests that could not reach the server or timed out")

    def __init__(
        self, app: Application, id: str | None = None, config: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(app, id, config)
        self._client: InfluxDBClientAsync | None = None
        self._write_service: WriteService | None = None
        #: The API in use ("v1" or "v2"), known once started (or given).
        self.api: str | None = None if self.Config.api == "auto" else self.Config.api
        #: The server's version as it reports it ('' when it does not say).
        self.server_version = ""
        self._log = pump.RateLimitedLog(L, 10.0)

    # -- what is written where ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server URL (it never holds credentials)."""
        return self.Config.url.rstrip("/")

    @property
    def database(self) -> str:
        """The 1.x database (from `bucket` 'db/rp' when only that is given)."""
        return self.Config.database or self.Config.bucket.split("/", 1)[0]

    @property
    def retention_policy(self) -> str:
        """The 1.x retention policy ('' for the default)."""
        if self.Config.database:
            return self.Config.retention_policy
        return self.Config.bucket.split("/", 1)[1] if "/" in self.Config.bucket else ""

    @property
    def bucket(self) -> str:
        """The 2.x bucket (from `database`/`retention_policy` when only those are given)."""
        if self.Config.bucket:
            return self.Config.bucket
        rp = self.Config.retention_policy
        return f"{self.Config.database}/{rp}" if rp else self.Config.database

    def target(self) -> str:
        """Where writes go, for messages: the URL and the database or bucket."""
        if self.api == "v1":
            rp = f", retention policy {self.retention_policy!r}" if self.retention_policy else ""
            return f"{self.url} (database {self.database!r}{rp})"
        org = f", org {self.Config.org!r}" if self.Config.org else ""
        return f"{self.url} (bucket {self.bucket!r}{org})"

    # -- the client -----------------------------------------------------------------------------

    def _auth_header(self) -> str | None:
        cfg = self.Config
        token = cfg.token.get_secret_value()
        if token:
            return f"Token {token}"
        if cfg.username:
            pair = f"{cfg.username}:{cfg.password.get_secret_value()}"
            if self.api == "v2":  # InfluxDB 1.8's v2 API takes "user:password" as the token
                return f"Token {pair}"
            return "Basic " + base64.b64encode(pair.encode()).decode()
        return None

    @property
    def client(self) -> InfluxDBClientAsync:
        """The shared client (made on first use, inside the running event loop)."""
        if self._client is None:
            cfg = self.Config
            options: dict[str, Any] = {
                "url": self.url,
                "org": cfg.org or None,
                "timeout": int(cfg.timeout * 1000),
                "enable_gzip": False,  # the sink compresses, at its own level, off the loop
                "connection_pool_maxsize": cfg.max_connections,
            }
            if self.url.startswith("https:"):
                options["ssl_context"] = cfg.ssl_context()
            client = InfluxDBClientAsync(**options)
            auth = self._auth_header()
            if auth is not None:
                client.api_client.set_default_header("Authorization", auth)
            self._client = client
            self._write_service = WriteService(client.api_client)
        return self._client

    async def start(self) -> None:
        """Find out the API (auto) and check the database or bucket, failing clearly."""
        try:
            if self.Config.api == "auto":
                self.api = await self.detect_api()
            elif self.Config.check_on_start:
                await self.ping()
            if self.Config.check_on_start:
                await self.check_destination()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close the client's connections."""
        client, self._client = self._client, None
        self._write_service = None
        if client is not None:
            try:
                await client.close()
            except Exception:  # a client already gone is closed
                L.debug("%s: closing the client failed", self.location(), exc_info=True)

    # -- requests -------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, Any]] | None = None,
        body: bytes | None = None,
        form: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request through the client's HTTP layer; InfluxDBUnavailable if it got no answer."""
        header_params = dict(headers or {})
        if form is not None:
            header_params["Content-Type"] = "application/x-www-form-urlencoded"
        elif "Content-Type" not in header_params:
            header_params["Content-Type"] = "text/plain; charset=utf-8"
        try:
            response = await self.client.api_client.call_api(
                path,
                method,
                query_params=params or [],
                header_params=header_params,
                body=body,
                post_params=form or [],
                response_type=None,
                auth_settings=[],
                _preload_content=False,
            )
            try:
                data = await response.read()
            finally:
                response.release()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._lost()
            raise InfluxDBUnavailable(
                f"{self.location()}: no answer from {self.url} ({_describe(exc)})"
            ) from None
        self.connected = 1
        return Answer(int(response.status), _text(data), dict(response.headers))

    def _lost(self) -> None:
        self.requests_failed += 1
        self.connected = 0

    async def write(self, body: bytes, precision: str, gzipped: bool) -> Answer:
        """POST `body` (line protocol) to the write API in use; the server's answer."""
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        if self.api == "v1":
            params: list[tuple[str, Any]] = [("db", self.database)]
            if self.retention_policy:
                params.append(("rp", self.retention_policy))
            params.append(("precision", V1_PRECISION[precision]))
            return await self.request("POST", "/write", params=params, body=body, headers=headers)
        self.client  # noqa: B018 (made on first use, with the write service)
        assert self._write_service is not None
        try:
            result = await self._write_service.post_write_async(
                org=self.Config.org or "-",
                bucket=self.bucket,
                body=body,
                precision=precision,
                content_type=headers["Content-Type"],
                **({"content_encoding": "gzip"} if gzipped else {}),
                _return_http_data_only=False,
            )
        except ApiException as exc:
            self.connected = 1
            return Answer(int(exc.status or 0), _text(exc.body), dict(exc.headers or {}))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._lost()
            raise InfluxDBUnavailable(
                f"{self.location()}: no answer from {self.url} ({_describe(exc)})"
            ) from None
        self.connected = 1
        return Answer(int(result[1]), "", dict(result[2] or {}))

    # -- start: which server, which API, is the destination there -----------------------------

    async def ping(self) -> Answer:
        """GET /ping; InfluxDBUnavailable or InfluxDBAuthError when it cannot be used."""
        try:
            answer = await self.request("GET", "/ping")
        except InfluxDBUnavailable as exc:
            raise InfluxDBUnavailable(f"{exc} (is the server running there?)") from None
        self._refuse_auth(answer)
        version = _header(answer.headers, "X-Influxdb-Version")
        if version:
            self.server_version = version
        return answer

    async def detect_api(self) -> str:
        """v1 or v2, from the version the server reports (/ping, /health), else from the keys."""
        await self.ping()
        version = self.server_version
        if not version:
            health = await self.request("GET", "/health")
            if health.ok and health.text.startswith("{"):
                try:
                    version = str(orjson.loads(health.text).get("version") or "")
                except (orjson.JSONDecodeError, AttributeError):
                    version = ""
        major = version.lstrip("vV")[:1]
        if major == "1":
            api = "v1"
        elif major in ("2", "3"):
            api = "v2"
        else:  # no InfluxDB version (another server speaking line protocol): the keys decide
            api = "v2" if self.Config.bucket else "v1"
        L.debug("%s: server version %r: api %s", self.location(), version, api)
        return api

    def _refuse_auth(self, answer: Answer) -> None:
        if answer.status in (401, 403):
            raise InfluxDBAuthError(f"{self.location()}: {self.explain_auth(answer)}")

    def explain_auth(self, answer: Answer) -> str:
        """Why the server refused the credentials, naming the keys (never their values)."""
        cfg = self.Config
        if cfg.token.get_secret_value():
            who = "the token (key 'token')"
        elif cfg.username:
            who = f"user {cfg.username!r} (keys 'username', 'password')"
        else:
            who = "no credentials (set username/password or token)"
        refused = "refused" if answer.status == 401 else "not allowed"
        return f"{self.url} answered {answer.status}: {who} {refused}: {answer.message}"

    async def check_destination(self) -> None:
        """The database (1.x) or bucket (2.x) exists: InfluxDBNotFound naming the key if not."""
        if self.api == "v1":
            await self._check_database()
        else:
            await self._check_bucket()

    async def _check_database(self) -> None:
        if not self.server_version:
            return  # not InfluxDB itself (its /query may not exist): nothing to ask
        answer = await self.request("POST", "/query", form=[("q", "SHOW DATABASES")])
        self._refuse_auth(answer)
        if not answer.ok:
            raise InfluxDBError(
                f"{self.location()}: SHOW DATABASES at {self.url} failed: {answer.message}"
            )
        names = {row[0] for row in _rows(answer)}
        key = "database" if self.Config.database else "bucket"
        if self.database not in names:
            known = ", ".join(sorted(names)) or "none the user may see"
            raise InfluxDBNotFound(
                f"{self.location()}: unknown database {self.database!r} (key {key!r}) at "
                f"{self.url}; databases: {known}"
            )
        if not self.retention_policy:
            return
        statement = f'SHOW RETENTION POLICIES ON "{_quote_identifier(self.database)}"'
        answer = await self.request("POST", "/query", form=[("q", statement)])
        policies = {row[0] for row in _rows(answer)}
        if self.retention_policy not in policies:
            raise InfluxDBNotFound(
                f"{self.location()}: unknown retention policy {self.retention_policy!r} "
                f"(key 'retention_policy') on database {self.database!r}; policies: "
                f"{', '.join(sorted(policies)) or 'none'}"
            )

    async def _check_bucket(self) -> None:
        params = [("name", self.bucket)]
        if self.Config.org:
            params.append(("org", self.Config.org))
        answer = await self.request("GET", "/api/v2/buckets", params=params)
        self._refuse_auth(answer)
        if not answer.ok:
            # no bucket API (3.x, or another server speaking line protocol): nothing to check
            L.debug("%s: no bucket check (%s)", self.location(), answer.status)
            return
        try:
            found = orjson.loads(answer.text).get("buckets")
        except (orjson.JSONDecodeError, AttributeError):
            return
        if isinstance(found, list) and not found:
            raise InfluxDBNotFound(
                f"{self.location()}: unknown bucket {self.bucket!r} (key 'bucket') at {self.url}"
                + (f" in org {self.Config.org!r}" if self.Config.org else "")
            )

    # -- queries --------------------------------------------------------------------------------

    async def query_v1(
        self,
        query: str,
        *,
        params: Mapping[str, Any] | None = None,
        epoch: str = "ns",
        chunk_size: int = 10_000,
        max_chunk_bytes: int = 64 * 1024 * 1024,
    ) -> AsyncIterator[dict[str, Any]]:
        """Run an InfluxQL query (1.x /query, chunked); yields each JSON chunk the server sends."""
        query_params: list[tuple[str, Any]] = [("db", self.database)]
        if self.retention_policy:
            query_params.append(("rp", self.retention_policy))
        query_params += [("epoch", V1_EPOCH[epoch]), ("chunked", "true")]
        query_params.append(("chunk_size", chunk_size))
        form = [("q", query)]
        if params:
            form.append(("params", orjson.dumps(dict(params)).decode()))
        header_params = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            response = await self.client.api_client.call_api(
                "/query",
                "POST",
                query_params=query_params,
                header_params=header_params,
                post_params=form,
                response_type=None,
                auth_settings=[],
                _preload_content=False,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._lost()
            raise InfluxDBUnavailable(
                f"{self.location()}: no answer from {self.url} ({_describe(exc)})"
            ) from None
        self.connected = 1
        try:
            if response.status >= 300:
                text = (await response.read()).decode("utf-8", "replace")
                answer = Answer(response.status, text, dict(response.headers))
                self._refuse_auth(answer)
                if response.status in (429, 502, 503, 504):
                    raise InfluxDBUnavailable(
                        f"{self.location()}: {self.url} answered {response.status}: "
                        f"{answer.message}"
                    )
                raise InfluxDBQueryError(
                    f"{self.location()}: query refused with {response.status}: {answer.message}"
                )
            buffer = b""
            async for piece in response.content.iter_chunked(256 * 1024):
                buffer += piece
                if b"\n" not in piece:
                    if len(buffer) > max_chunk_bytes:
                        raise InfluxDBQueryError(
                            f"{self.location()}: a chunk of the answer exceeds {max_chunk_bytes} "
                            "bytes (lower batch_size, or raise max_chunk_bytes)"
                        )
                    continue
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    if line.strip():
                        yield self._chunk(line)
            if buffer.strip():
                yield self._chunk(buffer)
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._lost()
            raise InfluxDBUnavailable(
                f"{self.location()}: the answer from {self.url} broke off ({_describe(exc)})"
            ) from None
        finally:
            response.release()

    def _chunk(self, line: bytes) -> dict[str, Any]:
        try:
            chunk = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InfluxDBQueryError(f"{self.location()}: the answer is not JSON: {exc}") from None
        if not isinstance(chunk, dict):
            raise InfluxDBQueryError(f"{self.location()}: the answer is not a JSON object")
        if "error" in chunk:
            raise InfluxDBQueryError(f"{self.location()}: the query failed: {chunk['error']}")
        return chunk


def _rows(answer: Answer) -> list[list[Any]]:
    """The rows of the first series of a (not chunked) 1.x query answer."""
    try:
        body = orjson.loads(answer.text or b"{}")
    except orjson.JSONDecodeError:
        return []
    rows: list[list[Any]] = []
    for result in body.get("results", []) or []:
        for series in result.get("series", []) or []:
            rows += series.get("values", []) or []
    return rows


def _quote_identifier(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _text(body: Any) -> str:
    if isinstance(body, bytes | bytearray):
        return bytes(body).decode("utf-8", "replace")
    return "" if body is None else str(body)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out (key 'timeout')"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


__all__ = ["NANOSECONDS", "Answer", "InfluxDBConnection", "InfluxDBConnectionConfig"]
