"""LineReader: lines come out whole and in order wherever the chunks end; offsets resume exactly."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pump_file.lines import LineReader, LineTooLong, decoder

content = (
    st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=60)
    .flatmap(
        lambda lines: st.tuples(
            st.just(lines),
            st.booleans(),  # with or without a final newline
        )
    )
    .map(lambda t: b"\n".join(t[0]) + (b"\n" if t[1] and t[0] else b""))
)


def take_everything(
    data: bytes, read_size: int, limits: list[int], final: bool = True, slice_size: int = 1 << 17
) -> list:
    reader = LineReader(io.BytesIO(data), read_size=read_size, slice_size=slice_size)
    takes = []
    i = 0
    while (got := reader.take(limits[i % len(limits)], final=final)) is not None:
        takes.append(got)
        i += 1
    return takes


@settings(max_examples=300, deadline=None)
@given(
    content,
    st.integers(1, 64),
    st.lists(st.integers(1, 7), min_size=1, max_size=5),
    st.integers(1, 64),
)
def test_lines_are_whole_at_any_chunk_boundary(
    data: bytes, read_size: int, limits: list[int], slice_size: int
) -> None:
    takes = take_everything(data, read_size, limits, slice_size=slice_size)
    lines = [line for got in takes for line in got.lines]
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert lines == expected
    # offsets chain, cover the data exactly, and line numbers count up from 1
    position, number = 0, 1
    for got in takes:
        assert got.start == position and got.first == number
        segment = data[got.start : got.end]
        assert segment.removesuffix(b"\n").split(b"\n") == got.lines
        position, number = got.end, number + len(got.lines)
    assert position == len(data)


@settings(max_examples=200, deadline=None)
@given(content, st.integers(1, 64), st.data())
def test_resuming_at_any_take_end_gives_the_rest(
    data: bytes, read_size: int, draw: st.DataObject
) -> None:
    takes = take_everything(data, read_size, [3])
    if not takes:
        return
    cut = draw.draw(st.integers(0, len(takes) - 1))
    resumed_at = takes[cut]
    stream = io.BytesIO(data)
    stream.seek(resumed_at.end)
    reader = LineReader(
        stream,
        offset=resumed_at.end,
        line=resumed_at.first + len(resumed_at.lines),
        read_size=read_size,
    )
    rest = []
    while (got := reader.take(5, final=True)) is not None:
        rest.append(got)
    assert [line for got in rest for line in got.lines] == [
        line for got in takes[cut + 1 :] for line in got.lines
    ]
    if rest:
        assert rest[0].first == takes[cut + 1].first and rest[-1].end == len(data)


@settings(max_examples=200, deadline=None)
@given(content, st.integers(1, 64), st.integers(1, 64))
def test_without_final_an_unterminated_last_line_waits(
    data: bytes, read_size: int, slice_size: int
) -> None:
    takes = take_everything(data, read_size, [4], final=False, slice_size=slice_size)
    complete = data[: data.rfind(b"\n") + 1]
    assert b"".join(b"".join(line + b"\n" for line in got.lines) for got in takes) == complete


@settings(max_examples=200, deadline=None)
@given(
    content,
    st.integers(1, 64),
    st.integers(1, 64),
    st.lists(st.integers(1, 7), max_size=4),
    st.booleans(),
)
def test_lines_read_but_not_taken_are_taken_without_reading_or_come_out_in_a_block(
    data: bytes, read_size: int, slice_size: int, limits: list[int], text: bool
) -> None:
    reader = LineReader(io.BytesIO(data), read_size=read_size, slice_size=slice_size, text=text)
    taken = []
    for limit in limits:
        got = reader.take(limit)
        if got is None:
            break
        taken += [line.encode() if type(line) is str else line for line in got.lines]
    # the complete lines read and not taken yet: a take without reading hands them out, and
    # not one more
    position = reader.stream.tell()
    read_not_taken = data[:position].count(b"\n") - len(taken)
    assert reader.in_memory() == (read_not_taken > 0)
    if read_not_taken and len(limits) % 2:
        more = []
        while (got := reader.take(1000, read=False)) is not None:  # str and bytes apart
            more += [line.encode() if type(line) is str else line for line in got.lines]
        assert len(more) == read_not_taken
        assert reader.stream.tell() == position and not reader.in_memory()
        taken += more
    rest = b""
    while (block := reader.take_block(final=True)) is not None:
        rest += block.data
    assert b"".join(line + b"\n" for line in taken) + rest == data


def test_a_line_written_in_two_goes_comes_out_whole() -> None:
    stream = io.BytesIO()
    reader = LineReader(stream, read_size=4)
    stream.write(b"first line\nsecond ha")
    stream.seek(0)
    assert reader.take(10).lines == [b"first line"]
    assert reader.take(10) is None  # "second ha" is not complete yet
    position = stream.tell()
    stream.seek(0, io.SEEK_END)
    stream.write(b"lf\n")
    stream.seek(position)
    got = reader.take(10)
    assert (
        got.lines == [b"second half"]
        and got.first == 2
        and got.end == len(b"first line\nsecond half\n")
    )


def test_an_overlong_line_is_refused() -> None:
    reader = LineReader(io.BytesIO(b"x" * 100 + b"\n"), read_size=10, max_line=50)
    with pytest.raises(LineTooLong, match="line 1"):
        reader.take(1)


@pytest.mark.parametrize("encoding", [None, "utf-8", "latin-1"])
def test_decoding_drops_carriage_returns_of_crlf_line_ends(encoding: str | None) -> None:
    decode = decoder(encoding)
    raw = [b"a\r", b"b", b"c\rd\r", b""]
    out = decode(raw)
    expected = ["a", "b", "c\rd", ""]
    assert out == (expected if encoding else [e.encode() for e in expected])


text_content = st.lists(
    st.sampled_from(["abc", "déjà", "x\r", "", "line with spaces", "\x00"]), max_size=40
).map(lambda lines: "\n".join(lines).encode() + b"\n")


@settings(max_examples=300, deadline=None)
@given(
    text_content,
    st.integers(1, 64),
    st.lists(st.integers(1, 7), min_size=1, max_size=5),
    st.integers(1, 64),
)
def test_a_text_reader_hands_out_the_same_lines_decoded(
    data: bytes, read_size: int, limits: list[int], slice_size: int
) -> None:
    decode = decoder("utf-8")
    plain = take_everything(data, read_size, limits)
    reader = LineReader(io.BytesIO(data), read_size=read_size, text=True, slice_size=slice_size)
    takes = []
    i = 0
    while (got := reader.take(limits[i % len(limits)], final=True)) is not None:
        takes.append(got)
        i += 1
    # one kind per take: str (an ASCII read without \r, decoded at once) or bytes (the rest)
    assert all(len({type(line) for line in got.lines}) == 1 for got in takes)
    text = [line if type(line) is str else decode([line])[0] for got in takes for line in got.lines]
    assert text == [decode([line])[0] for got in plain for line in got.lines]
    # offsets and line numbers are those of the bytes
    position, number = 0, 1
    for got in takes:
        assert got.start == position and got.first == number
        position, number = got.end, number + len(got.lines)
    assert position == len(data)
    if data.isascii() and b"\r" not in data and len(data) <= read_size and takes:
        assert type(takes[0].lines[0]) is str


def test_a_text_reader_decodes_only_where_ascii_means_itself() -> None:
    from pump_file.lines import ascii_as_itself

    assert ascii_as_itself("utf-8") and ascii_as_itself("latin-1") and ascii_as_itself("cp1252")
    assert not ascii_as_itself("utf-7") and not ascii_as_itself("utf-16")
    assert not ascii_as_itself("no-such-codec")
