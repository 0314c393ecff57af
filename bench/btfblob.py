"""A tiny BTF writer for benchmarks: just enough kinds (INT, STRUCT) to give a map a typed key/value."""

from __future__ import annotations

import struct

BTF_KIND_INT = 1
BTF_KIND_STRUCT = 4


class BtfBuilder:
    """Append types, then ``blob()``; type ids start at 1 in order of addition."""

    def __init__(self) -> None:
        self.types = bytearray()
        self.strings = bytearray(b"\0")
        self.count = 0

    def _str(self, name: str) -> int:
        if not name:
            return 0
        off = len(self.strings)
        self.strings += name.encode() + b"\0"
        return off

    def int(self, name: str, size: int, signed: bool = False) -> int:
        self.types += struct.pack("<III", self._str(name), BTF_KIND_INT << 24, size)
        self.types += struct.pack("<I", (1 if signed else 0) << 24 | size * 8)
        self.count += 1
        return self.count

    def struct(self, name: str, size: int, members: list[tuple[str, int, int]]) -> int:
        """members: (name, type_id, bit_offset)."""
        self.types += struct.pack("<III", self._str(name), BTF_KIND_STRUCT << 24 | len(members), size)
        for mname, tid, bit in members:
            self.types += struct.pack("<III", self._str(mname), tid, bit)
        self.count += 1
        return self.count

    def blob(self) -> bytes:
        hdr = struct.pack(
            "<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types), len(self.strings)
        )
        return hdr + bytes(self.types) + bytes(self.strings)
