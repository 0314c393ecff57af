"""watch's text lines in bulk (streams.TextLines) equal Event.to_text one by one against the same clock,
for runs of records of several sizes and CPUs: timestamps (past, future, zero, other days), durations,
errnos, addresses, ports, bools, chars, char arrays, enums, arrays, a nested struct with a time inside,
floats, bitfields, records shorter than their type and sizes no type fits."""

from __future__ import annotations

import struct
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.semantics import Clock, TimeFormatter, age_text, fmt_age, time_text
from mapexplorer.streams import Decoders, TextLines, new_event

MONO = 500_000 * 10**9  # the clock's CLOCK_MONOTONIC: 500,000 s (almost 6 days) after boot
CLOCK = Clock(time.time(), MONO)


def _btf() -> Btf:
    b = BtfBuilder()
    u8, u16, u32, u64 = b.int("u8", 1), b.int("u16", 2), b.int("u32", 4), b.int("u64", 8)
    s32 = b.int("s32", 4, signed=True)
    boolean = b.int("_Bool", 1, bool_=True)
    char = b.int("char", 1, signed=True)
    be32, be16 = b.typedef("__be32", u32), b.typedef("__be16", u16)
    comm = b.array(char, 8, u32)
    vals = b.array(u32, 3, u32)
    color = b.enum("color", 4, [("RED", 0), ("GREEN", 1)])
    dbl = b.float("double", 8)
    inner = b.struct("inner", 16, [("start_ts", u64, 0), ("x", u32, 64)])
    b.struct("ev", 88, [
        ("ts_ns", u64, 0), ("lat_ns", u64, 64), ("pid", u32, 128), ("ret", s32, 160), ("saddr", be32, 192),
        ("dport", be16, 224), ("ok", boolean, 240), ("c", char, 248), ("comm", comm, 256),
        ("color", color, 320), ("vals", vals, 352), ("inner", inner, 448), ("f", dbl, 576),
        ("a", u32, 640, 3), ("b", u32, 643, 5), ("tail", u8, 672),
    ])
    b.struct("small", 8, [("a", u32, 0), ("b", u32, 32)])
    xy = b.struct("xy", 4, [("x", u16, 0), ("y", u16, 16)])
    b.struct("nest", 12, [("a", u32, 0), ("p", xy, 32), ("q", u32, 64)])
    return Btf.parse(b.blob())


class Stream:
    """What TextLines asks of an EventStream: the decoder per size and one event per record."""

    def __init__(self) -> None:
        self.decoders = Decoders([_btf()], None, padded=False)

    def decoder_for_size(self, size: int) -> Any:
        return self.decoders.for_size(size)

    def make_event(self, cpu: int | None, raw: bytes) -> Any:
        return new_event(cpu, len(raw), raw, self.decoders.for_size(len(raw)))


times = st.one_of(
    st.just(0),
    st.integers(MONO - 10**9, MONO + 10**9),  # around now: ages, "now", the future
    st.integers(1, MONO + 120 * 10**9),  # since boot, and later than now (boot+...)
    st.integers(MONO - 3 * 86400 * 10**9, MONO),  # other days
    st.integers(0, 2**64 - 1),
)


@st.composite
def ev(draw: Any) -> bytes:
    head = struct.pack(
        "<QQIiIH?b8sI3I", draw(times), draw(st.integers(0, 2**64 - 1)), draw(st.integers(0, 2**32 - 1)),
        draw(st.integers(-(2**31), 2**31 - 1)), draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 65535)),
        draw(st.booleans()), draw(st.integers(-128, 127)),
        draw(st.one_of(st.binary(max_size=8), st.sampled_from([b"bash", b"a\"b\\c", b"\x01\x02"]))),
        draw(st.integers(0, 3)), *draw(st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3)),
    )
    inner = struct.pack("<QI4x", draw(times), draw(st.integers(0, 2**32 - 1)))
    tail = struct.pack("<dIB3x", draw(st.floats()), draw(st.integers(0, 2**32 - 1)),
                       draw(st.integers(0, 255)))
    return head + inner + tail


records = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 3)),
        st.one_of(
            ev(),
            st.binary(min_size=4, max_size=4),
            st.binary(min_size=8, max_size=8),
            st.binary(min_size=12, max_size=12),
            st.binary(min_size=1, max_size=20),
        ),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(records)
def test_bulk_lines_equal_one_by_one(recs: list[tuple[int | None, bytes]]) -> None:
    stream = Stream()
    expected = "".join(stream.make_event(cpu, raw).to_text(CLOCK) + "\n" for cpu, raw in recs)
    assert TextLines(stream).text(recs, CLOCK) == expected  # type: ignore[arg-type]


def test_decoded_sizes_take_the_bulk_path_and_others_do_not() -> None:
    lines = TextLines(Stream())  # type: ignore[arg-type]
    assert lines._formatter(88) is not None and lines._formatter(8) is not None
    assert lines._formatter(12) is not None and lines._formatter(4) is not None
    assert lines._formatter(5) is None
    text = lines.text([(None, struct.pack("<II", 1, 2)), (1, struct.pack("<II", 3, 4))], CLOCK)
    assert text == "size=8 a=1 b=2\ncpu=1 size=8 a=3 b=4\n"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["ts_ns", "ts", "lat_ns", "start_us", "wait_time", "delta_ms", "stamp"]), times)
def test_time_formatter_equals_time_text(name: str, ns: int) -> None:
    fmt = TimeFormatter(name)
    fmt.set_clock(CLOCK)
    assert fmt(ns) == time_text(name, ns, CLOCK)
    assert fmt(ns) == time_text(name, ns, CLOCK)  # the second call reads the remembered second


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e7, max_value=1e7),
                 st.floats(-1, 1), st.floats(-0.001, 0.001), st.integers(-400_000, 400_000).map(float)))
def test_age_text_equals_fmt_age(seconds: float) -> None:
    assert age_text(seconds) == fmt_age(seconds)
