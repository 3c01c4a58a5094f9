"""Wrong settings fail at once, when built or started on a real broker, saying what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

import pump
from pump.deadletter import original_event
from pump_kafka import (
    IdempotenceUnsupported,
    KafkaConnection,
    KafkaSink,
    KafkaSource,
    TopicMissing,
)


async def test_missing_source_topic_stops_the_pipeline_with_a_clear_error(kafka: Any) -> None:
    missing = kafka.name("missing")
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(
        KafkaSource(app, pipeline, "kafka", config=kafka.source_config(missing, kafka.name("g"))),
        pump.common.NullSink(app, pipeline),
    )
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await kafka.wait_for(pipeline.is_error, timeout=15)
    finally:
        code = await app.stop()
    assert code == 1
    assert pipeline.error is not None
    error = pipeline.error.error
    assert isinstance(error, TopicMissing)
    assert missing in str(error) and "kafka.topic_initializer" in str(error)
    assert missing not in await kafka.topics(), "checking must not create the topic"


async def test_missing_sink_topic_fails_the_start(kafka: Any) -> None:
    missing = kafka.name("missing")
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(
        pump.common.IteratorSource(app, pipeline, lambda: iter([b"x"])),
        KafkaSink(app, pipeline, "kafka", config=kafka.sink_config(topic=missing)),
    )
    app.add_pipeline(pipeline)
    with pytest.raises(TopicMissing) as caught:
        await app.start()
    assert missing in str(caught.value) and "check_topics" in str(caught.value)
    assert missing not in await kafka.topics()


async def test_event_routed_to_a_missing_topic_is_not_acknowledged(kafka: Any) -> None:
    topic = await kafka.create_topic()
    missing = kafka.name("missing")

    class Misroute(pump.Processor):
        writes_context = True

        def process(self, context: dict[str, Any], event: Any) -> Any:
            if event == b"lost":
                context["kafka_sink_topic"] = missing
            return event

    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(
        app, "p", config={"on_error": "dead_letter", "sink_retries": 1, "retry_backoff": 0.01}
    )
    dead = pump.common.ListSink(app, pipeline, "dead")
    pipeline.build(
        pump.common.IteratorSource(app, pipeline, lambda: iter([b"ok", b"lost", b"ok2"])),
        Misroute(app, pipeline),
        KafkaSink(app, pipeline, "kafka", config=kafka.sink_config(topic=topic)),
    )
    pipeline.set_dead_letter(dead)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await kafka.wait_for(
            lambda: pipeline.in_flight == 0 and pipeline.sources_finished(), timeout=15
        )
    finally:
        await app.stop()
    assert sorted(r.value for r in await kafka.read(topic, count=2)) == [b"ok", b"ok2"]
    # the dead letter holds bytes as UTF-8 text (JSON-safe); original_event gives them back
    assert [(d["event"], d["event_encoding"]) for d in dead.events] == [("lost", "utf-8")]
    assert [original_event(d) for d in dead.events] == [b"lost"]
    assert "TopicMissing" in dead.events[0]["error"] and missing in dead.events[0]["error"]


async def test_an_event_the_sink_cannot_encode_is_dead_lettered_at_once(
    kafka: Any, caplog: Any
) -> None:
    topic = await kafka.create_topic()

    class Route(pump.Processor):
        writes_context = True

        def process(self, context: dict[str, Any], event: Any) -> Any:
            if event != {"route": "nowhere"}:
                context["kafka_sink_topic"] = topic
            return event

    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    # sink_retries: -1 (forever): only a failure known to be permanent reaches the dead letters
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter"})
    dead = pump.common.ListSink(app, pipeline, "dead")
    events = [{"n": 1}, {"n": {1, 2}}, {"route": "nowhere"}, {"n": 3}]
    pipeline.build(
        pump.common.IteratorSource(app, pipeline, lambda: iter(events)),
        Route(app, pipeline),
        KafkaSink(app, pipeline, "kafka", config=kafka.sink_config(topic="")),
    )
    pipeline.set_dead_letter(dead)
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await kafka.wait_for(
            lambda: pipeline.in_flight == 0 and pipeline.sources_finished(), timeout=15
        )
    finally:
        await app.stop()
    assert sorted(r.value for r in await kafka.read(topic, count=2)) == [b'{"n":1}', b'{"n":3}']
    assert [d["event"] for d in dead.events] == [{"n": [1, 2]}, {"route": "nowhere"}]
    errors = [d["error"] for d in dead.events]
    assert errors[0].startswith("PermanentWriteError: pipeline 'p' component 'KafkaSink'")
    assert "Type is not JSON serializable: set" in errors[0]
    assert "TopicMissing" in errors[1] and "names no output topic" in errors[1]
    assert "retry" not in caplog.text


async def test_idempotence_on_a_broker_without_it_is_a_clear_error(kafka: Any) -> None:
    if kafka.broker.tansu is None:
        pytest.skip("only Tansu lacks idempotent producing")
    topic = await kafka.create_topic()
    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p")
    pipeline.build(
        pump.common.IteratorSource(app, pipeline, lambda: iter([b"x"])),
        KafkaSink(
            app, pipeline, "kafka", config={"topic": topic}
        ),  # enable_idempotence: true by default
    )
    app.add_pipeline(pipeline)
    with pytest.raises(IdempotenceUnsupported) as caught:
        await app.start()
    assert "enable_idempotence: false" in str(caught.value)


@pytest.mark.parametrize(("records", "permanent"), [(1, True), (3, False)])
async def test_a_lone_record_the_broker_rejects_as_too_large_fails_permanently(
    records: int, permanent: bool
) -> None:
    import asyncio
    import types

    from aiokafka.errors import MessageSizeTooLargeError

    from pump_kafka.sink import _Write

    app = pump.Application()
    app.add_connection(KafkaConnection(app, "kafka", config={"bootstrap_servers": "127.0.0.1:9"}))
    pipeline = pump.Pipeline(app, "p")
    sink = KafkaSink(app, pipeline, "kafka", config={"topic": "t"})
    write = _Write([b"x"] * records, [{}] * records, asyncio.get_running_loop().create_future())
    batch = types.SimpleNamespace(count=records, owners=[(write, list(range(records)))])
    sink._delivered(batch, MessageSizeTooLargeError())  # type: ignore[arg-type]
    write.release()
    error = write.future.exception()
    assert isinstance(error, pump.PermanentWriteError) is permanent
    assert "MessageSizeTooLargeError" in (str(error) if permanent else type(error).__name__)


def test_source_needs_a_group_and_exactly_one_subscription(offline_app: Any) -> None:
    app = offline_app()
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSource(app, pipeline, "kafka", config={"topic": "t"})
    assert "group_id" in str(caught.value)
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSource(app, pipeline, "kafka", config={"group_id": "g"})
    assert "set exactly one of topic and topic_pattern" in str(caught.value)
    with pytest.raises(pump.ConfigError):
        KafkaSource(
            app, pipeline, "kafka", config={"group_id": "g", "topic": "a", "topic_pattern": "b.*"}
        )
    source = KafkaSource(app, pipeline, "kafka", config={"group_id": "g", "topic": "a, b"})
    assert source.topics == ["a", "b"]
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSource(
            app,
            pipeline,
            "kafka",
            config={"group_id": "g", "topic": "a", "auto_offset_reset": "none"},
        )
    assert "auto_offset_reset" in str(caught.value)


def test_components_need_a_kafka_connection() -> None:
    app = pump.Application()
    pipeline = pump.Pipeline(app, "p")
    with pytest.raises(pump.BuildError) as caught:
        KafkaSink(app, pipeline, "nowhere", config={"topic": "t"})
    assert "unknown connection 'nowhere'" in str(caught.value)

    class OtherConnection(pump.Connection):
        pass

    app.add_connection(OtherConnection(app, "other"))
    with pytest.raises(pump.BuildError) as caught:
        KafkaSink(app, pipeline, "other", config={"topic": "t"})
    assert "not a KafkaConnection" in str(caught.value)


def test_sink_refuses_acks_zero(offline_app: Any) -> None:
    app = offline_app()
    with pytest.raises(pump.ConfigError) as caught:
        KafkaSink(app, pump.Pipeline(app, "p"), "kafka", config={"topic": "t", "acks": 0})
    assert "acks" in str(caught.value)


async def test_a_message_that_is_not_json_is_dead_lettered_with_its_kafka_context(
    kafka: Any,
) -> None:
    """Issue 9: the README's Kafka → json.parse → dead_letter pipeline and one non-JSON message."""
    import orjson

    topic = await kafka.create_topic()
    group = kafka.name("g")
    await kafka.produce(
        topic,
        [{"ok": 1}, b"\xffnot json", {"ok": 2}],
        keys=[b"a", b"\xfe", b"c"],
        headers=[("h", b"\x00v")],
    )

    class StrictJsonLines(pump.Sink):
        """Serialises each event as a file.jsonl sink does (orjson, no fallback)."""

        def __init__(self, app: Any, pipeline: Any, id: str) -> None:
            super().__init__(app, pipeline, id)
            self.lines: list[bytes] = []

        def process(self, context: dict[str, Any], event: Any) -> None:
            self.lines.append(orjson.dumps(event))

    app = pump.Application(exit_when_finished=False)
    app.add_connection(KafkaConnection(app, "kafka", config=kafka.connection_config()))
    pipeline = pump.Pipeline(app, "p", config={"on_error": "dead_letter"})
    out = pump.common.ListSink(app, pipeline, "out")
    pipeline.build(
        KafkaSource(app, pipeline, "kafka", config=kafka.source_config(topic, group)),
        pump.common.JsonParser(app, pipeline, "json.parse"),
        out,
    )
    pipeline.set_dead_letter(dead := StrictJsonLines(app, pipeline, "dead"))
    app.add_pipeline(pipeline)
    await app.start()
    try:
        assert await kafka.wait_for(
            lambda: len(out.events) == 2 and pipeline.in_flight == 0, timeout=20
        )
        assert await kafka.wait_for(
            lambda: pipeline.counters.warnings == 0 and len(dead.lines) == 1
        )
    finally:
        await app.stop()
    [record] = [orjson.loads(line) for line in dead.lines]
    assert original_event(record) == b"\xffnot json" and record["event_encoding"] == "base64"
    assert record["component"] == "json.parse" and "invalid JSON" in record["error"]
    context = record["context"]
    assert (context["kafka_topic"], context["kafka_partition"], context["kafka_offset"]) == (
        topic,
        0,
        1,
    )
    assert context["kafka_key"] == {"base64": "/g=="} and context["kafka_headers"] == [
        ["h", "\x00v"]
    ]
    assert await kafka.committed(group, topic) == {0: 3}  # every message done, the bad one too


START_SCRIPT = """\
import sys

import pump
from pump_kafka import KafkaConnection, KafkaSink

bootstrap, topic, idempotence = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
app = pump.Application(args=[])
app.add_connection(KafkaConnection(app, "kafka", config={"bootstrap_servers": bootstrap}))
pipeline = pump.Pipeline(app, "p")
pipeline.build(
    pump.common.IteratorSource(app, pipeline, [b"x"]),
    KafkaSink(app, pipeline, "kafka", config={"topic": topic, "enable_idempotence": idempotence}),
)
app.add_pipeline(pipeline)
raise SystemExit(app.run())
"""


def _run_app(tmp_path: Any, *args: str) -> Any:
    import subprocess
    import sys

    script = tmp_path / "app.py"
    script.write_text(START_SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=120
    )


async def test_a_start_error_from_app_run_is_one_line_and_exit_1(kafka: Any, tmp_path: Any) -> None:
    missing = kafka.name("missing")
    idempotence = "1" if kafka.broker.idempotence else "0"
    result = _run_app(tmp_path, kafka.bootstrap, missing, idempotence)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cannot start: TopicMissing: ") and missing in lines[0]
    assert "Traceback" not in result.stderr


async def test_idempotence_unsupported_from_app_run_is_one_line(kafka: Any, tmp_path: Any) -> None:
    if kafka.broker.idempotence:
        pytest.skip("this broker gives out producer ids: nothing to refuse")
    topic = await kafka.create_topic()
    result = _run_app(tmp_path, kafka.bootstrap, topic, "1")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # pump's one line; aiokafka itself logs one ERROR line of its own before it
    ours = [line for line in lines if "IdempotenceUnsupported" in line]
    assert len(ours) == 1 and ours[0].startswith("cannot start: IdempotenceUnsupported: ")
    assert len(lines) <= 2 and "Traceback" not in result.stderr, result.stderr
