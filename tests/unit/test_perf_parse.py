"""The perf ring record parser on synthetic records (no root): samples of one or several sizes, LOST
records in between, and runs broken anywhere, against a record-by-record reading."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from mapexplorer.kernel.perf import PERF_RECORD_LOST, PERF_RECORD_SAMPLE, parse_perf_records


def sample(data: bytes) -> bytes:
    raw = data + b"\0" * (-(len(data) + 4) % 8)  # the kernel pads u32 size + raw to 8 bytes
    return struct.pack("<IHHI", PERF_RECORD_SAMPLE, 0, 12 + len(raw), len(raw)) + raw


def lost(n: int) -> bytes:
    return struct.pack("<IHHQQ", PERF_RECORD_LOST, 0, 24, 7, n)


def test_samples_and_lost_records():
    chunk = b"".join([sample(b"a" * 36)] * 6 + [lost(5), sample(b"bb")] + [sample(b"c" * 36)] * 3)
    out: list[bytes] = []
    assert parse_perf_records(chunk, out) == 5
    assert out == [b"a" * 36] * 6 + [b"bb" + b"\0" * 2] + [b"c" * 36] * 3  # raw sizes as padded


@given(st.lists(st.one_of(st.integers(0, 3).map(lambda k: ("lost", k + 1)),
                          st.sampled_from([4, 36, 36, 36, 44, 1]).map(lambda n: ("sample", n))),
                max_size=50))
def test_matches_a_record_by_record_reading(items):
    chunk = b""
    want: list[bytes] = []
    want_lost = 0
    for i, (kind, n) in enumerate(items):
        if kind == "lost":
            chunk += lost(n)
            want_lost += n
        else:
            rec = sample(bytes([i % 251]) * n)
            chunk += rec
            want.append(rec[12:])
    out: list[bytes] = []
    assert parse_perf_records(chunk, out) == want_lost
    assert out == want
