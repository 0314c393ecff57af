"""BTF parser, C printer and encoder on hand-built blobs: header checks, byte order, split BTF, lookups,
encode errors naming the field path. No root needed (vmlinux tests skip when it is unreadable)."""

from __future__ import annotations

import json
import os
import struct

import pytest

from mapexplorer.btf import Btf, BtfError
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.btf.cprint import c_type, type_ref
from mapexplorer.btf.decode import compile_decoder, compile_json_texts
from mapexplorer.btf.encode import EncodeError, encode
from mapexplorer.btf.types import find_enum_fast
from mapexplorer.codec import encode_bytes

VMLINUX = "/sys/kernel/btf/vmlinux"
needs_vmlinux = pytest.mark.skipif(not os.access(VMLINUX, os.R_OK), reason="no readable kernel BTF")


def sample() -> tuple[BtfBuilder, dict[str, int]]:
    b = BtfBuilder()
    ids = {}
    ids["u32"] = b.int("unsigned int", 4)
    ids["int"] = b.int("int", 4, signed=True)
    ids["char"] = b.int("char", 1, signed=True)
    ids["idx"] = b.int("__ARRAY_SIZE_TYPE__", 4)
    ids["color"] = b.enum("color", 4, [("RED", 0), ("GREEN", 5)])
    ids["name"] = b.array(ids["char"], 8, ids["idx"])
    ids["flags"] = b.struct(
        "flags", 4, [("a", ids["u32"], 0, 3), ("b", ids["u32"], 3, 9), ("c", ids["int"], 12, 20)]
    )
    ids["ev"] = b.struct(
        "event",
        24,
        [
            ("pid", ids["u32"], 0),
            ("color", ids["color"], 32),
            ("name", ids["name"], 64),
            ("f", ids["flags"], 128),
        ],
    )
    ids["ev_t"] = b.typedef("event_t", ids["ev"])
    return b, ids


def test_header_errors() -> None:
    b, _ = sample()
    blob = b.blob()
    cases = {
        "short": blob[:10],
        "magic": b"\x00\x00" + blob[2:],
        "version": blob[:2] + b"\x02" + blob[3:],
        "sections": blob[:16] + struct.pack("<I", 10**6) + blob[20:],
        "truncated types": blob[:24] + blob[24:60],
    }
    for bad in cases.values():
        with pytest.raises(BtfError):
            Btf.parse(bad)


def test_hdr_len_honoured_and_both_byte_orders() -> None:
    b, ids = sample()
    blob = b.blob()
    hdr = bytearray(blob[:24])
    hdr[4:8] = struct.pack("<I", 32)  # a longer header, as future kernels may send
    longer = bytes(hdr) + bytes(8) + blob[24:]
    for data in (blob, longer, b.blob(big_endian=True)):
        btf = Btf.parse(data)
        assert btf.find("event", "struct") == ids["ev"]
        assert [m.name for m in btf.type(ids["ev"]).members] == ["pid", "color", "name", "f"]
    assert Btf.parse(b.blob(big_endian=True)).byteorder == ">"


def test_lookups() -> None:
    b, ids = sample()
    btf = Btf.parse(b.blob())
    btf.validate()
    assert btf.find("event") == ids["ev"]
    assert btf.find("event", "union") is None
    assert btf.find("nope") is None
    assert btf.type_size(ids["ev_t"]) == 24
    assert btf.type_size(ids["name"]) == 8
    assert btf.enum_values("color") == {"RED": 0, "GREEN": 5}
    assert btf.structs_of_size(24) == [ids["ev"]]
    assert btf.resolve(ids["ev_t"]) == ids["ev"]
    with pytest.raises(BtfError, match="out of range"):
        btf.type(999)
    with pytest.raises(BtfError, match="no enum"):
        btf.enum_values("nope")


def test_decode_and_text() -> None:
    b, ids = sample()
    btf = Btf.parse(b.blob())
    flags = 5 | (300 << 3) | (0xFFFFF << 12)
    raw = struct.pack("<Ii8sI", 7, 5, b"init\0\0\0\0", flags) + bytes(4)
    # c is an int bitfield: all ones is -1
    want = {"pid": 7, "color": "GREEN", "name": "init", "f": {"a": 5, "b": 300, "c": -1}}
    assert compile_decoder(btf, ids["ev_t"])(raw) == want
    assert [json.loads(t) for t in compile_json_texts(btf, ids["ev_t"])(raw * 2)] == [want, want]
    with pytest.raises(BtfError, match="shorter"):
        compile_decoder(btf, ids["ev"])(raw[:5])


def test_split_btf_ids_continue_after_base() -> None:
    base_b, ids = sample()
    base = Btf.parse(base_b.blob())
    split = BtfBuilder(start_id=base.count, str_base=base.strings_size)
    first = split.typedef("first_name", ids["u32"])  # split strings may start with a name, not ""
    ptr = split.ptr(ids["ev"])
    wrap = split.struct("wrap", 16, [("ev", ptr, 0), ("n", ids["u32"], 64)])
    btf = Btf.parse(split.blob(), base=base)
    assert first == base.count
    assert btf.find("first_name") == first
    assert btf.find("wrap", "struct") == wrap
    assert btf.find("event", "struct") == ids["ev"]  # found in the base
    assert btf.type(wrap).members[1].name == "n"
    assert c_type(btf, wrap) == "struct wrap {\n    struct event *ev;\n    unsigned int n;\n};"
    assert compile_decoder(btf, wrap)(struct.pack("<QI4x", 0x1000, 3)) == {"ev": 0x1000, "n": 3}


def test_c_text() -> None:
    b, ids = sample()
    btf = Btf.parse(b.blob())
    assert type_ref(btf, ids["name"]) == "char[8]"
    assert type_ref(btf, ids["ev_t"]) == "event_t"
    text = c_type(btf, ids["ev_t"])
    assert text.startswith("typedef struct event event_t;\n\nstruct event {")
    assert "    char name[8];" in text and "    struct flags f;" in text
    assert "unsigned int b: 9;" in c_type(btf, ids["flags"])
    with_offsets = c_type(btf, ids["ev"], offsets=True)
    assert "    char name[8];  /* offset 8, size 8 */" in with_offsets
    assert "    struct flags f;  /* offset 16, size 4 */" in with_offsets
    assert "unsigned int b: 9;  /* offset 0 bit 3, 9 bits */" in c_type(btf, ids["flags"], offsets=True)
    assert "/*" not in c_type(btf, ids["ev"])


def test_encode_roundtrip_and_errors() -> None:
    b, ids = sample()
    btf = Btf.parse(b.blob())
    text = '{"pid": "0x10", "color": "GREEN", "name": "sh", "f": {"a": 7, "c": -1}}'
    raw = encode(btf, ids["ev_t"], text)
    assert compile_decoder(btf, ids["ev_t"])(raw) == {
        "pid": 16,
        "color": "GREEN",
        "name": "sh",
        "f": {"a": 7, "b": 0, "c": -1},  # a signed bitfield reads back as written
    }
    assert encode(btf, ids["u32"], "0xff") == b"\xff\0\0\0"
    assert encode(btf, ids["color"], "GREEN") == struct.pack("<I", 5)
    errors = {
        '{"pid": 1, "nope": 2}': ("value.nope", "no such member"),
        '{"f": {"a": 8}}': ("value.f.a", "out of range"),
        '{"name": "much too long"}': ("value.name", "does not fit"),
        '{"color": "BLUE"}': ("value.color", "not an enumerator"),
        '{"pid": "abc"}': ("value.pid", "expected an integer"),
        "[1, 2]": ("value", "expected a JSON object"),
    }
    for text, (path, reason) in errors.items():
        with pytest.raises(EncodeError) as info:
            encode(btf, ids["ev_t"], text)
        assert info.value.path == path and reason in info.value.reason, text
    with pytest.raises(EncodeError, match="-1 out of range"):
        encode(btf, ids["u32"], "-1")


def test_encode_bytes_without_btf() -> None:
    assert encode_bytes("01 02 0a ff", 4, "key") == b"\x01\x02\x0a\xff"
    assert encode_bytes('["0x01","0x00","0x00","0x00"]', 4, "key") == b"\x01\0\0\0"
    assert encode_bytes("0x1234", 4, "key") == b"\x34\x12\0\0"
    with pytest.raises(EncodeError, match="2 bytes given, 4 needed"):
        encode_bytes("01 02", 4, "value")


@needs_vmlinux
def test_vmlinux_index_and_enum_fast() -> None:
    with open(VMLINUX, "rb") as f:
        data = f.read()
    btf = Btf.parse(data)
    tid = btf.find("bpf_map_type", "enum")
    assert tid is not None
    full = btf.enum_values("bpf_map_type")
    assert find_enum_fast(data, "bpf_map_type") == full
    assert full["BPF_MAP_TYPE_HASH"] == 1
    assert find_enum_fast(data, "no_such_enum_here") is None
    assert "struct bpf_map_info {" in c_type(btf, btf.find("bpf_map_info", "struct"))


def test_btf_package_is_pure() -> None:
    """mapexplorer.btf makes no syscalls: it never imports the kernel layer, ctypes or textual."""
    import subprocess
    import sys

    mods = "mapexplorer.btf.types, mapexplorer.btf.decode, mapexplorer.btf.encode, mapexplorer.btf.cprint, "
    mods += "mapexplorer.btf.build"
    code = (
        f"import sys, {mods}; bad = [m for m in sys.modules if m.startswith(('ctypes', 'textual', "
        "'mapexplorer.kernel'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_big_endian_btf_decodes_big_endian_data() -> None:
    """BTF of a big-endian host: values are big-endian and bitfields count from the most significant bit."""
    b, ids = sample()
    btf = Btf.parse(b.blob(big_endian=True))
    flags = (5 << 29) | (300 << 20) | 0xFFFFF  # a:3, b:9, c:20 from the top of the 32-bit unit
    raw = struct.pack(">Ii8sI", 7, 5, b"init\0\0\0\0", flags) + bytes(4)
    # c is an int bitfield: all ones is -1
    want = {"pid": 7, "color": "GREEN", "name": "init", "f": {"a": 5, "b": 300, "c": -1}}
    assert compile_decoder(btf, ids["ev_t"])(raw) == want
    assert [json.loads(t) for t in compile_json_texts(btf, ids["ev_t"])(raw)] == [want]
    assert encode(btf, ids["ev_t"], json.dumps(want)) == raw
