"""Btf.member: a struct/union member by name, with its index and bit offset (bitfields included), on
hand-built blobs. No root needed."""

from __future__ import annotations

import pytest

from mapexplorer.btf import Btf, BtfError, Member
from mapexplorer.btf.build import BtfBuilder


def _blob() -> tuple[Btf, dict[str, int]]:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("unsigned long long", 8)
    ids = {
        "u32": u32,
        "ops": b.struct("ops", 16, [("first", u32, 0), ("second", u32, 32), ("name", u64, 64)]),
        "bits": b.struct("bits", 4, [("a", u32, 0, 3), ("b", u32, 3, 9)]),
        "u": b.union("u", 8, [("x", u32, 0), ("y", u64, 0)]),
    }
    return Btf.parse(b.blob()), ids


def test_member_index_and_bit_offset() -> None:
    btf, ids = _blob()
    assert btf.member(ids["ops"], "first") == (0, Member("first", ids["u32"], 0))
    idx, m = btf.member(ids["ops"], "name")
    assert idx == 2
    assert m.bit_offset == 64


def test_member_of_bitfield_struct_and_union() -> None:
    btf, ids = _blob()
    assert btf.member(ids["bits"], "b") == (1, Member("b", ids["u32"], 3, 9))
    assert btf.member(ids["u"], "y")[0] == 1


def test_member_missing_or_not_a_struct() -> None:
    btf, ids = _blob()
    with pytest.raises(BtfError, match="no member 'nope'"):
        btf.member(ids["ops"], "nope")
    with pytest.raises(BtfError, match="has no members"):
        btf.member(ids["u32"], "first")
    with pytest.raises(BtfError, match="out of range"):
        btf.member(99, "first")
