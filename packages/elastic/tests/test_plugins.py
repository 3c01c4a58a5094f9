"""pump-elastic as a plugin: its entry points (PluginContract) and `from_config`."""

from __future__ import annotations

import pytest

import pump
from pump.testing import PluginContract
from pump_elastic import (
    ElasticsearchAggsSource,
    ElasticsearchConnection,
    ElasticsearchIndexInitializer,
    ElasticsearchLookup,
    ElasticsearchSink,
    ElasticsearchSource,
)


class TestElasticPlugins(PluginContract):
    distribution = "pump-elastic"
    namespace = "elasticsearch"
    declared = {
        ("connection", "elasticsearch"): ElasticsearchConnection,
        ("sink", "elasticsearch"): ElasticsearchSink,
        ("source", "elasticsearch"): ElasticsearchSource,
        ("source", "elasticsearch.aggs"): ElasticsearchAggsSource,
        ("lookup", "elasticsearch"): ElasticsearchLookup,
        ("processor", "elasticsearch.index_initializer"): ElasticsearchIndexInitializer,
    }


def test_from_config_takes_the_connection_id_from_the_config() -> None:
    app = pump.Application()
    connection = ElasticsearchConnection.from_config(app, None, "es", {"url": "http://h:9200"})
    app.add_connection(connection)
    pipeline = pump.Pipeline(app, "p")
    sink = ElasticsearchSink.from_config(app, pipeline, "out", {"connection": "es", "index": "x"})
    assert sink.Connection is connection and sink.Id == "out" and sink.Config.index == "x"
    with pytest.raises(pump.ConfigError, match="key 'connection': required"):
        ElasticsearchSink.from_config(app, pipeline, "out", {"index": "x"})
