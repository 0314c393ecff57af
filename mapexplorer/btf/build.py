"""Write BTF blobs: every kind, for maps that need hand-made BTF (types BCC will not describe, such as
floats; struct_ops and cgrp_storage maps that need some btf_fd), and for tests. Pure: returns bytes.

Type ids start at 1 in the order types are added (``start_id`` for split BTF on a base).
"""

from __future__ import annotations

import struct

from mapexplorer.btf.types import (
    ARRAY,
    CONST,
    DATASEC,
    DECL_TAG,
    ENUM,
    ENUM64,
    FLOAT,
    FUNC,
    FUNC_PROTO,
    FWD,
    INT,
    INT_BOOL,
    INT_CHAR,
    INT_SIGNED,
    PTR,
    RESTRICT,
    STRUCT,
    TYPE_TAG,
    TYPEDEF,
    UNION,
    VAR,
    VOLATILE,
)

# BtfBuilder's methods are named after what they add (int, str, float, struct): inside the class body those
# names are the methods, so its annotations name the builtins through these aliases.
Int = int
Str = str


class BtfBuilder:
    """Append types with the methods below (each returns the new type id), then ``blob()``."""

    def __init__(self, start_id: Int = 1, str_base: Int = 0) -> None:
        self.types = bytearray()
        self.strings = bytearray(b"" if str_base else b"\0")
        self.str_base = str_base
        self.next_id = start_id
        self._str_cache: dict[Str, Int] = {}

    def str(self, name: Str) -> Int:
        if not name:
            return 0
        if name not in self._str_cache:
            self._str_cache[name] = self.str_base + len(self.strings)
            self.strings += name.encode() + b"\0"
        return self._str_cache[name]

    def _add(
        self, name: Str, kind: Int, vlen: Int, size_type: Int, extra: bytes = b"", kflag: bool = False
    ) -> Int:
        info = (int(kflag) << 31) | (kind << 24) | vlen
        self.types += struct.pack("<III", self.str(name), info, size_type) + extra
        tid = self.next_id
        self.next_id += 1
        return tid

    def int(
        self,
        name: Str,
        size: Int,
        *,
        signed: bool = False,
        char: bool = False,
        bool_: bool = False,
        bits: Int | None = None,
        offset: Int = 0,
    ) -> Int:
        enc = (INT_SIGNED if signed else 0) | (INT_CHAR if char else 0) | (INT_BOOL if bool_ else 0)
        nbits = size * 8 if bits is None else bits
        return self._add(name, INT, 0, size, struct.pack("<I", enc << 24 | offset << 16 | nbits))

    def ptr(self, target: Int) -> Int:
        return self._add("", PTR, 0, target)

    def array(self, elem: Int, nelems: Int, index: Int) -> Int:
        return self._add("", ARRAY, 0, 0, struct.pack("<III", elem, index, nelems))

    def _members(self, kind: Int, name: Str, size: Int, members: list[tuple], kflag: bool) -> Int:
        """members: (name, type, bit_offset) or (name, type, bit_offset, bitfield_size)."""
        extra = bytearray()
        for m in members:
            mname, mtype, boff = m[0], m[1], m[2]
            bsize = m[3] if len(m) > 3 else 0
            off = (bsize << 24 | boff) if kflag else boff
            extra += struct.pack("<III", self.str(mname), mtype, off)
        return self._add(name, kind, len(members), size, bytes(extra), kflag)

    def struct(self, name: Str, size: Int, members: list[tuple], *, kflag: bool | None = None) -> Int:
        if kflag is None:
            kflag = any(len(m) > 3 and m[3] for m in members)
        return self._members(STRUCT, name, size, members, kflag)

    def union(self, name: Str, size: Int, members: list[tuple], *, kflag: bool | None = None) -> Int:
        if kflag is None:
            kflag = any(len(m) > 3 and m[3] for m in members)
        return self._members(UNION, name, size, members, kflag)

    def enum(self, name: Str, size: Int, values: list[tuple[Str, Int]], *, signed: bool = False) -> Int:
        extra = b"".join(struct.pack("<II", self.str(n), v & 0xFFFFFFFF) for n, v in values)
        return self._add(name, ENUM, len(values), size, extra, signed)

    def enum64(self, name: Str, size: Int, values: list[tuple[Str, Int]], *, signed: bool = False) -> Int:
        extra = b"".join(
            struct.pack("<III", self.str(n), v & 0xFFFFFFFF, (v >> 32) & 0xFFFFFFFF) for n, v in values
        )
        return self._add(name, ENUM64, len(values), size, extra, signed)

    def fwd(self, name: Str, union: bool = False) -> Int:
        return self._add(name, FWD, 0, 0, kflag=union)

    def typedef(self, name: Str, target: Int) -> Int:
        return self._add(name, TYPEDEF, 0, target)

    def volatile(self, target: Int) -> Int:
        return self._add("", VOLATILE, 0, target)

    def const(self, target: Int) -> Int:
        return self._add("", CONST, 0, target)

    def restrict(self, target: Int) -> Int:
        return self._add("", RESTRICT, 0, target)

    def type_tag(self, name: Str, target: Int) -> Int:
        return self._add(name, TYPE_TAG, 0, target)

    def func_proto(self, ret: Int, params: list[tuple[Str, Int]]) -> Int:
        extra = b"".join(struct.pack("<II", self.str(n), t) for n, t in params)
        return self._add("", FUNC_PROTO, len(params), ret, extra)

    def func(self, name: Str, proto: Int, linkage: Int = 1) -> Int:
        return self._add(name, FUNC, linkage, proto)

    def var(self, name: Str, target: Int, linkage: Int = 1) -> Int:
        return self._add(name, VAR, 0, target, struct.pack("<I", linkage))

    def datasec(self, name: Str, size: Int, vars_: list[tuple[Int, Int, Int]]) -> Int:
        """vars_: (var type id, offset, size)."""
        extra = b"".join(struct.pack("<III", *v) for v in vars_)
        return self._add(name, DATASEC, len(vars_), size, extra)

    def float(self, name: Str, size: Int) -> Int:
        return self._add(name, FLOAT, 0, size)

    def decl_tag(self, name: Str, target: Int, component_idx: Int = -1) -> Int:
        return self._add(name, DECL_TAG, 0, target, struct.pack("<i", component_idx))

    def blob(self, *, big_endian: bool = False) -> bytes:
        """The BTF blob: header, type section, string section."""
        o = ">" if big_endian else "<"
        types = bytes(self.types)
        if big_endian:
            types = b"".join(struct.pack(">I", w) for (w,) in struct.iter_unpack("<I", types))
        hdr = struct.pack(o + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(self.strings))
        return hdr + types + bytes(self.strings)
