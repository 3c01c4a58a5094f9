"""CSV positions: resuming at the end of any batch gives exactly the records that follow,
with the right line numbers, for any content (non-ASCII, quoted line breaks) and read size."""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pump_file.compression import open_binary
from pump_file.csv_source import CSVReading, FileCSVSourceConfig

fields = st.text(st.sampled_from('aé€\n\r," x'), max_size=6)


def parse(path: Path, config: FileCSVSourceConfig, offset: int, line: int, limits: list[int]):
    reading = CSVReading(
        str(path), functools.partial(open_binary, str(path), None), offset, line, config
    )
    batches = []
    i = 0
    while (chunk := reading.next_batch(limits[i % len(limits)], True)) is not None:
        batches.append(chunk)
        i += 1
    reading.close()
    return batches


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(fields, min_size=2, max_size=2), max_size=25),
    st.integers(1, 40),
    st.lists(st.integers(1, 4), min_size=1, max_size=3),
    st.data(),
)
def test_resuming_at_any_batch_end_gives_the_rest(tmp_path_factory, rows, read_size, limits, data):
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    text = io.StringIO()
    csv.writer(text).writerows([["k", "v"], *rows])
    path.write_bytes(text.getvalue().encode("utf-8"))
    config = FileCSVSourceConfig(path="-", read_size=read_size)
    whole = parse(path, config, 0, 1, limits)
    events = [e for b in whole for e in b.events]
    assert events == [{"k": k, "v": v} for k, v in rows]
    lines = [c["file_line"] for b in whole for c in b.contexts]
    expected, line = [], 2
    for k, v in rows:
        expected.append(line)
        line += 1 + (k + v).count("\n")  # a quoted line break makes the record a line longer
    if not whole:
        return
    cut = data.draw(st.integers(0, len(whole) - 1))
    rest = parse(path, config, whole[cut].end, whole[cut].line, [3])
    assert [e for b in rest for e in b.events] == [e for b in whole[cut + 1 :] for e in b.events]
    assert [c for b in rest for c in b.contexts] == [
        c for b in whole[cut + 1 :] for c in b.contexts
    ]
    assert lines == expected
