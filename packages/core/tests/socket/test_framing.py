"""Framing: however a stream is cut into reads, the same frames come out; bad frames are errors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pump.socket import FrameTooLarge, LengthPrefixFramer, LineFramer, TruncatedFrame, frame


def feed_in_pieces(framer, data: bytes, cuts: list[int]):
    frames: list[bytes] = []
    errors: dict[int, BaseException] = {}
    position = 0
    for cut in [*sorted(set(c % (len(data) + 1) for c in cuts)), len(data)]:
        if cut > position:
            assert framer.feed(data[position:cut], frames, errors)
            position = cut
    framer.end(frames, errors)
    return frames, errors


lines = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r")))


@given(lines, st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_lines_come_out_whole_whatever_the_reads(items, cuts):
    data = b"".join(frame(i, "lines") for i in items)
    frames, errors = feed_in_pieces(LineFramer(1000), data, cuts)
    assert frames == items and errors == {}


@given(
    st.lists(st.binary(max_size=300)),
    st.lists(st.integers(min_value=0, max_value=10_000), max_size=20),
    st.sampled_from([2, 4, 8]),
)
def test_length_prefixed_frames_come_out_whole_whatever_the_reads(items, cuts, length_bytes):
    data = b"".join(frame(i, "length_prefixed", length_bytes) for i in items)
    frames, errors = feed_in_pieces(LengthPrefixFramer(1000, length_bytes), data, cuts)
    assert frames == items and errors == {}


def test_crlf_and_a_last_line_without_newline():
    frames, errors = feed_in_pieces(LineFramer(100), b"a\r\nb\n\nc\r", [2, 5])
    assert frames == [b"a", b"b", b"", b"c"] and errors == {}


def test_a_long_line_is_an_error_cut_at_the_limit_and_the_rest_skipped():
    data = b"ok\n" + b"x" * 25 + b"\nafter\n"
    for cuts in ([], [5], [5, 9, 13, 17, 21, 29]):
        frames, errors = feed_in_pieces(LineFramer(10), data, cuts)
        assert frames == [b"ok", b"x" * 10, b"after"], cuts
        assert list(errors) == [1] and isinstance(errors[1], FrameTooLarge)
        assert "max_frame_size (10 bytes)" in str(errors[1])


def test_a_length_above_the_limit_stops_the_stream():
    framer = LengthPrefixFramer(10)
    frames: list[bytes] = []
    errors: dict[int, BaseException] = {}
    data = frame(b"fine", "length_prefixed") + (1000).to_bytes(4, "big") + b"y" * 20
    assert framer.feed(data, frames, errors) is False
    assert frames == [b"fine", (1000).to_bytes(4, "big")]
    assert isinstance(errors[1], FrameTooLarge) and "1000 bytes" in str(errors[1])


def test_a_frame_cut_by_the_end_of_the_stream_is_an_error():
    frames, errors = feed_in_pieces(
        LengthPrefixFramer(100), frame(b"abcdef", "length_prefixed")[:7], []
    )
    assert frames == [b"\x00\x00\x00\x06abc"] and isinstance(errors[0], TruncatedFrame)
