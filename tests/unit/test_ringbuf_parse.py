"""The ringbuf record parser on synthetic rings (no root): every record kind, runs of one length broken
anywhere, discarded and in-flight records, limits, and records cut by the end of a copy."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from mapexplorer.kernel.ringbuf import BUSY_BIT, DISCARD_BIT, parse_records


def record(sample: bytes, flags: int = 0) -> bytes:
    body = struct.pack("<II", len(sample) | flags, 0) + sample
    return body + b"\0" * (-len(body) % 8)


def test_parses_a_run_of_equal_records_broken_by_other_lengths():
    samples = [bytes([i]) * 12 for i in range(10)] + [b"odd"] + [bytes([i]) * 12 for i in range(10, 20)]
    out: list[bytes] = []
    used, discarded = parse_records(b"".join(record(s) for s in samples), out, 1 << 30)
    assert out == samples
    assert used == sum(len(record(s)) for s in samples)
    assert discarded == 0


def test_stops_at_a_busy_record_and_skips_discarded_ones():
    chunk = record(b"a" * 8) + record(b"gone", DISCARD_BIT) + record(b"b" * 8) + record(b"c" * 8, BUSY_BIT)
    out: list[bytes] = []
    used, discarded = parse_records(chunk, out, 100)
    assert out == [b"a" * 8, b"b" * 8]
    assert used == len(chunk) - len(record(b"c" * 8))
    assert discarded == 1


def test_a_record_cut_by_the_end_of_the_copy_is_left_for_later():
    chunk = record(b"x" * 16) + record(b"y" * 40)[:20]
    out: list[bytes] = []
    assert parse_records(chunk, out, 10) == (len(record(b"x" * 16)), 0)
    assert out == [b"x" * 16]


@given(
    st.lists(st.tuples(st.sampled_from([0, 1, 7, 8, 16, 16, 16, 24, 33]), st.booleans()), max_size=60),
    st.booleans(),
    st.integers(min_value=0, max_value=80),
)
def test_matches_a_record_by_record_reading(recs, busy_tail, limit):
    samples = [(bytes([i % 251]) * n, discard) for i, (n, discard) in enumerate(recs)]
    chunk = b"".join(record(s, DISCARD_BIT if d else 0) for s, d in samples)
    if busy_tail:
        chunk += record(b"z" * 16, BUSY_BIT)
    out: list[bytes] = []
    used, discarded = parse_records(chunk, out, limit)
    want: list[bytes] = []
    pos = skipped = 0
    for s, d in samples:
        if len(want) >= limit:
            break
        pos += len(record(s))
        if d:
            skipped += 1
        else:
            want.append(s)
    assert out == want
    assert used == pos
    assert discarded == skipped
