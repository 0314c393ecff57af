"""watch --json's bulk formatter (streams.JsonLines) prints exactly what Event.to_json prints one by one,
for runs of records of several sizes, CPUs, undecodable sizes, signed fields and char arrays."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.streams import Decoders, JsonLines, new_event


def _btf() -> Btf:
    b = BtfBuilder()
    u32 = b.int("u32", 4)
    s64 = b.int("s64", 8, signed=True)
    char = b.int("char", 1, signed=True)
    comm = b.array(char, 8, u32)
    b.struct("ev", 24, [("ts", s64, 0), ("pid", u32, 64), ("comm", comm, 96), ("tail", u32, 160)])
    b.struct("small", 8, [("a", u32, 0), ("b", u32, 32)])
    return Btf.parse(b.blob())


class Stream:
    """What JsonLines asks of an EventStream: the decoder per size and one event per record."""

    def __init__(self) -> None:
        self.decoders = Decoders([_btf()], None, padded=False)

    def decoder_for_size(self, size: int) -> Any:
        return self.decoders.for_size(size)

    def make_event(self, cpu: int | None, raw: bytes) -> Any:
        return new_event(cpu, len(raw), raw, self.decoders.for_size(len(raw)))


def ev(ts: int, pid: int, comm: bytes) -> bytes:
    return struct.pack("<qI8sI", ts, pid, comm, 7)


records = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 3)),
        st.one_of(
            st.builds(ev, st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=8)),
            st.binary(min_size=8, max_size=8),
            st.binary(min_size=1, max_size=12),
        ),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(records)
def test_bulk_lines_equal_one_by_one(recs: list[tuple[int | None, bytes]]) -> None:
    stream = Stream()
    expected = "".join(stream.make_event(cpu, raw).to_json() + "\n" for cpu, raw in recs)
    assert JsonLines(stream).text(recs) == expected  # type: ignore[arg-type]


def test_decoded_sizes_take_the_bulk_path_and_others_do_not() -> None:
    lines = JsonLines(Stream())  # type: ignore[arg-type]
    assert lines._formatter(24) is not None and lines._formatter(8) is not None
    assert lines._formatter(5) is None
    text = lines.text([(None, ev(-5, 42, b"bash"))])
    assert text == '{"cpu":null,"size":24,"event":{"ts":-5,"pid":42,"comm":"bash","tail":7}}\n'
