"""Path templates: time, part numbers, event fields and context keys, made safe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pump_file.template import PathTemplate, TemplateError

NOW = datetime(2024, 3, 9, 17, 5, tzinfo=UTC)


def test_time_part_number_and_fixed_fields():
    t = PathTemplate("out/{date:%Y-%m-%d}/{pipeline}-{sink}-{n:03d}.jsonl", pipeline="p", sink="s")
    key = t.key(NOW)
    assert t.path(key, 7) == "out/2024-03-09/p-s-007.jsonl"
    assert not t.per_event and t.per_time and t.has_n


def test_event_fields_and_context_keys():
    t = PathTemplate("out/{country}/{event[kind]}/{context[file_path]}.csv")
    key = t.key(NOW, {"country": "CZ", "kind": "sale"}, {"file_path": "/in/a.csv"})
    assert t.path(key, 0) == "out/CZ/sale/_in_a.csv.csv"
    assert t.per_event
    # a bare name falls back to the context
    assert PathTemplate("{file_name}").key(NOW, {}, {"file_name": "x"}) == "x"


@pytest.mark.parametrize("value", ["..", ".", "", "a/../../etc", "x\x00y"])
def test_values_from_events_cannot_leave_their_folder(value):
    t = PathTemplate("out/{v}/f")
    path = t.path(t.key(NOW, {"v": value}), 0)
    parts = path.split("/")
    assert parts[0] == "out" and parts[-1] == "f" and len(parts) == 3
    assert parts[1] not in ("..", ".", "") and "\x00" not in path


def test_without_n_later_parts_get_a_counter_before_the_extension():
    t = PathTemplate("out/data.tar.gz")
    assert [t.path(t.key(NOW), n) for n in range(3)] == [
        "out/data.tar.gz",
        "out/data-1.tar.gz",
        "out/data-2.tar.gz",
    ]
    assert t.matches("out/data-2.tar.gz") and not t.matches("out/other.tar.gz")


def test_missing_fields_and_malformed_templates_are_errors():
    t = PathTemplate("{missing}")
    with pytest.raises(TemplateError, match="missing"):
        t.key(NOW, {"other": 1}, {})
    with pytest.raises(TemplateError):
        PathTemplate("out/{unclosed")
    with pytest.raises(TemplateError):
        PathTemplate("out/{}")


def test_static_prefix_is_the_folder_before_the_first_field():
    assert PathTemplate("out/a/{date:%Y}/x").static_prefix() == "out/a"
    assert PathTemplate("x-{n}.jsonl").static_prefix() == "."
