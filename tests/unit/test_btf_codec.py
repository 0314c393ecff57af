"""MapCodec without the kernel: codecs built from a MapInfo and a hand-made Btf; bulk JSON text equals the
per-entry decoding for plain, per-CPU, map-of-maps and BTF-less maps; encode_* round trips."""

from __future__ import annotations

import json
import os
import struct

import pytest

from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.btf.encode import EncodeError
from mapexplorer.codec import MapCodec, map_codec, register_kernel_enum_names
from mapexplorer.kernel.maps import EntryChunk, MapInfo, possible_cpu_count, round_up8
from mapexplorer.kernel.names import MAP_TYPE_IDS, map_type_name


def info(type_name: str, key_size: int, value_size: int) -> MapInfo:
    return MapInfo(
        id=1,
        type=MAP_TYPE_IDS[type_name],
        type_name=type_name,
        name="test_codec",
        key_size=key_size,
        value_size=value_size,
        max_entries=8,
        flags=0,
        btf_id=0,
        btf_key_type_id=0,
        btf_value_type_id=0,
        btf_vmlinux_value_type_id=0,
        map_extra=0,
        ifindex=0,
        memlock=0,
        frozen=False,
    )


def typed() -> tuple[Btf, int, int]:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u16 = b.int("unsigned short", 2)
    color = b.enum("color", 4, [("RED", 0), ("GREEN", 5)])
    val = b.struct("val", 12, [("n", u32, 0), ("c", color, 32), ("lo", u16, 64, 3), ("hi", u16, 67, 13)])
    return Btf.parse(b.blob()), u32, val


def chunk_of(pairs: list[tuple[bytes, bytes]], key_size: int, stride: int) -> EntryChunk:
    return EntryChunk(
        b"".join(k for k, _ in pairs), b"".join(v for _, v in pairs), len(pairs), key_size, stride
    )


def values(i: int) -> bytes:
    return struct.pack("<IiH2x", i, (0, 5, 9)[i % 3], (i * 37) & 0xFFFF)


def test_hash_with_btf() -> None:
    btf, u32, val = typed()
    codec = MapCodec(info("hash", 4, 12), btf, u32, btf, val)
    assert codec.has_btf and codec.key_c == "unsigned int" and codec.value_c.startswith("struct val {")
    pairs = [(struct.pack("<I", i), values(i)) for i in range(5)]
    texts = codec.chunk_json(chunk_of(pairs, 4, 12))
    assert [json.loads(t) for t in texts] == [codec.entry_json(k, v) for k, v in pairs]
    assert codec.entry_json(*pairs[1]) == {"key": 1, "value": {"n": 1, "c": "GREEN", "lo": 5, "hi": 4}}
    raw = codec.encode_value('{"n": 7, "c": "GREEN", "hi": 8191}')
    assert codec.decode_value(raw) == {"n": 7, "c": "GREEN", "lo": 0, "hi": 8191}
    assert codec.encode_key("0x10") == b"\x10\0\0\0"
    with pytest.raises(EncodeError, match=r"value\.hi"):
        codec.encode_value('{"hi": 8192}')


def test_percpu_with_btf() -> None:
    btf, u32, val = typed()
    ncpu = possible_cpu_count()
    slot = round_up8(12)
    codec = MapCodec(info("percpu_hash", 4, 12), btf, u32, btf, val)
    pairs = [
        (struct.pack("<I", i), b"".join(values(i + c).ljust(slot, b"\0") for c in range(ncpu)))
        for i in range(3)
    ]
    texts = codec.chunk_json(chunk_of(pairs, 4, slot * ncpu))
    entries = [codec.entry_json(k, v) for k, v in pairs]
    assert [json.loads(t) for t in texts] == entries
    assert [c["cpu"] for c in entries[0]["values"]] == list(range(ncpu))
    assert codec.decode_percpu(pairs[0][1])[0] == {"n": 0, "c": "RED", "lo": 0, "hi": 0}


def test_without_btf_and_id_values() -> None:
    plain = map_codec(info("hash", 4, 2))
    assert not plain.has_btf and plain.key_c is None
    pairs = [(struct.pack("<I", i), struct.pack("<H", i)) for i in range(3)]
    texts = plain.chunk_json(chunk_of(pairs, 4, 2))
    assert json.loads(texts[1]) == {"key": ["0x01", "0x00", "0x00", "0x00"], "value": ["0x01", "0x00"]}
    assert [json.loads(t) for t in texts] == [plain.entry_json(k, v) for k, v in pairs]
    outer = map_codec(info("hash_of_maps", 4, 4))
    assert outer.decode_value(struct.pack("<I", 42)) == 42
    assert json.loads(outer.chunk_json(chunk_of([(bytes(4), struct.pack("<I", 42))], 4, 4))[0])["value"] == 42
    raw = map_codec(info("hash_of_maps", 4, 4), raw=True)
    assert raw.decode_value(struct.pack("<I", 42)) == ["0x2a", "0x00", "0x00", "0x00"]
    with pytest.raises(EncodeError):
        outer.encode_value("5")


@pytest.mark.skipif(not os.access("/sys/kernel/btf/vmlinux", os.R_OK), reason="no kernel BTF")
def test_kernel_enum_names_registered() -> None:
    register_kernel_enum_names()
    assert map_type_name(MAP_TYPE_IDS["hash"]) == "hash"
    assert map_type_name(32) == "cgrp_storage"
