"""BTF parsing: header checks, the type index (split BTF too), validated type records, name lookup.

Pure: bytes in, Python values out; no syscalls. Every malformed input raises :class:`BtfError` with a
message naming what is wrong and where, never IndexError / struct.error / RecursionError.

The type section of a BTF blob is a sequence of 32-bit words (every record of every kind is a multiple of
4 bytes), so the parser reads it as one ``array('I')`` (byte-swapped once when the blob's magic says the
other byte order) and indexes type ids by walking record sizes. Records are decoded into :class:`BtfType`
objects lazily, on first access, and validated then (referenced type ids, string offsets); ``Btf.validate``
checks every record at once.
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import NamedTuple

BTF_MAGIC = 0xEB9F
HEADER = struct.Struct("<HBBIIIII")  # magic, version, flags, hdr_len, type_off, type_len, str_off, str_len
MAX_RESOLVE_DEPTH = 64  # longer modifier / typedef chains (or nesting) are treated as cycles

# enum btf_kind
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)

KIND_NAMES: dict[int, str] = {
    0: "void",
    INT: "int",
    PTR: "ptr",
    ARRAY: "array",
    STRUCT: "struct",
    UNION: "union",
    ENUM: "enum",
    FWD: "fwd",
    TYPEDEF: "typedef",
    VOLATILE: "volatile",
    CONST: "const",
    RESTRICT: "restrict",
    FUNC: "func",
    FUNC_PROTO: "func_proto",
    VAR: "var",
    DATASEC: "datasec",
    FLOAT: "float",
    DECL_TAG: "decl_tag",
    TYPE_TAG: "type_tag",
    ENUM64: "enum64",
}
KIND_IDS: dict[str, int] = {v: k for k, v in KIND_NAMES.items()}

# Words after the 3-word common header: fixed extra words, and words per vlen item.
_EXTRA = {INT: 1, ARRAY: 3, VAR: 1, DECL_TAG: 1}
_PER_VLEN = {STRUCT: 3, UNION: 3, ENUM: 2, FUNC_PROTO: 2, DATASEC: 3, ENUM64: 3}
_EXTRA_T = tuple(_EXTRA.get(k, 0) for k in range(20))
_PER_VLEN_T = tuple(_PER_VLEN.get(k, 0) for k in range(20))
MODIFIERS = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})
SIZED = frozenset({INT, STRUCT, UNION, ENUM, FLOAT, ENUM64, DATASEC})

# INT encoding bits
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4


class BtfError(ValueError):
    """A BTF blob or a type in it is malformed, or a type cannot be used the way it was asked to."""


class Member(NamedTuple):
    """A struct/union member: bit_offset from the start of the struct; bitfield_size 0 unless a bitfield."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int = 0


class EnumValue(NamedTuple):
    name: str
    value: int


class Param(NamedTuple):
    name: str
    type: int


class VarSecInfo(NamedTuple):
    type: int
    offset: int
    size: int


class BtfType(NamedTuple):
    """One decoded BTF record. ``size`` for sized kinds, ``ref`` for kinds that point at another type."""

    id: int
    kind: int
    name: str
    kflag: bool
    vlen: int
    size: int = 0
    ref: int = 0
    # INT
    encoding: int = 0
    int_offset: int = 0
    bits: int = 0
    # ARRAY
    index_type: int = 0
    nelems: int = 0
    # STRUCT / UNION / ENUM / ENUM64 / FUNC_PROTO / DATASEC
    members: tuple[Member, ...] = ()
    values: tuple[EnumValue, ...] = ()
    params: tuple[Param, ...] = ()
    vars: tuple[VarSecInfo, ...] = ()
    # VAR linkage, FUNC linkage, DECL_TAG component_idx
    extra: int = 0

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, str(self.kind))

    @property
    def signed(self) -> bool:
        return bool(self.encoding & INT_SIGNED)


_VOID = BtfType(id=0, kind=0, name="void", kflag=False, vlen=0)


class Btf:
    """A parsed BTF blob. Type ids of split BTF continue after its base's."""

    def __init__(
        self,
        words: array,
        offsets: list[int],
        strings: bytes,
        base: Btf | None,
        byteorder: str,
    ) -> None:
        self._words = words
        self._offsets = offsets
        self._strings = strings
        self.base = base
        self.byteorder = byteorder  # "<" or ">": the order of the blob, and of the data it describes
        self.start_id = base.count if base else 1
        self.count = self.start_id + len(offsets)  # one past the last type id
        self._str_base = base.strings_size if base else 0
        self._types: dict[int, BtfType] = {}
        self._names: dict[str, list[int]] | None = None
        self._name_offs: list[int] | None = None
        self.plans: dict[int, object] = {}  # decoding plans by type id (mapexplorer.btf.decode)

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes, base: Btf | None = None) -> Btf:
        """Parse a raw BTF blob (as /sys/kernel/btf/* or BPF_OBJ_GET_INFO_BY_FD returns it).

        Raises:
            BtfError: bad magic/version, header or section out of bounds, unknown kind, truncated record.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise BtfError(f"BTF data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) < HEADER.size:
            raise BtfError(f"BTF blob of {len(data)} bytes is shorter than the {HEADER.size}-byte header")
        magic = int.from_bytes(data[:2], "little")
        if magic == BTF_MAGIC:
            order = "<"
        elif magic == 0x9FEB:
            order = ">"
        else:
            raise BtfError(f"bad BTF magic {magic:#06x} (expected 0xeb9f in either byte order)")
        hdr = struct.Struct(order + "HBBIIIII")
        _, version, _flags, hdr_len, type_off, type_len, str_off, str_len = hdr.unpack_from(data)
        if version != 1:
            raise BtfError(f"unsupported BTF version {version}")
        if hdr_len < HEADER.size or hdr_len > len(data):
            raise BtfError(f"BTF header length {hdr_len} out of bounds (blob is {len(data)} bytes)")
        body = len(data) - hdr_len
        if type_off + type_len > body or str_off + str_len > body:
            raise BtfError(
                f"BTF sections out of bounds: types {type_off}+{type_len}, strings {str_off}+{str_len},"
                f" body {body} bytes"
            )
        if type_off % 4 or type_len % 4:
            raise BtfError(f"BTF type section misaligned (offset {type_off}, length {type_len})")
        if type_off < str_off + str_len and str_off < type_off + type_len:
            raise BtfError("BTF type and string sections overlap")
        strings = data[hdr_len + str_off : hdr_len + str_off + str_len]
        if strings and strings[-1] != 0:
            raise BtfError("BTF string section is not NUL-terminated")
        if base is None and strings and strings[0] != 0:
            raise BtfError("BTF string section must start with an empty string")
        words = array("I")
        if words.itemsize != 4:  # pragma: no cover - every CPython platform we target has a 4-byte I
            raise BtfError("platform has no 32-bit array type")
        words.frombytes(data[hdr_len + type_off : hdr_len + type_off + type_len])
        if (order == "<") != (sys.byteorder == "little"):
            words.byteswap()
        offsets = _index(words)
        return cls(words, offsets, strings, base, order)

    # -- strings -----------------------------------------------------------------------------------

    @property
    def strings_size(self) -> int:
        return self._str_base + len(self._strings)

    def string(self, offset: int) -> str:
        """The NUL-terminated string at ``offset`` (offsets of split BTF continue after the base's)."""
        if offset < self._str_base:
            assert self.base is not None
            return self.base.string(offset)
        local = offset - self._str_base
        if local >= len(self._strings):
            raise BtfError(f"string offset {offset} out of bounds ({self.strings_size} bytes of strings)")
        end = self._strings.find(b"\0", local)
        if end < 0:
            raise BtfError(f"string at offset {offset} is not NUL-terminated")
        return self._strings[local:end].decode("utf-8", errors="replace")

    # -- types -------------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of type ids, void included (the last id is ``len(btf) - 1``)."""
        return self.count

    def type(self, type_id: int) -> BtfType:
        """The record of ``type_id`` (0 is void). Raises BtfError for an id out of range or a bad record."""
        t = self._types.get(type_id)
        if t is not None:
            return t
        if type_id == 0:
            return _VOID
        if not isinstance(type_id, int) or type_id < 0 or type_id >= self.count:
            raise BtfError(f"type id {type_id} out of range (1..{self.count - 1})")
        if type_id < self.start_id:
            assert self.base is not None
            return self.base.type(type_id)
        t = self._decode(type_id)
        self._types[type_id] = t
        return t

    def _ref(self, tid: int, ref: int, what: str) -> int:
        if ref >= self.count:
            last = self.count - 1
            raise BtfError(f"type [{tid}] {what} refers to type id {ref}, out of range (max {last})")
        return ref

    def _decode(self, tid: int) -> BtfType:
        w = self._words
        i = self._offsets[tid - self.start_id]
        name_off, info, size_type = w[i], w[i + 1], w[i + 2]
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        name = self.string(name_off)
        base: tuple[int, int, str, bool, int] = (tid, kind, name, kflag, vlen)
        p = i + 3
        if kind == INT:
            data = w[p]
            bits = data & 0xFF
            off = (data >> 16) & 0xFF
            enc = (data >> 24) & 0x0F
            if size_type not in (1, 2, 4, 8, 16):
                raise BtfError(f"type [{tid}] int '{name}' has invalid size {size_type}")
            if bits == 0 or bits > 128 or off + bits > size_type * 8:
                raise BtfError(f"type [{tid}] int '{name}' has invalid bits {bits} at offset {off}")
            if enc not in (0, INT_SIGNED, INT_CHAR, INT_BOOL):
                raise BtfError(f"type [{tid}] int '{name}' has invalid encoding {enc}")
            return BtfType(*base, size=size_type, encoding=enc, int_offset=off, bits=bits)
        if kind in (STRUCT, UNION):
            members = []
            for j in range(vlen):
                m_name, m_type, m_off = w[p], w[p + 1], w[p + 2]
                p += 3
                self._ref(tid, m_type, f"member {j}")
                if kflag:
                    bsize, boff = m_off >> 24, m_off & 0xFFFFFF
                else:
                    bsize, boff = 0, m_off
                if (boff + bsize + 7) // 8 > size_type and size_type:
                    raise BtfError(f"type [{tid}] member {j} at bit {boff} lies outside the {size_type}-byte"
                                   f" {KIND_NAMES[kind]}")
                members.append(Member(self.string(m_name), m_type, boff, bsize))
            return BtfType(*base, size=size_type, members=tuple(members))
        if kind == ENUM:
            if size_type not in (1, 2, 4, 8):
                raise BtfError(f"type [{tid}] enum '{name}' has invalid size {size_type}")
            vals = []
            for _ in range(vlen):
                v = w[p + 1]
                if kflag and v >= 1 << 31:
                    v -= 1 << 32
                vals.append(EnumValue(self.string(w[p]), v))
                p += 2
            return BtfType(*base, size=size_type, values=tuple(vals))
        if kind == ENUM64:
            if size_type not in (1, 2, 4, 8):
                raise BtfError(f"type [{tid}] enum64 '{name}' has invalid size {size_type}")
            vals = []
            for _ in range(vlen):
                v = w[p + 1] | (w[p + 2] << 32)
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                vals.append(EnumValue(self.string(w[p]), v))
                p += 3
            return BtfType(*base, size=size_type, values=tuple(vals))
        if kind == ARRAY:
            elem, index, nelems = w[p], w[p + 1], w[p + 2]
            self._ref(tid, elem, "element type")
            self._ref(tid, index, "index type")
            return BtfType(*base, ref=elem, index_type=index, nelems=nelems)
        if kind == FUNC_PROTO:
            self._ref(tid, size_type, "return type")
            params = []
            for j in range(vlen):
                params.append(Param(self.string(w[p]), self._ref(tid, w[p + 1], f"parameter {j}")))
                p += 2
            return BtfType(*base, ref=size_type, params=tuple(params))
        if kind == DATASEC:
            vars_ = []
            for j in range(vlen):
                vt, voff, vsize = w[p], w[p + 1], w[p + 2]
                self._ref(tid, vt, f"variable {j}")
                if size_type and voff + vsize > size_type:
                    raise BtfError(f"type [{tid}] datasec variable {j} lies outside the section")
                vars_.append(VarSecInfo(vt, voff, vsize))
                p += 3
            return BtfType(*base, size=size_type, vars=tuple(vars_))
        if kind == FLOAT:
            if size_type not in (2, 4, 8, 12, 16):
                raise BtfError(f"type [{tid}] float '{name}' has invalid size {size_type}")
            return BtfType(*base, size=size_type)
        if kind == FWD:
            return BtfType(*base)
        if kind in (VAR, DECL_TAG):
            self._ref(tid, size_type, "type")
            return BtfType(*base, ref=size_type, extra=w[p])
        if kind == FUNC:
            self._ref(tid, size_type, "prototype")
            return BtfType(*base, ref=size_type, extra=vlen)
        # PTR and the modifiers
        self._ref(tid, size_type, "referenced type")
        return BtfType(*base, ref=size_type)

    def decoded_count(self) -> int:
        """How many records of this blob have been decoded so far (records are decoded on first use)."""
        return len(self._types)

    def types(self) -> range:
        """Every local type id (split BTF: only the ids this blob adds)."""
        return range(self.start_id, self.count)

    def validate(self) -> None:
        """Decode and check every record, and that every modifier chain ends. Raises BtfError."""
        for tid in self.types():
            t = self.type(tid)
            if t.kind in MODIFIERS or t.kind == PTR:
                self.resolve(tid)

    # -- queries -----------------------------------------------------------------------------------

    def _ids_named(self, name: str) -> list[int]:
        """Local type ids whose name is ``name``: find the string(s), then the records pointing at them.

        No index of all names is built: a lookup is a substring search in the string section plus a
        C-speed scan of the records' name offsets (a few ms on vmlinux), cached per name.
        """
        found = self._names.get(name) if self._names is not None else None
        if found is not None:
            return found
        if self._names is None:
            self._names = {}
        if self._name_offs is None:
            w = self._words
            self._name_offs = [w[i] for i in self._offsets]
        found = []
        if name:
            raw = name.encode()
            needle = b"\0" + raw + b"\0"
            strings = self._strings
            # split BTF strings need not start with "": a name may sit at local offset 0
            hits = [0] if strings.startswith(raw + b"\0") else []
            pos = strings.find(needle)
            while pos >= 0:
                hits.append(pos + 1)
                pos = strings.find(needle, pos + 1)
            offs = self._name_offs
            for hit in hits:
                off = hit + self._str_base
                i = -1
                while True:
                    try:
                        i = offs.index(off, i + 1)
                    except ValueError:
                        break
                    found.append(i + self.start_id)
            found.sort()
        self._names[name] = found
        return found

    def find(self, name: str, kind: str | None = None) -> int | None:
        """The id of the first type named ``name`` (of ``kind``, e.g. "struct", when given), or None."""
        want = None
        if kind is not None:
            want = KIND_IDS.get(kind)
            if want is None:
                raise BtfError(f"unknown BTF kind {kind!r}")
        for tid in self._ids_named(name):
            t = self.type(tid)
            if want is None or t.kind == want:
                return tid
        if self.base is not None:
            return self.base.find(name, kind)
        return None

    def find_all(self, name: str) -> list[int]:
        found = self.base.find_all(name) if self.base is not None else []
        return found + self._ids_named(name)

    def resolve(self, type_id: int) -> int:
        """Skip typedef/const/volatile/restrict/type_tag: the id of the underlying type."""
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self.type(type_id)
            if t.kind not in MODIFIERS:
                return type_id
            type_id = t.ref
        raise BtfError(f"modifier chain from type [{type_id}] does not end (cycle?)")

    def type_size(self, type_id: int) -> int:
        """Size in bytes of a value of this type (pointers: 8). Raises BtfError for unsized kinds."""
        return self._size(type_id, 0)

    def _size(self, type_id: int, depth: int) -> int:
        if depth > MAX_RESOLVE_DEPTH:
            raise BtfError(f"type [{type_id}] nests too deeply (cycle?)")
        t = self.type(self.resolve(type_id))
        if t.kind in SIZED:
            return t.size
        if t.kind == PTR:
            return 8
        if t.kind == ARRAY:
            return t.nelems * self._size(t.ref, depth + 1)
        if t.kind == VAR:
            return self._size(t.ref, depth + 1)
        raise BtfError(f"type [{t.id}] ({t.kind_name} '{t.name}') has no size")

    def enum_values(self, name: str) -> dict[str, int]:
        """Enumerators of the enum (or enum64) called ``name``. Raises BtfError if there is none."""
        tid = self.find(name, "enum")
        if tid is None:
            tid = self.find(name, "enum64")
        if tid is None:
            raise BtfError(f"no enum named {name!r}")
        return {v.name: v.value for v in self.type(tid).values}

    def member(self, type_id: int, name: str) -> tuple[int, Member]:
        """The index and record of the member called ``name`` of struct/union ``type_id`` (for a
        struct_ops value: a member's index is its attach type, its bit_offset where its value goes).

        Raises:
            BtfError: ``type_id`` is not a struct or union, or has no member called ``name``.
        """
        t = self.type(type_id)
        if t.kind not in (STRUCT, UNION):
            raise BtfError(f"type [{type_id}] ({t.kind_name} '{t.name}') has no members")
        for i, m in enumerate(t.members):
            if m.name == name:
                return i, m
        raise BtfError(f"{t.kind_name} {t.name} has no member {name!r}")

    def structs_of_size(self, size: int) -> list[int]:
        """Ids of named structs of exactly ``size`` bytes (candidates for a BTF-less value)."""
        out = []
        w = self._words
        for idx, i in enumerate(self._offsets):
            info = w[i + 1]
            if (info >> 24) & 0x1F == STRUCT and w[i + 2] == size and w[i]:
                out.append(idx + self.start_id)
        return out


def _index(words: array) -> list[int]:
    """Word offset of every type record, in id order. Raises BtfError on an unknown kind or truncation."""
    offsets: list[int] = []
    append = offsets.append
    extra, per_vlen = _EXTRA_T, _PER_VLEN_T
    n = len(words)
    i = 0
    while i < n:
        if i + 3 > n:
            raise BtfError(f"type record {len(offsets) + 1} truncated at byte {i * 4}")
        info = words[i + 1]
        kind = (info >> 24) & 0x1F
        if kind == 0 or kind > ENUM64:
            raise BtfError(f"type record {len(offsets) + 1} has unknown kind {kind}")
        append(i)
        i += 3 + extra[kind] + per_vlen[kind] * (info & 0xFFFF)
    if i != n:
        raise BtfError(f"last type record ({len(offsets)}) runs past the end of the type section")
    return offsets


def find_enum_fast(data: bytes, name: str) -> dict[str, int] | None:
    """The enumerators of the enum ``name`` in a (base) BTF blob, found without indexing the blob:
    locate the name in the string section, then the ENUM record pointing at it. A few ms on vmlinux.

    Returns None when there is no such enum. Raises BtfError for a malformed blob.
    """
    if len(data) < HEADER.size or int.from_bytes(data[:2], "little") != BTF_MAGIC:
        raise BtfError("not a little-endian BTF blob")
    _, _, _, hdr_len, type_off, type_len, str_off, str_len = HEADER.unpack_from(data)
    if hdr_len < HEADER.size or hdr_len + max(type_off + type_len, str_off + str_len) > len(data):
        raise BtfError("BTF sections out of bounds")
    s0 = hdr_len + str_off
    strings = data[s0 : s0 + str_len]
    needle = b"\0" + name.encode() + b"\0"
    pos = strings.find(needle)
    if pos < 0:
        return None
    name_off = struct.pack("<I", pos + 1)
    t0, t1 = hdr_len + type_off, hdr_len + type_off + type_len
    i = data.find(name_off, t0, t1)
    while i >= 0:
        if (i - t0) % 4 == 0 and i + 12 <= t1:
            info = int.from_bytes(data[i + 4 : i + 8], "little")
            if (info >> 24) & 0x1F == ENUM:
                vlen = info & 0xFFFF
                if i + 12 + 8 * vlen > t1:
                    raise BtfError(f"enum {name} runs past the type section")
                out: dict[str, int] = {}
                kflag = info >> 31
                for j in range(vlen):
                    n_off, val = struct.unpack_from("<II", data, i + 12 + 8 * j)
                    if n_off >= str_len:
                        raise BtfError(f"enum {name}: enumerator name offset {n_off} out of bounds")
                    end = strings.find(b"\0", n_off)
                    if kflag and val >= 1 << 31:
                        val -= 1 << 32
                    out[strings[n_off:end].decode("utf-8", "replace")] = val
                return out
        i = data.find(name_off, i + 1, t1)
    return None
