"""Wrong settings fail at once, when built or when started against a real RabbitMQ, saying what is
wrong and never showing a secret."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump_amqp import AMQPSource, AMQPTopologyError

SECRET = "yaml-s3cret"


def build(app: pump.Application, source_config: dict[str, Any], sink: Any) -> None:
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(
        AMQPSource(app, pipeline, "amqp", config=source_config), sink(app, pipeline, "sink")
    )
    app.add_pipeline(pipeline)


@pytest.mark.service
def test_the_queue_is_required_and_unknown_keys_are_refused(amqp_url: str) -> None:
    from pump_amqp import AMQPConnection

    app = pump.Application()
    app.add_connection(AMQPConnection(app, "amqp", config={"url": amqp_url}))
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.ConfigError, match="queue"):
        AMQPSource(app, pipeline, "amqp", config={})
    with pytest.raises(pump.ConfigError, match="prefetch"):
        AMQPSource(app, pipeline, "amqp", config={"queue": "q", "prefetch": 5})
    with pytest.raises(pump.BuildError, match="unknown connection 'nope'"):
        AMQPSource(app, pipeline, "nope", config={"queue": "q"})


@pytest.mark.service
async def test_missing_queue_without_declare_fails_the_start_clearly(
    broker: Any, amqp_app: pump.Application, recording_sink: Any
) -> None:
    missing = broker.name("missing")
    build(amqp_app, {"queue": missing}, recording_sink)
    with pytest.raises(AMQPTopologyError) as caught:
        await amqp_app.start()
    message = str(caught.value)
    assert f"queue '{missing}' does not exist" in message
    assert "declare: true" in message
    assert "guest:guest" not in message


@pytest.mark.service
async def test_declaring_a_queue_differently_than_it_exists_is_a_clear_error(
    broker: Any, amqp_app: pump.Application, recording_sink: Any
) -> None:
    queue = await broker.queue(arguments={"x-max-length": 5})
    build(
        amqp_app,
        {"queue": queue, "declare": True, "queue_arguments": {"x-max-length": 7}},
        recording_sink,
    )
    with pytest.raises(AMQPTopologyError) as caught:
        await amqp_app.start()
    assert f"declaring queue '{queue}'" in str(caught.value)
    assert "x-max-length" in str(caught.value)


def test_a_yaml_error_names_the_key_and_hides_the_secret(tmp_path: Any) -> None:
    from pump import declarative

    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "connections:\n"
        f"  amqp: {{type: amqp, url: 'amqp://guest:{SECRET}@127.0.0.1/', heartbeats: 10}}\n"
        "pipelines:\n"
        "  p:\n"
        "    source: {type: amqp, connection: amqp, queue: in, prefetch_count: -1}\n"
        "    sink: {type: amqp, connection: amqp}\n"
    )
    with pytest.raises(pump.ConfigError) as caught:
        declarative.build_file(path)
    message = str(caught.value)
    assert "heartbeats" in message and "prefetch_count" in message
    assert SECRET not in message
