"""pump.testing's contract suites (docs/architecture.md §3) for AMQPSource and AMQPSink."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest

import pump
import pump.testing as contracts
from pump_amqp import AMQPConnection, AMQPSink, AMQPSource

SourceContract = contracts.SourceContract
SinkContract = contracts.SinkContract

pytestmark = pytest.mark.service


def add_connection(app: pump.Application, url: str) -> AMQPConnection:
    if "amqp" not in app.Connections:
        app.add_connection(AMQPConnection(app, "amqp", config={"url": url, "reconnect_delay": 0.2}))
    return app.Connections["amqp"]  # type: ignore[return-value]


class TestAMQPSourceContract(SourceContract):
    supports_redelivery = True
    expected_context_keys = (
        "amqp_queue",
        "amqp_routing_key",
        "amqp_exchange",
        "amqp_headers",
        "amqp_properties",
        "amqp_redelivered",
        "amqp_delivery_tag",
    )
    bad_configs = [{"prefetch_count": 0}, {"batch_size": "many"}, {"on_reject": "drop"}]

    @pytest.fixture(autouse=True)
    def _use_broker(self, broker: Any) -> None:
        self.broker = broker

    async def prepare(self) -> None:
        self.queue = await self.broker.queue()

    def make_source(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        config: Mapping[str, Any] | None = None,
    ) -> AMQPSource:
        add_connection(app, self.broker.url)
        return AMQPSource(
            app,
            pipeline,
            "amqp",
            config={"queue": self.queue, "batch_size": 4, "batch_linger": 0.01, **(config or {})},
        )

    async def produce(self, events: list[Any]) -> None:
        await self.broker.publish(events, queue=self.queue)

    def decode(self, event: Any) -> Any:
        return orjson.loads(event)


class TestAMQPSinkContract(SinkContract):
    bad_configs = [{"publish_timeout": 0}, {"persistent": "sometimes"}]

    @pytest.fixture(autouse=True)
    def _use_broker(self, broker: Any) -> None:
        self.broker = broker

    async def prepare(self) -> None:
        self.exchange = await self.broker.exchange()
        self.queue = await self.broker.queue()
        await self.broker.bind(self.queue, self.exchange, "contract")

    def make_sink(
        self,
        app: pump.Application,
        pipeline: pump.Pipeline,
        config: Mapping[str, Any] | None = None,
    ) -> AMQPSink:
        add_connection(app, self.broker.url)
        return AMQPSink(
            app,
            pipeline,
            "amqp",
            config={"exchange": self.exchange, "routing_key": "contract", **(config or {})},
        )

    def make_failing_sink(self, app: pump.Application, pipeline: pump.Pipeline) -> AMQPSink:
        # No queue is bound with this key: every (mandatory) message comes back unroutable.
        return self.make_sink(app, pipeline, {"routing_key": "unbound"})

    async def read_back(self) -> list[Any]:
        return [orjson.loads(m.body) for m in await self.broker.peek(self.queue)]
