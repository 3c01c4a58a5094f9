"""Bad configuration: refused naming the component, the key and the problem; no secret shown."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import pump
from pump_elastic import ClusterUnavailable, ElasticsearchConnection, ElasticsearchSink

SECRET = "do-not-print-me"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_cluster_fails_the_start_naming_the_node() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    connection = ElasticsearchConnection(
        pump.Application(), "es", config={"url": url, "retries": 0}
    )
    try:
        with pytest.raises(ClusterUnavailable, match="cannot reach") as caught:
            await connection.start()
    finally:
        await connection.stop()
    assert url in str(caught.value) and "ElasticsearchConnection 'es'" in str(caught.value)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"url": "localhost:9200"}, "not an http(s)://host[:port] URL"),
        ({"url": ""}, "url is empty"),
        ({"username": "u", "api_key": SECRET}, "one way to authenticate"),
        ({"password": SECRET}, "password: set, but username is not"),
        ({"tls_ca_file": "/no/such/ca.pem"}, "no such file"),
        ({"reconnect_delay": 5, "reconnect_delay_max": 1}, "reconnect_delay_max is below"),
        ({"retries": -1}, "retries"),
    ],
)
def test_bad_connection_config_is_refused(config: dict[str, Any], words: str) -> None:
    with pytest.raises(pump.ConfigError) as caught:
        ElasticsearchConnection(pump.Application(), "es", config=config)
    message = str(caught.value)
    assert words in message and "ElasticsearchConnection 'es'" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"index": "Logs"}, "index"),
        ({"index": "_hidden"}, "index"),
        ({"data_feeder": "upsert"}, "data_feeder"),
        ({"data_feeder": "no.such.module:feeder"}, "data_feeder"),
        ({"bulk_max_actions": 0}, "bulk_max_actions"),
        ({"refresh": "sometimes"}, "refresh"),
        ({"on_conflict": "ignore"}, "on_conflict"),
    ],
)
def test_bad_sink_config_is_refused_naming_the_key(config: dict[str, Any], key: str) -> None:
    app = pump.Application()
    app.add_connection(ElasticsearchConnection(app, "es"))
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.ConfigError, match=f"key '{key}'"):
        ElasticsearchSink(app, pipeline, "es", config=config)


def test_a_sink_without_a_known_connection_is_refused() -> None:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.BuildError, match="unknown connection 'nope'"):
        ElasticsearchSink(app, pipeline, "nope", config={"index": "x"})


async def test_an_invalid_index_from_the_context_is_dead_lettered(es: Any, sink_run: Any) -> None:
    run = await sink_run(es, [({"es_index": "Not_Valid"}, {"n": 1})], {"index": ""})
    dead = run.dead_letters()
    assert len(dead) == 1 and "invalid_index_name_exception" in dead[0]["error"]
