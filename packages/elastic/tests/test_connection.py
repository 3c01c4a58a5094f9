"""ElasticsearchConnection: node URLs, authentication, retries, masked secrets."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import ApiError

import pump
from pump_elastic import ClusterUnavailable, ElasticsearchConnection
from pump_elastic.testing import ElasticsearchTestServer

SECRET = "s3cret-Pa55"


def test_urls_from_a_list_or_a_separated_string() -> None:
    app = pump.Application()
    one = ElasticsearchConnection(
        app, "a", config={"url": "http://n1:9200; http://n2:9200/,http://n3:9200"}
    )
    assert one.urls == ["http://n1:9200", "http://n2:9200", "http://n3:9200"]
    two = ElasticsearchConnection(app, "b", config={"url": ["https://n1:9243", "https://n2:9243"]})
    assert two.urls == ["https://n1:9243", "https://n2:9243"]


def test_secrets_are_masked_in_repr_and_describe() -> None:
    app = pump.Application()
    connection = ElasticsearchConnection(
        app,
        "es",
        config={
            "url": f"http://elastic:{SECRET}@localhost:9200",
        },
    )
    assert SECRET not in repr(connection.Config)
    assert SECRET not in str(connection.Config.masked())
    assert SECRET not in connection.describe_nodes()
    assert connection.urls == ["http://localhost:9200"]
    assert connection.client_options()["basic_auth"] == ("elastic", SECRET)


@pytest.fixture
def secured() -> Any:
    server = ElasticsearchTestServer(
        users={"elastic": SECRET}, api_keys=["a2V5"], bearer_tokens=["tok"]
    )
    url = server.start_in_thread()
    yield url
    server.stop_thread()


@pytest.mark.parametrize(
    "auth",
    [
        {"username": "elastic", "password": SECRET},
        {"api_key": "a2V5"},
        {"bearer_token": "tok"},
    ],
)
async def test_each_way_to_authenticate_is_accepted(secured: str, auth: dict[str, str]) -> None:
    connection = ElasticsearchConnection(pump.Application(), "es", config={"url": secured, **auth})
    try:
        await connection.start()
        info = await connection.check()
        assert info["version"]["number"].startswith("9.")
    finally:
        await connection.stop()


async def test_wrong_credentials_fail_the_start_clearly_without_the_password(secured: str) -> None:
    wrong = "wrong-" + SECRET
    connection = ElasticsearchConnection(
        pump.Application(),
        "es",
        config={
            "url": secured,
            "username": "elastic",
            "password": wrong,
        },
    )
    try:
        with pytest.raises(ClusterUnavailable) as caught:
            await connection.start()
    finally:
        await connection.stop()
    message = str(caught.value)
    assert "authentication failed" in message and "'elastic'" in message
    assert "ElasticsearchConnection 'es'" in message
    assert wrong not in message and SECRET not in message


async def test_requests_are_retried_on_503_then_succeed(es: Any) -> None:
    es.faults.fail_requests(503, count=2, path="_cluster")
    connection = ElasticsearchConnection(
        pump.Application(), "es", config=es.connection_config(retries=3)
    )
    try:
        health = await connection.request("health", lambda c: c.cluster.health())
        assert health["status"] in ("green", "yellow")
        assert connection.retried == 2
    finally:
        await connection.stop()


async def test_retries_are_bounded_and_the_last_error_is_raised(es: Any) -> None:
    es.faults.fail_requests(502, count=None, path="_cluster")
    connection = ElasticsearchConnection(
        pump.Application(), "es", config=es.connection_config(retries=2)
    )
    try:
        with pytest.raises(ApiError) as caught:
            await connection.request("health", lambda c: c.cluster.health())
        assert caught.value.meta.status == 502
        assert connection.retried == 2
    finally:
        await connection.stop()


async def test_a_400_is_not_retried(es: Any) -> None:
    connection = ElasticsearchConnection(pump.Application(), "es", config=es.connection_config())
    try:
        with pytest.raises(ApiError):
            await connection.request(
                "search", lambda c: c.search(index="Bad*Name", query={"nope": {}})
            )
        assert connection.retried == 0
    finally:
        await connection.stop()
