"""The little BTF the demo needs, without the full parser: find a named struct in vmlinux BTF (its id,
size and members, for struct_ops), read the kernel's ``enum bpf_map_type``, and build small BTF blobs
(int, char array and struct types) for maps created with raw bpf() that need value types.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

BTF_MAGIC = 0xEB9F
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

KIND_INT = 1
KIND_ARRAY = 3
KIND_STRUCT = 4
KIND_UNION = 5
KIND_ENUM = 6
KIND_FUNC = 12
KIND_ENUM64 = 19

# Bytes each kind adds after the 12-byte common header (per vlen item where it has members).
_FIXED_EXTRA = {1: 4, 3: 12, 14: 4, 17: 4}
_PER_MEMBER = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    type_id: int
    bit_offset: int


@dataclass(frozen=True, slots=True)
class StructType:
    id: int
    name: str
    size: int
    members: tuple[Member, ...]

    def member(self, name: str) -> tuple[int, Member]:
        """The index and record of the member called ``name`` (KeyError if absent)."""
        for i, m in enumerate(self.members):
            if m.name == name:
                return i, m
        raise KeyError(f"{self.name} has no member {name}")


class MiniBtf:
    """An index of one BTF blob: type offsets by id, with lookups of named structs and enums."""

    def __init__(self, data: bytes) -> None:
        magic = struct.unpack_from("<H", data, 0)[0]
        if magic != BTF_MAGIC:
            raise ValueError("not a little-endian BTF blob")
        hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<5I", data, 4)
        self._data = data
        self._types = hdr_len + type_off
        self._strs = hdr_len + str_off
        self._str_end = self._strs + str_len
        self._offsets: list[int] = [0]  # id 0 is void
        pos, end = self._types, self._types + type_len
        while pos < end:
            self._offsets.append(pos)
            info = struct.unpack_from("<I", data, pos + 4)[0]
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            pos += 12 + _FIXED_EXTRA.get(kind, 0) + _PER_MEMBER.get(kind, 0) * vlen

    def _str(self, off: int) -> str:
        start = self._strs + off
        return self._data[start : self._data.index(b"\0", start)].decode()

    def _head(self, type_id: int) -> tuple[str, int, int, int, int]:
        pos = self._offsets[type_id]
        name_off, info, size = struct.unpack_from("<3I", self._data, pos)
        return self._str(name_off), (info >> 24) & 0x1F, info & 0xFFFF, bool(info >> 31), size

    def find(self, name: str, kind: int) -> int:
        """The id of the first type of ``kind`` called ``name`` (KeyError if none)."""
        for type_id in range(1, len(self._offsets)):
            pos = self._offsets[type_id]
            info = struct.unpack_from("<I", self._data, pos + 4)[0]
            if (info >> 24) & 0x1F != kind:
                continue
            if self._str(struct.unpack_from("<I", self._data, pos)[0]) == name:
                return type_id
        raise KeyError(f"no BTF type {name!r}")

    def struct(self, name: str) -> StructType:
        type_id = self.find(name, KIND_STRUCT)
        tname, _kind, vlen, kflag, size = self._head(type_id)
        pos = self._offsets[type_id] + 12
        members = []
        for i in range(vlen):
            name_off, mtype, offset = struct.unpack_from("<3I", self._data, pos + 12 * i)
            members.append(Member(self._str(name_off), mtype, offset & 0xFFFFFF if kflag else offset))
        return StructType(type_id, tname, size, tuple(members))

    def enum_values(self, name: str) -> dict[str, int]:
        type_id = self.find(name, KIND_ENUM)
        _n, _k, vlen, _f, _s = self._head(type_id)
        pos = self._offsets[type_id] + 12
        out = {}
        for i in range(vlen):
            name_off, val = struct.unpack_from("<Ii", self._data, pos + 8 * i)
            out[self._str(name_off)] = val
        return out


@cache
def vmlinux() -> MiniBtf:
    with open(VMLINUX_BTF, "rb") as f:
        return MiniBtf(f.read())


class BtfBuilder:
    """Build a small BTF blob: ints, arrays and structs, in the order they are added (ids from 1)."""

    def __init__(self) -> None:
        self._types: list[bytes] = []
        self._strings = bytearray(b"\0")

    def _name(self, name: str) -> int:
        if not name:
            return 0
        off = len(self._strings)
        self._strings += name.encode() + b"\0"
        return off

    def _add(self, record: bytes) -> int:
        self._types.append(record)
        return len(self._types)

    def int_type(self, name: str, size: int, *, signed: bool = False) -> int:
        encoding = 1 if signed else 0  # the kernel accepts one encoding bit; clang marks char SIGNED
        info = KIND_INT << 24
        return self._add(struct.pack("<4I", self._name(name), info, size, (encoding << 24) | size * 8))

    def array(self, elem: int, index: int, nelems: int) -> int:
        return self._add(struct.pack("<3I3I", 0, KIND_ARRAY << 24, 0, elem, index, nelems))

    def struct_type(self, name: str, size: int, members: list[tuple[str, int, int]]) -> int:
        """``members``: (name, type id, byte offset)."""
        rec = struct.pack("<3I", self._name(name), (KIND_STRUCT << 24) | len(members), size)
        for mname, mtype, off in members:
            rec += struct.pack("<3I", self._name(mname), mtype, off * 8)
        return self._add(rec)

    def blob(self) -> bytes:
        types = b"".join(self._types)
        hdr = struct.pack("<HBBI4I", BTF_MAGIC, 1, 0, 24, 0, len(types), len(types), len(self._strings))
        return hdr + types + bytes(self._strings)
