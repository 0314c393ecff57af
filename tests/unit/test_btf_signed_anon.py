"""Decoding signed bitfields, signed 128-bit ints and anonymous struct/union members (hand-made BTF, no
kernel): ``int e:5`` holding -3 reads -3 (not 29), ``__int128`` is signed when its BTF encoding says so,
and the fields of anonymous members are keys of the enclosing object as C names them, a clash numbered,
never a duplicate key. The value decoder and the bulk JSON text path must agree, and encoding the decoded
value gives the same bytes back.
"""

from __future__ import annotations

import json
import struct

from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.btf.decode import compile_decoder, compile_json_texts
from mapexplorer.btf.encode import encode


def _both(btf: Btf, tid: int, raw: bytes) -> object:
    """The decoded value, checked equal to what the JSON text path prints (parsed keeping duplicates)."""
    value = compile_decoder(btf, tid)(raw)
    (text,) = compile_json_texts(btf, tid)(raw)
    pairs_seen: list[list[str]] = []

    def hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        pairs_seen.append([k for k, _ in pairs])
        return dict(pairs)

    assert json.loads(text, object_pairs_hook=hook) == value
    for keys in pairs_seen:
        assert len(keys) == len(set(keys)), f"duplicate keys {keys} in {text}"
    return value


def test_signed_bitfields_sign_extend() -> None:
    b = BtfBuilder()
    s32 = b.int("int", 4, signed=True)
    u32 = b.int("unsigned int", 4)
    # struct { int e:5; unsigned int u:5; int big:22; }  (kflag bitfield members: name, type, bit, size)
    tid = b.struct("bf", 4, [("e", s32, 0, 5), ("u", u32, 5, 5), ("big", s32, 10, 22)])
    btf = Btf.parse(b.blob())
    bits = (-3 & 0x1F) | (29 << 5) | ((-1_000_000 & 0x3FFFFF) << 10)
    raw = struct.pack("<I", bits)
    assert _both(btf, tid, raw) == {"e": -3, "u": 29, "big": -1_000_000}
    assert encode(btf, tid, json.dumps({"e": -3, "u": 29, "big": -1_000_000})) == raw
    raw = struct.pack("<I", 15 | (31 << 5) | (0x1FFFFF << 10))  # the largest positive values
    assert _both(btf, tid, raw) == {"e": 15, "u": 31, "big": 0x1FFFFF}


def test_int128_signed_when_btf_says_so() -> None:
    b = BtfBuilder()
    s128 = b.int("__int128", 16, signed=True)
    u128 = b.int("unsigned __int128", 16)
    tid = b.struct("wide", 32, [("s", s128, 0), ("u", u128, 128)])
    btf = Btf.parse(b.blob())
    raw = (-5 & (2**128 - 1)).to_bytes(16, "little") + (2**128 - 5).to_bytes(16, "little")
    assert _both(btf, tid, raw) == {"s": -5, "u": 2**128 - 5}
    assert _both(btf, s128, (2**127).to_bytes(16, "little")) == -(2**127)


def test_anonymous_members_merge_into_the_parent() -> None:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    s32 = b.int("int", 4, signed=True)
    u16 = b.int("unsigned short", 2)
    # struct rec { u32 a; union { u32 r; int s; }; struct { u16 lo, hi; union { u32 deep; }; }; };
    un = b.union("", 4, [("r", u32, 0), ("s", s32, 0)])
    inner_un = b.union("", 4, [("deep", u32, 0)])
    st = b.struct("", 8, [("lo", u16, 0), ("hi", u16, 16), ("", inner_un, 32)])
    tid = b.struct("rec", 16, [("a", u32, 0), ("", un, 32), ("", st, 64)])
    btf = Btf.parse(b.blob())
    raw = struct.pack("<IiHHI", 7, -2, 1, 2, 99)
    value = _both(btf, tid, raw)
    assert value == {"a": 7, "r": 2**32 - 2, "s": -2, "lo": 1, "hi": 2, "deep": 99}
    assert list(value) == ["a", "r", "s", "lo", "hi", "deep"]  # in C's order
    assert encode(btf, tid, json.dumps(value)) == raw


def test_a_clashing_name_is_numbered_never_duplicated() -> None:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    un = b.union("", 4, [("x", u32, 0)])
    # hand-made BTF that C would refuse: a member x and an anonymous union with another x
    tid = b.struct("clash", 8, [("x", u32, 0), ("", un, 32)])
    btf = Btf.parse(b.blob())
    assert _both(btf, tid, struct.pack("<II", 1, 2)) == {"x": 1, "x#2": 2}
