"""pump-elastic as a plugin: its entry points and `from_config`."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import pytest

import pump
from pump_elastic import ElasticsearchConnection, ElasticsearchSink


def _group(name: str) -> dict[str, Any]:
    return {ep.name: ep.load() for ep in entry_points(group=name) if ep.value.startswith("pump_elastic")}


def test_entry_points_name_the_classes() -> None:
    assert _group("pump.connections") == {"elasticsearch": ElasticsearchConnection}
    assert _group("pump.sinks") == {"elasticsearch": ElasticsearchSink}


def test_from_config_takes_the_connection_id_from_the_config() -> None:
    app = pump.Application()
    connection = ElasticsearchConnection.from_config(app, None, "es", {"url": "http://h:9200"})
    app.add_connection(connection)
    pipeline = pump.Pipeline(app, "p")
    sink = ElasticsearchSink.from_config(app, pipeline, "out", {"connection": "es", "index": "x"})
    assert sink.Connection is connection and sink.Id == "out" and sink.Config.index == "x"
    with pytest.raises(pump.ConfigError, match="key 'connection': required"):
        ElasticsearchSink.from_config(app, pipeline, "out", {"index": "x"})
