"""The admin API against real clients: aiohttp's client, curl, and `pump run --admin`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import Field, SecretStr

import pump
from pump.common import CountingSink
from pump.testing import require_service, wait_until
from pump_http.admin import TOKEN_ENV, AdminError, AdminServer

PASSWORD = "s3cret-Pa55word"
TOKEN = "admin-token-123"


class VaultConfig(pump.ComponentConfig):
    """A connection with a password, to check that it never appears in a response."""

    url: str = Field("http://vault.local", description="Where")
    password: SecretStr = Field(SecretStr(""), description="The password")


class Vault(pump.Connection):
    """Holds a secret; counts as connected."""

    ConfigModel = VaultConfig
    Config: VaultConfig
    connected = pump.Gauge("1 while connected to the server")

    async def start(self) -> None:
        self.connected = 1


class Endless(pump.Source):
    """Hands over a batch of 10 numbers every few milliseconds, until stopped."""

    async def main(self) -> None:
        n = 0
        while True:
            await self.emit(list(range(n, n + 10)))
            n += 10
            await asyncio.sleep(0.005)


class Leaky(pump.Processor):
    """Fails every 100th event with a message that contains the vault's password."""

    def process(self, context: Any, event: Any) -> Any:
        if event % 100 == 0:
            password = self.App.Connections["vault"].Config.password.get_secret_value()
            raise ValueError(f"cannot log in with password {password}")
        return event


def make_app() -> pump.Application:
    app = pump.Application(args=[], exit_when_finished=False)
    app.add_connection(Vault(app, "vault", config={"password": PASSWORD}))
    app.add_lookup(pump.DictionaryLookup(app, "countries", provider=lambda: dict(COUNTRIES)))
    pipeline = pump.Pipeline(app, "numbers", config={"on_error": "skip"})
    pipeline.build(
        Endless(app, pipeline, "endless"), Leaky(app, pipeline), CountingSink(app, pipeline)
    )
    app.add_pipeline(pipeline)
    return app


#: What the "countries" lookup loads (the tests change it, then reload the lookup).
COUNTRIES: dict[str, Any] = {"cz": "Czechia"}


@pytest.fixture
async def running() -> AsyncIterator[tuple[pump.Application, AdminServer]]:
    app = make_app()
    admin = AdminServer(app, "127.0.0.1:0", token="")
    await admin.start()
    await app.start()
    try:
        yield app, admin
    finally:
        await app.stop(timeout=2)
        await admin.stop()


async def fetch(
    admin: AdminServer, method: str, path: str, token: str | None = None
) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, admin.url + path, headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_pipelines_health_ready_and_a_pipeline_in_detail(running):
    app, admin = running
    assert await wait_until(lambda: app.Pipelines["numbers"].counters.errors >= 2, 5)
    status, text = await fetch(admin, "GET", "/health")
    assert (status, text) == (200, '{"status": "ok"}')
    status, text = await fetch(admin, "GET", "/ready")
    assert status == 200 and '"ready": true' in text
    status, text = await fetch(admin, "GET", "/pipelines")
    assert status == 200
    listed = json.loads(text)["pipelines"]
    assert [p["id"] for p in listed] == ["numbers"] and listed[0]["state"] == "running"
    assert listed[0]["counters"]["events_in"] > 0 and "in_flight" in listed[0]
    status, text = await fetch(admin, "GET", "/pipelines/numbers")
    detail = json.loads(text)
    assert status == 200 and set(detail["components"]) == {"endless", "Leaky", "CountingSink"}
    errors = detail["last_errors"]
    assert errors and errors[-1]["component"] == "Leaky" and "event" not in errors[-1]
    status, text = await fetch(admin, "GET", "/pipelines/nope")
    assert status == 404 and json.loads(text)["known_pipelines"] == ["numbers"]


async def test_ready_is_503_until_the_pipelines_are_started():
    app = make_app()
    admin = AdminServer(app, "127.0.0.1:0", token="")
    await admin.start()
    try:
        status, text = await fetch(admin, "GET", "/ready")
        assert status == 503 and "has not started" in text and "'numbers' is stopped" in text
        await app.start()
        assert (await fetch(admin, "GET", "/ready"))[0] == 200
        app.Connections["vault"].connected = 0  # type: ignore[attr-defined]
        status, text = await fetch(admin, "GET", "/ready")
        assert status == 503 and "connection 'vault' is not connected" in text
    finally:
        await app.stop(timeout=2)
        await admin.stop()


async def test_a_scrape_parses_and_matches_the_counters(running):
    app, admin = running
    await asyncio.sleep(0.2)
    status, text = await fetch(admin, "GET", "/metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(text)}
    events_in = families["pump_pipeline_events_in"]
    assert events_in.type == "counter"
    (sample,) = [s for s in events_in.samples if s.name == "pump_pipeline_events_in_total"]
    assert sample.labels == {"pipeline": "numbers"}
    assert 0 < sample.value <= app.Pipelines["numbers"].counters.events_in
    connected = families["pump_connection_connected"]
    assert (
        connected.samples[0].labels == {"connection": "vault"} and connected.samples[0].value == 1
    )
    components = {s.labels["component"] for s in families["pump_component_events_in"].samples}
    assert components == {"endless", "Leaky", "CountingSink"}
    assert "process_cpu_seconds" in families  # the process's own, from prometheus_client


async def test_pause_stops_the_sources_and_resume_starts_them_again(running):
    app, admin = running
    pipeline = app.Pipelines["numbers"]
    assert await wait_until(lambda: pipeline.counters.events_in > 0, 5)
    status, text = await fetch(admin, "POST", "/pipelines/numbers/pause")
    assert status == 200 and '"state": "paused"' in text
    await asyncio.sleep(0.1)
    paused_at = pipeline.counters.events_in
    await asyncio.sleep(0.3)
    assert pipeline.counters.events_in == paused_at
    assert (await fetch(admin, "GET", "/pipelines/numbers"))[1].count('"paused": true') == 1
    status, text = await fetch(admin, "POST", "/pipelines/numbers/resume")
    assert status == 200 and '"state": "running"' in text
    assert await wait_until(lambda: pipeline.counters.events_in > paused_at, 5)
    assert (await fetch(admin, "GET", "/pipelines/numbers/pause"))[0] == 405  # POST only


async def test_a_lookup_is_reloaded_and_a_failed_reload_is_reported(running):
    app, admin = running
    lookup = app.Lookups["countries"]
    COUNTRIES["sk"] = "Slovakia"
    try:
        status, text = await fetch(admin, "POST", "/lookups/countries/reload")
        assert (status, text) == (200, '{"lookup": "countries", "changed": true}')
        assert lookup.get("sk") == "Slovakia"
        lookup.Provider.load = _failing_load  # type: ignore[method-assign]
        status, text = await fetch(admin, "POST", "/lookups/countries/reload")
        assert status == 502 and "the database is away" in text
        assert lookup.get("sk") == "Slovakia"  # the previous content is kept
    finally:
        COUNTRIES.pop("sk", None)
    assert (await fetch(admin, "POST", "/lookups/nope/reload"))[0] == 404


async def _failing_load() -> Any:
    raise ConnectionError("the database is away")


async def test_no_response_contains_a_secret(running):
    app, admin = running
    assert await wait_until(lambda: app.Pipelines["numbers"].counters.errors >= 1, 5)
    assert PASSWORD in str(app.Pipelines["numbers"].errors[-1].as_dict())  # it is there...
    for method, path in [
        ("GET", "/"),
        ("GET", "/pipelines"),
        ("GET", "/pipelines/numbers"),
        ("GET", "/metrics"),
        ("GET", "/ready"),
        ("POST", "/pipelines/numbers/pause"),
        ("GET", "/no/such/path"),
    ]:
        _, text = await fetch(admin, method, path)
        assert PASSWORD not in text, path  # ...and masked in every response
    assert "*****" in (await fetch(admin, "GET", "/pipelines/numbers"))[1]


async def test_a_token_is_required_off_loopback_and_checked_on_every_request():
    app = make_app()
    with pytest.raises(AdminError, match=rf"without a token.*{TOKEN_ENV}"):
        AdminServer(app, "0.0.0.0:0", token="")
    admin = AdminServer(app, "127.0.0.1:0", token=TOKEN)
    await admin.start()
    try:
        for path in ("/health", "/pipelines", "/metrics"):
            assert (await fetch(admin, "GET", path))[0] == 401
            assert (await fetch(admin, "GET", path, token="wrong"))[0] == 401
            assert (await fetch(admin, "GET", path, token=TOKEN))[0] == 200
        assert (await fetch(admin, "POST", "/pipelines/numbers/pause"))[0] == 401
        assert not app.Pipelines["numbers"].paused
        curl = shutil.which("curl") or require_service("curl", "curl is not installed")
        process = await asyncio.create_subprocess_exec(
            curl, "-s", "-H", f"Authorization: Bearer {TOKEN}", admin.url + "/health",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await process.communicate()
        assert out == b'{"status": "ok"}'
        unauthorized = await fetch(admin, "GET", "/health")
        assert TOKEN not in unauthorized[1]
    finally:
        await admin.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


YAML = """
admin: "127.0.0.1:{port}"
pipelines:
  numbers:
    source: {{type: socket.udp, port: 0}}
    sink: {{type: null}}
"""


async def test_pump_run_serves_the_admin_api_from_the_yaml_and_stops_with_the_run(tmp_path):
    port = free_port()
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML.format(port=port))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pump", "run", str(path), "--progress", "log", "--interval", "60",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, TOKEN_ENV: ""},
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"

        async def answers() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(url + "/ready") as response,
                ):
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        for _ in range(100):
            if await answers():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the admin API did not answer")
        async with aiohttp.ClientSession() as session, session.get(url + "/pipelines") as response:
            assert (await response.json())["pipelines"][0]["id"] == "numbers"
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, err.decode()
    assert f"admin API at http://127.0.0.1:{port}" in err.decode()


async def test_pump_run_refuses_a_public_admin_address_without_a_token(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML.format(port=free_port()))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pump", "run", str(path), "--admin", "0.0.0.0:8470",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, TOKEN_ENV: ""},
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert "refusing to listen on 0.0.0.0:8470 without a token" in err.decode()


async def test_without_pump_http_admin_says_which_package_to_install(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML.format(port=free_port()))
    code = (
        "import sys; sys.modules['pump_http'] = None; sys.modules['pump_http.admin'] = None\n"
        "from pump.cli import main\n"
        f"raise SystemExit(main(['run', {str(path)!r}, '--admin', '127.0.0.1:1']))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert "--admin needs pump-http, which is not installed: pip install pump-http" in err.decode()


async def test_the_live_view_shows_where_the_admin_api_answers(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "pipelines:\n  few:\n    source: {type: iterator, iterator: [1, 2, 3]}\n"
        "    sink: {type: null}\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pump", "run", str(path), "--admin", "127.0.0.1:0",
        "--progress", "live", "--interval", "0.1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, TOKEN_ENV: ""},
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert re.search(r"pump — \d+s — admin API http://127\.0\.0\.1:\d+", err.decode())
