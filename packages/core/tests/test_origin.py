"""A runtime error names where its event came from, when the source put that in the context."""

from __future__ import annotations

import logging

import pump
from pump.origin import event_origin
from pump.testing import run_processor


class Explode(pump.Processor):
    def process(self, context, event):
        if event == "bad":
            raise ValueError("cannot parse")
        return event


def test_event_origin_of_the_first_party_sources():
    assert event_origin({"file_path": "in/a.csv", "file_line": 7}) == "file 'in/a.csv' line 7"
    assert event_origin({"file_path": "a.json", "file_item": 2}) == "file 'a.json' item 2"
    kafka = {"kafka_topic": "in", "kafka_partition": 3, "kafka_offset": 42, "kafka_key": b"k"}
    assert event_origin(kafka) == "topic 'in' partition 3 offset 42"
    assert (
        event_origin({"amqp_queue": "orders", "amqp_delivery_tag": 5})
        == "queue 'orders' delivery 5"
    )
    assert event_origin({}) == "" and event_origin(None) == ""


def test_a_stopping_error_is_logged_with_the_events_origin(caplog):
    caplog.set_level(logging.ERROR, logger="pump")
    result = run_processor(
        Explode,
        ["ok", "bad"],
        contexts=[
            {"file_path": "in/a.log", "file_line": 1},
            {"file_path": "in/a.log", "file_line": 2},
        ],
    )
    assert result.error is not None and result.error.origin == "file 'in/a.log' line 2"
    assert result.metrics["error"]["origin"] == "file 'in/a.log' line 2"
    stopped = [r.getMessage() for r in caplog.records if "pipeline stopped" in r.getMessage()]
    assert len(stopped) == 1
    assert "ValueError: cannot parse (event from file 'in/a.log' line 2)" in stopped[0]


def test_a_skipped_error_is_logged_with_the_events_origin(caplog):
    caplog.set_level(logging.WARNING, logger="pump")
    run_processor(
        Explode,
        ["bad"],
        contexts={"kafka_topic": "in", "kafka_partition": 0, "kafka_offset": 9},
        pipeline_config={"on_error": "skip"},
    )
    skipped = [r.getMessage() for r in caplog.records if "event skipped" in r.getMessage()]
    assert skipped and "(event from topic 'in' partition 0 offset 9)" in skipped[0]


def test_an_error_without_origin_says_nothing_more(caplog):
    caplog.set_level(logging.ERROR, logger="pump")
    run_processor(Explode, ["bad"])
    stopped = [r.getMessage() for r in caplog.records if "pipeline stopped" in r.getMessage()]
    assert stopped and "event from" not in stopped[0]
