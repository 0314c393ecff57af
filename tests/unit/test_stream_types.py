"""``--type`` against record sizes: a type fits a ringbuf record of its size and a perf raw sample padded
to 8n + 4; any other size is an error unless forced (no kernel: the decoder table alone)."""

from __future__ import annotations

import pytest

from mapexplorer.streams import Decoders, TypeMismatch


def fn(raw: bytes) -> int:
    return len(raw)


def test_ringbuf_record_must_have_the_type_size() -> None:
    d = Decoders([], ("struct t", fn, 12), padded=False)
    assert d.for_size(12) is fn
    for size in (8, 16):
        with pytest.raises(TypeMismatch, match=f"a record of {size} bytes is not a struct t \\(12 bytes\\)"):
            d.for_size(size)


def test_perf_samples_are_padded_to_8n_plus_4() -> None:
    d = Decoders([], ("struct t", fn, 16), padded=True)
    assert d.for_size(20) is fn  # 16 bytes + the 4-byte size header, rounded to 8
    with pytest.raises(TypeMismatch):
        d.for_size(28)


def test_forced_decodes_long_enough_records_and_shows_short_ones_as_bytes() -> None:
    d = Decoders([], ("struct t", fn, 12), padded=False, force=True)
    assert d.for_size(16) is fn
    assert d.for_size(8) is None
