"""Sort and filter over compact arrays (:func:`mapexplorer.widgets.compact.order_rows`) give exactly the rows
and order of the simple implementation that decodes one row at a time
(:func:`mapexplorer.widgets.columns.compute_order`), on random entries of maps without BTF, with a BTF
struct (plain ints, a signed field, a small int array, a char array, an enum, an IPv4 address shown as
text) and per-CPU maps; and the integer columns are read from the right offsets."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.codec import recorded_codec
from mapexplorer.decoders import RawDecoder, TypeAwareDecoder, friendly
from mapexplorer.kernel.maps import MapInfo
from mapexplorer.model import MapFacts, MapRow, MapSnapshot
from mapexplorer.widgets.columns import compute_order, make_plan
from mapexplorer.widgets.compact import OrderCancelled, int_column, order_rows

NCPUS = 3


def _info(type_name: str, ks: int, vs: int, key_type: int = 0, value_type: int = 0) -> MapInfo:
    return MapInfo(id=7, type=1, type_name=type_name, name="bgx_t", key_size=ks, value_size=vs,
                   max_entries=1000, flags=0, btf_id=1 if value_type else 0, btf_key_type_id=key_type,
                   btf_value_type_id=value_type, btf_vmlinux_value_type_id=0, map_extra=0, ifindex=0,
                   memlock=0, frozen=False)


def _struct_btf() -> tuple[bytes, int, int]:
    """key ``{u32 id; s16 port}`` (8 bytes with padding); value ``{u64 bytes; s32 delta; u16 arr[2];
    char name[4]; enum state (u32); u32 saddr}`` (28 bytes)."""
    b = BtfBuilder()
    u8 = b.int("unsigned char", 1)
    u16 = b.int("unsigned short", 2)
    s16 = b.int("short", 2, signed=True)
    u32 = b.int("unsigned int", 4)
    s32 = b.int("int", 4, signed=True)
    u64 = b.int("long long unsigned int", 8)
    char = b.int("char", 1, signed=True)
    arr = b.array(u16, 2, u32)
    name = b.array(char, 4, u32)
    state = b.enum("state", 4, [("IDLE", 0), ("BUSY", 1), ("DONE", 2)])
    del u8
    key = b.struct("key_t", 8, [("id", u32, 0), ("port", s16, 32)])
    value = b.struct("val_t", 28, [("bytes", u64, 0), ("delta", s32, 64), ("arr", arr, 96),
                                   ("name", name, 128), ("state", state, 160), ("saddr", u32, 192)])
    return b.blob(), key, value


BLOB, KEY_T, VALUE_T = _struct_btf()

small = st.integers(0, 3) | st.integers(0, 40)


def _u(bits: int) -> st.SearchStrategy[int]:
    return small | st.integers(0, 2**bits - 1)


def _s(bits: int) -> st.SearchStrategy[int]:
    return st.integers(-40, 40) | st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


@st.composite
def raw_hash(draw: st.DrawFn) -> MapSnapshot:
    n = draw(st.integers(0, 50))
    keys = [draw(_u(32)) for _ in range(n)]
    values = [draw(_u(64)) for _ in range(n)]
    row = MapRow(id=7, name="bgx_t", type_name="hash", key_size=4, value_size=8, max_entries=1000)
    dec = TypeAwareDecoder(RawDecoder(4, 8, NCPUS), "hash")
    return MapSnapshot(MapFacts(row, NCPUS, False), struct.pack(f"<{n}I", *keys),
                       struct.pack(f"<{n}Q", *values), n, 4, 8, 0.0, dec)


@st.composite
def raw_percpu(draw: st.DrawFn) -> MapSnapshot:
    n = draw(st.integers(0, 40))
    keys = [draw(_u(32)) for _ in range(n)]
    slots = b"".join(struct.pack("<I4x", draw(_u(32))) for _ in range(n * NCPUS))
    row = MapRow(id=7, name="bgx_t", type_name="percpu_hash", key_size=4, value_size=4, max_entries=1000)
    dec = TypeAwareDecoder(RawDecoder(4, 4, NCPUS), "percpu_hash")
    return MapSnapshot(MapFacts(row, NCPUS, False), struct.pack(f"<{n}I", *keys), slots, n, 4, 8 * NCPUS,
                       0.0, dec)


@st.composite
def raw_percpu_u64(draw: st.DrawFn) -> MapSnapshot:
    """Per-CPU 64-bit counters, some near 2**64 (their sum needs more than 64 bits: decoded instead)."""
    n = draw(st.integers(0, 30))
    keys = [draw(_u(32)) for _ in range(n)]
    big = st.integers(2**64 - 2**33, 2**64 - 1)
    slots = b"".join(struct.pack("<Q", draw(_u(64) | big)) for _ in range(n * NCPUS))
    row = MapRow(id=7, name="bgx_t", type_name="percpu_hash", key_size=4, value_size=8, max_entries=1000)
    dec = TypeAwareDecoder(RawDecoder(4, 8, NCPUS), "percpu_hash")
    return MapSnapshot(MapFacts(row, NCPUS, False), struct.pack(f"<{n}I", *keys), slots, n, 4, 8 * NCPUS,
                       0.0, dec)


@st.composite
def btf_hash(draw: st.DrawFn) -> MapSnapshot:
    n = draw(st.integers(0, 40))
    keys = b"".join(struct.pack("<Ih2x", draw(_u(32)), draw(_s(16))) for _ in range(n))
    values = b"".join(
        struct.pack("<QiHH4sII", draw(_u(64)), draw(_s(32)), draw(_u(16)), draw(_u(16)),
                    draw(st.sampled_from([b"ab\0\0", b"abc\0", b"\x01\x02\0\0", b"1234"])),
                    draw(st.integers(0, 4)), draw(_u(32)))
        for _ in range(n)
    )
    codec = recorded_codec(_info("hash", 8, 28, KEY_T, VALUE_T), BLOB, KEY_T, VALUE_T, NCPUS)
    dec = TypeAwareDecoder(friendly(codec), "hash")
    row = MapRow(id=7, name="bgx_t", type_name="hash", key_size=8, value_size=28, max_entries=1000, btf_id=1)
    return MapSnapshot(MapFacts(row, NCPUS, True), keys, values, n, 8, 28, 0.0, dec)


FILTERS = st.sampled_from(
    ["", "1", "12", "0", "-", "-1", "a", "ab", "x", "1.", "10.0", "key:1", "value:2", "cpu1:", "sum:3",
     "max:1", "port:", "port:-", "name:ab", "state:busy", "busy", "bytes:4", "arr:1", "saddr:0.", "nothing:1"]
) | st.text(alphabet="0123456789-:a.", max_size=3)


def _check(snap: MapSnapshot, hex_mode: bool, sort_col: int | None, reverse: bool, filter_text: str) -> None:
    plan = make_plan(snap, hex_mode=hex_mode, moving=None)
    if sort_col is not None:
        sort_col %= len(plan.columns) + 1  # mostly a column of the plan, sometimes one past the last
    args = {"sort_col": sort_col, "reverse": reverse, "filter_text": filter_text}
    want = compute_order(snap, plan, **args)
    got = order_rows(snap, plan, **args)
    assert (got is None) == (want is None)
    if got is not None:
        assert got.tolist() == want


@settings(max_examples=300, deadline=None)
@given(snap=st.one_of(raw_hash(), raw_percpu(), raw_percpu_u64(), btf_hash()), hex_mode=st.booleans(),
       sort_col=st.none() | st.integers(0, 99), reverse=st.booleans(), filter_text=FILTERS)
def test_order_rows_equals_the_simple_implementation(
    snap: MapSnapshot, hex_mode: bool, sort_col: int | None, reverse: bool, filter_text: str
) -> None:
    _check(snap, hex_mode, sort_col, reverse, filter_text)


def test_integer_columns_read_from_the_buffers() -> None:
    codec = recorded_codec(_info("hash", 8, 28, KEY_T, VALUE_T), BLOB, KEY_T, VALUE_T, NCPUS)
    dec = TypeAwareDecoder(friendly(codec), "hash")
    assert dec.int_layout("key") == {"id": (0, "<u4"), "port": (4, "<i2")}
    # name (a string), state (an enum) and saddr (an address shown as text) are not plain integers
    assert dec.int_layout("value") == {"bytes": (0, "<u8"), "delta": (8, "<i4"), "arr[0]": (12, "<u2"),
                                       "arr[1]": (14, "<u2")}
    n = 1000
    keys = b"".join(struct.pack("<Ih2x", i, -i % 300 - 150) for i in range(n))
    values = b"".join(struct.pack("<QiHH4sII", i * 3, -i, i, 7, b"ab\0\0", 1, i) for i in range(n))
    row = MapRow(id=7, name="bgx_t", type_name="hash", key_size=8, value_size=28, max_entries=n, btf_id=1)
    snap = MapSnapshot(MapFacts(row, NCPUS, True), keys, values, n, 8, 28, 0.0, dec)
    plan = make_plan(snap)
    by_label = {c.label: c for c in plan.columns}
    assert int_column(snap, plan, by_label["bytes"]).tolist() == [i * 3 for i in range(n)]
    assert int_column(snap, plan, by_label["delta"]).tolist() == [-i for i in range(n)]
    assert int_column(snap, plan, by_label["key.port"]).tolist() == [-i % 300 - 150 for i in range(n)]
    assert int_column(snap, plan, by_label["state"]) is None
    assert int_column(snap, plan, by_label["saddr"]) is None  # 0.0.0.1 ...: decoded text, not a number
    order = order_rows(snap, plan, sort_col=list(by_label).index("delta"), reverse=False, filter_text="")
    assert order is not None and order.dtype == np.int32 and order.tolist() == list(range(n - 1, -1, -1))


def test_per_cpu_sums_of_64_bit_counters() -> None:
    n = 1000
    cpus = [[(i * 2**40 + c) for c in range(NCPUS)] for i in range(n)]
    row = MapRow(id=7, name="bgx_t", type_name="percpu_hash", key_size=4, value_size=8, max_entries=n)
    snap = MapSnapshot(MapFacts(row, NCPUS, False), struct.pack(f"<{n}I", *range(n)),
                       b"".join(struct.pack("<Q", v) for vs in cpus for v in vs), n, 4, 8 * NCPUS, 0.0,
                       TypeAwareDecoder(RawDecoder(4, 8, NCPUS), "percpu_hash"))
    plan = make_plan(snap)
    col = next(c for c in plan.columns if c.kind == "sum")
    arr = int_column(snap, plan, col)
    assert arr is not None and arr.dtype == np.uint64 and arr.tolist() == [sum(vs) for vs in cpus]
    top = b"".join(struct.pack("<Q", 2**64 - 1) for _ in range(NCPUS))  # one sum beyond 64 bits
    over = MapSnapshot(snap.facts, snap.keys, snap.values[: -len(top)] + top, n, 4, 8 * NCPUS, 0.0,
                       snap.decoder)
    assert int_column(over, plan, col) is None


def test_cancel_stops_a_decoding_sort() -> None:
    codec = recorded_codec(_info("hash", 8, 28, KEY_T, VALUE_T), BLOB, KEY_T, VALUE_T, NCPUS)
    dec = TypeAwareDecoder(friendly(codec), "hash")
    n = 20_000
    keys = b"".join(struct.pack("<Ih2x", i, 0) for i in range(n))
    values = b"".join(struct.pack("<QiHH4sII", i, 0, 0, 0, b"ab\0\0", i % 3, i) for i in range(n))
    row = MapRow(id=7, name="bgx_t", type_name="hash", key_size=8, value_size=28, max_entries=n, btf_id=1)
    snap = MapSnapshot(MapFacts(row, NCPUS, True), keys, values, n, 8, 28, 0.0, dec)
    plan = make_plan(snap)
    seen: list[float] = []
    with pytest.raises(OrderCancelled):
        order_rows(snap, plan, sort_col=[c.label for c in plan.columns].index("state"), reverse=False,
                   filter_text="", is_cancelled=lambda: len(seen) >= 2, progress=seen.append)
    assert seen and all(0 <= f < 1 for f in seen)
