"""Fuzz the BTF parser and everything built on it: mutated and truncated blobs, cyclic and self-referential
types, shared sub-types that would expand exponentially. The only exception allowed out of the BTF layer
is BtfError (and EncodeError from the encoder): never IndexError, struct.error, RecursionError,
MemoryError, nor a hang.

10,000 hypothesis cases by default (``MAPEXPLORER_FUZZ_EXAMPLES`` overrides), derandomized so CI runs are
repeatable.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapexplorer.btf import Btf, BtfError
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.btf.cprint import c_type, type_ref
from mapexplorer.btf.decode import compile_decoder, compile_json_texts
from mapexplorer.btf.encode import EncodeError, encode
from mapexplorer.btf.types import find_enum_fast

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = int(os.environ.get("MAPEXPLORER_FUZZ_EXAMPLES", "10000"))
MAX_DECODE = 512


def cyclic_blobs() -> list[bytes]:
    out = []
    # typedef a -> typedef b -> typedef a
    b = BtfBuilder()
    b.typedef("a", 2)
    b.typedef("b", 1)
    out.append(b.blob())
    # a struct containing itself by value; an array of itself; const -> volatile -> const
    b = BtfBuilder()
    u32 = b.int("u32", 4)
    b.struct("self", 8, [("x", u32, 0), ("me", 2, 32)])
    b.array(3, 4, u32)
    b.const(5)
    b.volatile(4)
    b.struct("A", 4, [("b", 7, 0)])
    b.struct("B", 4, [("a", 6, 0)])
    ptr = b.ptr(9)
    b.typedef("loop_ptr", ptr)  # a pointer cycle is fine C: decodes as a number
    out.append(b.blob())
    # 40 levels of two members of the next level: exponential if sub-types were not shared
    b = BtfBuilder()
    leaf = b.int("u8", 1)
    prev = leaf
    for i in range(40):
        prev = b.struct(f"lvl{i}", 2, [("l", prev, 0), ("r", prev, 0)])
    # the same with anonymous structs (inlined by the C printer)
    prev = leaf
    for _ in range(40):
        prev = b.struct("", 2, [("l", prev, 0), ("r", prev, 0)])
    b.typedef("deep_anon", prev)
    out.append(b.blob())
    # a huge array and an array of huge arrays
    b = BtfBuilder()
    u32 = b.int("u32", 4)
    a1 = b.array(u32, 1 << 30, u32)
    b.array(a1, 1 << 30, u32)
    b.struct("big", 4, [("arr", a1, 0)])
    out.append(b.blob())
    return out


def seeds() -> list[bytes]:
    blobs = {base64.b64decode(json.loads(p.read_text())["btf"]) for p in sorted(GOLDEN.glob("*.json"))}
    return sorted(blobs) + cyclic_blobs()  # the BCC maps share one program BTF: once is enough


SEEDS = seeds()


def exercise(blob: bytes) -> None:
    """Everything a user of the BTF layer may do with a blob; only BtfError / EncodeError may escape."""
    with contextlib.suppress(BtfError):
        find_enum_fast(blob, "color")
    try:
        btf = Btf.parse(blob)
    except BtfError:
        return
    for call in (
        lambda: btf.find("rich", "struct"),
        lambda: btf.structs_of_size(8),
        btf.validate,
        lambda: btf.enum_values("color"),
    ):
        with contextlib.suppress(BtfError):
            call()
    for tid in list(btf.types())[:32]:
        try:
            btf.type(tid)
            btf.resolve(tid)
            type_ref(btf, tid)
            c_type(btf, tid)
        except BtfError:
            pass
        try:
            size = btf.type_size(tid)
            decode = compile_decoder(btf, tid)
            if 0 < size <= MAX_DECODE:
                decode(bytes(size))
                decode(bytes(range(256)) * (size // 256) + bytes(range(size % 256)))
                if tid % 3 == 0:  # generating code is the slow part: a third of the types is plenty
                    compile_json_texts(btf, tid)(b"\xff" * size * 2)
        except BtfError:
            pass
        for text in ("0x10", '{"x": 1}', '["ab", 2]'):
            try:
                if btf.type_size(tid) <= MAX_DECODE:
                    encode(btf, tid, text)
            except (BtfError, EncodeError):
                pass


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["byte", "word", "kind", "truncate", "insert", "header"]))
        if not data:
            break
        if op == "byte":
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif op in ("word", "kind") and len(data) >= 28:
            pos = 24 + 4 * draw(st.integers(0, (len(data) - 28) // 4))
            if op == "word":
                value = draw(st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)))
            else:
                value = (
                    draw(st.integers(0, 31)) << 24
                    | draw(st.integers(0, 8))
                    | draw(st.sampled_from([0, 1 << 31]))
                )
            data[pos : pos + 4] = struct.pack("<I", value)
        elif op == "truncate":
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif op == "insert":
            pos = draw(st.integers(0, len(data)))
            data[pos:pos] = draw(st.binary(min_size=1, max_size=12))
        elif op == "header" and len(data) >= 24:
            field = draw(st.integers(1, 5))  # hdr_len, type_off, type_len, str_off, str_len
            data[4 * field + 4 : 4 * field + 8] = struct.pack("<I", draw(st.integers(0, len(data) + 8)))
    return bytes(data)


def test_seeds_are_handled() -> None:
    for blob in SEEDS:
        exercise(blob)


def test_cycles_raise_btf_error() -> None:
    btf = Btf.parse(cyclic_blobs()[1])
    for tid in (2, 3, 6):  # self-containing struct, array of itself, mutually containing structs
        try:
            compile_decoder(btf, tid)
        except BtfError as exc:
            assert f"[{tid}]" in str(exc) or "itself" in str(exc)
        else:
            raise AssertionError(f"type {tid} compiled although it contains itself")
    try:
        btf.resolve(4)
    except BtfError as exc:
        assert "cycle" in str(exc)
    else:
        raise AssertionError("const/volatile cycle resolved")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_mutated_blobs_raise_only_btf_error(blob: bytes) -> None:
    exercise(blob)


@settings(max_examples=max(EXAMPLES // 10, 50), deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=256))
def test_random_bytes_raise_only_btf_error(data: bytes) -> None:
    exercise(b"\x9f\xeb\x01\x00" + data)
