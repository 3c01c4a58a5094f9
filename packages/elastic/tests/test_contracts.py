"""pump.testing's contract suites, run against the Elasticsearch components."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump.testing import SinkContract
from pump_elastic import ElasticsearchConnection, ElasticsearchSink


def _connection(app: pump.Application, es: Any) -> str:
    if "es" not in app.Connections:
        app.add_connection(
            ElasticsearchConnection(app, "es", config=es.connection_config(retries=1))
        )
    return "es"


class TestElasticsearchSinkContract(SinkContract):
    bad_configs = ({"bulk_max_actions": 0}, {"index": "UPPER"}, {"data_feeder": "nope"})

    @pytest.fixture(autouse=True)
    def _cluster(self, es: Any) -> None:
        self.es = es

    def prepare(self) -> None:
        self.index = self.es.index("contract")

    def make_sink(
        self, app: pump.Application, pipeline: pump.Pipeline, config: Any = None
    ) -> ElasticsearchSink:
        merged = {"index": self.index, "bulk_flush_interval": 0.01, **(config or {})}
        return ElasticsearchSink(app, pipeline, _connection(app, self.es), config=merged)

    def make_failing_sink(
        self, app: pump.Application, pipeline: pump.Pipeline
    ) -> ElasticsearchSink:
        # every event names an index Elasticsearch refuses (invalid_index_name_exception)
        sink = self.make_sink(app, pipeline, {"index": "", "data_feeder": f"{__name__}:bad_index"})
        return sink

    def interrupt_destination(self) -> None:
        self.es.faults.fail_requests(503, count=None, path="_bulk")

    def restore_destination(self) -> None:
        self.es.faults.clear()

    def read_back(self) -> list[Any]:
        return list(self.es.docs(self.index).values())


def bad_index(context: dict[str, Any], event: Any) -> tuple[dict[str, Any], Any]:
    """A data feeder writing into an index name Elasticsearch refuses."""
    return {"index": {"_index": "Invalid Index"}}, event
