"""Decode bytes of a BTF type into JSON-able values in the shape of bpftool's ``-j`` "formatted" view.

A type is compiled once into a plan: a tree of nodes with precomputed offsets and ``struct.Struct``
readers (:func:`compile_plan`). The plan decodes one value into Python objects (:func:`compile_decoder`)
and, for bulk dumps, is flattened into generated code that turns a whole buffer of packed values into JSON
texts with one ``struct.iter_unpack`` pass (:func:`compile_json_chunk`).

bpftool's rules, followed here: ints as numbers (bitfields and 128-bit ints too, where bpftool prints hex
strings of the raw bits; signed ones sign-extended, as their BTF encoding says), enums by enumerator name
(the number when none matches), char arrays as strings when NUL-terminated and printable up to the NUL
(else a list of numbers), ``char``-encoded ints as one-character strings, bool as true/false, arrays as
lists, structs/unions as objects, pointers as numbers, VAR as ``{name: value}`` and DATASEC as
``{section: [vars...]}``. Unlike bpftool, the fields of an anonymous struct/union member are keys of the
enclosing object, as C names them (bpftool prints several ``""`` keys in one object, of which a JSON
parser keeps only the last); a clashing name gets a number (``name#2``). Beyond bpftool: floats as
numbers (NaN/infinities as the strings "nan", "inf", "-inf"), and a string containing '"' or '\\' is
valid JSON.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from typing import Any, Literal

from mapexplorer.btf.types import (
    ARRAY,
    DATASEC,
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
    MAX_RESOLVE_DEPTH,
    PTR,
    STRUCT,
    UNION,
    VAR,
    Btf,
    BtfError,
)

_INT_CODES = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h", (4, False): "I",
              (4, True): "i", (8, False): "Q", (8, True): "q"}
_FLOAT_CODES = {2: "e", 4: "f", 8: "d"}
LEAVES_PER_BYTE = 64  # more fields than this per byte: sub-types shared and multiplied out (malformed)
MAX_FLAT_READS = 1024  # larger values use the tree walker for text too
VEC_MIN = 17  # arrays of plain scalars at least this long are read as one vector


def float_value(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def float_text(x: float) -> str:
    if math.isfinite(x):
        return repr(x)
    return '"nan"' if math.isnan(x) else ('"inf"' if x > 0 else '"-inf"')


_CHAR_TEXT = tuple(json.dumps(chr(b)) for b in range(256))
_BOOL_TEXT = ("false", "true")


# -- the plan ----------------------------------------------------------------------------------------


class Node:
    """A compiled piece of a type: decodes ``buf`` at byte offset ``off``."""

    __slots__ = ()

    def value(self, buf: bytes, off: int) -> Any:
        raise NotImplementedError

    def reads(self) -> int:
        """How many flat reads this node expands to (to decide whether to generate code for it)."""
        return 1


class IntNode(Node):
    __slots__ = ("code", "reader", "size")

    def __init__(self, size: int, signed: bool, order: str = "<") -> None:
        self.size = size
        self.code = _INT_CODES[(size, signed)]
        self.reader = struct.Struct(order + self.code).unpack_from

    def value(self, buf: bytes, off: int) -> int:
        return self.reader(buf, off)[0]


class BitsNode(Node):
    """An integer of any width at a bit offset: bitfields, 128-bit ints, odd-sized ints; sign-extended
    when ``signed`` (a signed bitfield ``int e:5`` holding -3 reads -3, not 29).

    Bit offsets count from the least significant bit of the first byte on little-endian BTF and from
    the most significant one on big-endian BTF (as compilers lay bitfields out).
    """

    __slots__ = ("byte", "byteorder", "half", "mask", "nbytes", "shift", "signed")

    def __init__(self, bit_offset: int, bits: int, order: str = "<", signed: bool = False) -> None:
        self.byte, first = divmod(bit_offset, 8)
        self.nbytes = (first + bits + 7) // 8
        self.byteorder: Literal["little", "big"] = "little" if order == "<" else "big"
        self.shift = first if order == "<" else self.nbytes * 8 - first - bits
        self.mask = (1 << bits) - 1
        self.signed = signed and bits > 0
        self.half = 1 << (bits - 1) if self.signed else 0

    def value(self, buf: bytes, off: int) -> int:
        o = off + self.byte
        v = (int.from_bytes(buf[o : o + self.nbytes], self.byteorder) >> self.shift) & self.mask
        return (v ^ self.half) - self.half if self.signed else v


class BoolNode(IntNode):
    __slots__ = ()

    def value(self, buf: bytes, off: int) -> bool:
        return self.reader(buf, off)[0] != 0


class CharNode(Node):
    __slots__ = ()

    def value(self, buf: bytes, off: int) -> str:
        return chr(buf[off])


class EnumNode(IntNode):
    __slots__ = ("names",)

    def __init__(self, size: int, signed: bool, names: dict[int, str], order: str = "<") -> None:
        super().__init__(size, signed, order)
        self.names = names

    def value(self, buf: bytes, off: int) -> str | int:
        v: int = self.reader(buf, off)[0]
        return self.names.get(v, v)


class FloatNode(Node):
    __slots__ = ("code", "reader", "size")

    def __init__(self, size: int, order: str = "<") -> None:
        self.size = size
        self.code = _FLOAT_CODES[size]
        self.reader = struct.Struct(order + self.code).unpack_from

    def value(self, buf: bytes, off: int) -> float | str:
        return float_value(self.reader(buf, off)[0])


class HexNode(Node):
    """Bytes that have no number form (long double): a hex string like bpftool's 128-bit ints."""

    __slots__ = ("little", "size")

    def __init__(self, size: int, order: str = "<") -> None:
        self.size = size
        self.little = order == "<"

    def value(self, buf: bytes, off: int) -> str:
        raw = buf[off : off + self.size]
        return "0x" + (raw[::-1] if self.little else raw).hex()


class NullNode(Node):
    """Something with no data (void, func, fwd): null."""

    __slots__ = ()

    def value(self, buf: bytes, off: int) -> None:
        return None


PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
"""What a char array may hold (before its NUL) to be shown as a string, as bpftool decides."""


class StrNode(Node):
    """A char array: a string when bpftool would print one, else the list of its elements."""

    __slots__ = ("_texts", "elem", "n")

    def __init__(self, n: int, elem: Node) -> None:
        self.n = n
        self.elem = elem
        self._texts: dict[bytes, str] = {}  # the same few comms / paths recur in every batch

    def text(self, raw: bytes) -> str:
        """The JSON text of :meth:`value` for a value's own bytes (remembered for the last few thousand
        distinct values)."""
        t = self._texts.get(raw)
        if t is None:
            t = self._text(raw)
            if len(self._texts) >= 4096:
                self._texts.clear()
            self._texts[raw] = t
        return t

    def value(self, buf: bytes, off: int) -> str | list[Any]:
        raw = bytes(buf[off : off + self.n])
        end = raw.find(b"\0")
        if end >= 0 and not raw[:end].translate(None, PRINTABLE_ASCII):
            return raw[:end].decode("ascii")
        return [self.elem.value(buf, off + i) for i in range(self.n)]

    def _text(self, raw: bytes) -> str:
        """:meth:`text` without memory: no value is built when it is a string (a comm or a path)."""
        end = raw.find(b"\0")
        if end >= 0:
            head = raw[:end]
            if not head.translate(None, PRINTABLE_ASCII):
                if b'"' in head or b"\\" in head:
                    return _dumps(head.decode("ascii"))
                return '"' + head.decode("ascii") + '"'
        return _dumps(self.value(raw, 0))


class VecNode(Node):
    """A long array of plain ints or floats, read with one struct call."""

    __slots__ = ("float", "reader", "size")

    def __init__(self, code: str, n: int, is_float: bool, order: str = "<") -> None:
        s = struct.Struct(f"{order}{n}{code}")
        self.reader = s.unpack_from
        self.size = s.size
        self.float = is_float

    def value(self, buf: bytes, off: int) -> list[Any]:
        vals = self.reader(buf, off)
        return [float_value(x) for x in vals] if self.float else list(vals)


class ArrayNode(Node):
    __slots__ = ("_reads", "elem", "n", "stride")

    def __init__(self, elem: Node, n: int, stride: int) -> None:
        self.elem, self.n, self.stride = elem, n, stride
        self._reads = n * elem.reads()

    def value(self, buf: bytes, off: int) -> list[Any]:
        e, s = self.elem, self.stride
        return [e.value(buf, off + i * s) for i in range(self.n)]

    def reads(self) -> int:
        return self._reads


class ObjNode(Node):
    """A struct or union (or VAR / DATASEC wrapper): ordered (key, byte offset, node) fields."""

    __slots__ = ("_reads", "fields")

    def __init__(self, fields: list[tuple[str, int, Node]]) -> None:
        self.fields = fields
        self._reads = sum(n.reads() for _, _, n in fields)

    def value(self, buf: bytes, off: int) -> dict[str, Any]:
        return {k: n.value(buf, off + o) for k, o, n in self.fields}

    def reads(self) -> int:
        return self._reads


class ListNode(Node):
    """A DATASEC's variable list: a JSON array of differently typed items."""

    __slots__ = ("_reads", "items")

    def __init__(self, items: list[tuple[int, Node]]) -> None:
        self.items = items
        self._reads = sum(n.reads() for _, n in items)

    def value(self, buf: bytes, off: int) -> list[Any]:
        return [n.value(buf, off + o) for o, n in self.items]

    def reads(self) -> int:
        return self._reads


def compile_plan(btf: Btf, type_id: int) -> Node:
    """The decoding plan of a type (cached on the Btf, as are the plans of the types inside it)."""
    node = btf.plans.get(type_id)
    if node is None:
        node = _Compiler(btf).node(type_id, 0)
    assert isinstance(node, Node)
    return node


class _Compiler:
    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.o = btf.byteorder
        self.active: set[int] = set()

    def node(self, type_id: int, depth: int) -> Node:
        """The plan of a type; shared sub-plans are built once (plans hold relative offsets)."""
        cached = self.btf.plans.get(type_id)
        if isinstance(cached, Node):
            return cached
        if depth > MAX_RESOLVE_DEPTH:
            raise BtfError(f"type [{type_id}] nests too deeply")
        if type_id in self.active:
            raise BtfError(f"type [{type_id}] contains itself")
        self.active.add(type_id)
        try:
            node = self._build(type_id, depth)
        finally:
            self.active.discard(type_id)
        if node.reads() > 4096 and node.reads() > LEAVES_PER_BYTE * (size := self.btf.type_size(type_id)):
            raise BtfError(f"type [{type_id}] has {node.reads()} fields in {size} bytes"
                           " (shared sub-types multiplied out): refusing to decode it")
        self.btf.plans[type_id] = node
        return node

    def _build(self, type_id: int, depth: int) -> Node:
        btf = self.btf
        t = btf.type(btf.resolve(type_id))
        k = t.kind
        if k == INT:
            return self.int_node(t.size, t.encoding, t.int_offset, t.bits, 0)
        if k == PTR:
            return IntNode(8, False, self.o)
        if k in (ENUM, ENUM64):
            # As bpftool: read the value signed, match it against the enumerators as signed 32-bit
            # (ENUM) or 64-bit (ENUM64) numbers, print an unmatched value as a signed number.
            bits = 32 if k == ENUM else 64
            names: dict[int, str] = {}
            for v in t.values:
                sv = v.value & ((1 << bits) - 1)
                if sv >= 1 << (bits - 1):
                    sv -= 1 << bits
                names.setdefault(sv, v.name)
            return EnumNode(t.size, True, names, self.o)
        if k == FLOAT:
            return FloatNode(t.size, self.o) if t.size in _FLOAT_CODES else HexNode(t.size, self.o)
        if k in (STRUCT, UNION):
            fields: list[tuple[str, int, Node]] = []
            for m in t.members:
                byte, bit = divmod(m.bit_offset, 8)
                mt = btf.type(btf.resolve(m.type))
                if m.bitfield_size:
                    signed = mt.kind == INT and bool(mt.encoding & INT_SIGNED)
                    fields.append((m.name, byte, BitsNode(bit, m.bitfield_size, self.o, signed=signed)))
                    continue
                if bit:
                    if mt.kind == INT:
                        if byte + (bit + mt.int_offset + mt.bits + 7) // 8 > t.size:
                            raise BtfError(f"type [{t.id}] member '{m.name}' lies outside the {t.size}-byte"
                                           f" {t.kind_name}")
                        fields.append((m.name, byte, self.int_node(mt.size, mt.encoding, mt.int_offset,
                                                                    mt.bits, bit)))
                        continue
                    raise BtfError(f"type [{t.id}] member '{m.name}' is not byte aligned")
                if mt.kind not in (FWD, FUNC, FUNC_PROTO, 0) and byte + btf.type_size(m.type) > t.size:
                    raise BtfError(f"type [{t.id}] member '{m.name}' lies outside the {t.size}-byte"
                                   f" {t.kind_name}")
                sub = self.node(m.type, depth + 1)
                if not m.name and mt.kind in (STRUCT, UNION) and isinstance(sub, ObjNode):
                    # An anonymous struct/union: its fields belong to this object, as C names them
                    # (bpftool prints each under a key "", and a JSON reader keeps only the last).
                    fields.extend((name, byte + o, n) for name, o, n in sub.fields)
                    continue
                fields.append((m.name, byte, sub))
            return ObjNode(_unique_keys(fields))
        if k == ARRAY:
            elem_id = btf.resolve(t.ref)
            stride = btf.type_size(t.ref)
            n = t.nelems
            if n * stride > 1 << 26:
                raise BtfError(f"type [{t.id}] array of {n} x {stride} bytes is implausibly large")
            et = btf.type(elem_id)
            # bpftool skips const/volatile (not typedefs) when deciding whether this is a string
            raw_elem = btf.type(_skip_cv(btf, t.ref))
            if n and raw_elem.kind == INT and raw_elem.size == 1 and (
                raw_elem.encoding == INT_CHAR or raw_elem.name == "char"
            ):
                return StrNode(n, self.node(t.ref, depth + 1))
            if n >= VEC_MIN and et.kind == INT and et.size in (1, 2, 4, 8) and not et.encoding & ~INT_SIGNED \
                    and et.int_offset == 0 and et.bits == et.size * 8:
                return VecNode(_INT_CODES[(et.size, bool(et.encoding & INT_SIGNED))], n, False, self.o)
            if n >= VEC_MIN and et.kind == FLOAT and et.size in _FLOAT_CODES:
                return VecNode(_FLOAT_CODES[et.size], n, True, self.o)
            return ArrayNode(self.node(t.ref, depth + 1), n, stride)
        if k == VAR:
            return ObjNode([(t.name, 0, self.node(t.ref, depth + 1))])
        if k == DATASEC:
            items = []
            for v in t.vars:
                if v.offset + btf.type_size(v.type) > t.size:
                    raise BtfError(f"type [{t.id}] variable [{v.type}] lies outside section '{t.name}'")
                items.append((v.offset, self.node(v.type, depth + 1)))
            return ObjNode([(t.name, 0, ListNode(items))])
        return NullNode()

    def int_node(self, size: int, encoding: int, int_offset: int, bits: int, bit: int) -> Node:
        if bit or int_offset or bits % 8 or bits not in (8, 16, 32, 64):
            return BitsNode(bit + int_offset, bits, self.o, signed=bool(encoding & INT_SIGNED))
        if encoding & INT_BOOL:
            return BoolNode(bits // 8, False, self.o)
        if encoding & INT_CHAR and bits == 8:
            return CharNode()
        return IntNode(bits // 8, bool(encoding & INT_SIGNED), self.o)


def _unique_keys(fields: list[tuple[str, int, Node]]) -> list[tuple[str, int, Node]]:
    """The fields with every key distinct: a repeated name (an anonymous member's field clashing with
    another, or unnamed members in hand-made BTF) gets a number, ``name#2``, ``name#3``..., so that no
    JSON reader drops a value."""
    seen: set[str] = set()
    out = []
    for name, off, node in fields:
        key = name
        n = 1
        while key in seen:
            n += 1
            key = f"{name}#{n}"
        seen.add(key)
        out.append((key, off, node))
    return out


def _skip_cv(btf: Btf, type_id: int) -> int:
    from mapexplorer.btf.types import CONST, RESTRICT, TYPE_TAG, VOLATILE

    for _ in range(MAX_RESOLVE_DEPTH):
        t = btf.type(type_id)
        if t.kind not in (CONST, VOLATILE, RESTRICT, TYPE_TAG):
            return type_id
        type_id = t.ref
    raise BtfError(f"modifier chain from type [{type_id}] does not end (cycle?)")


def compile_decoder(btf: Btf, type_id: int) -> Callable[[bytes], Any]:
    """A function decoding the bytes of one value of ``type_id`` into JSON-able Python values.

    Raises:
        BtfError: the type cannot be decoded (malformed, cyclic, unsized).
    """
    node = compile_plan(btf, type_id)
    size = btf.type_size(type_id)

    def decode(data: bytes) -> Any:
        if len(data) < size:
            raise BtfError(f"value of {len(data)} bytes is shorter than its type ({size} bytes)")
        return node.value(data, 0)

    return decode


IntLeaf = tuple[int, str]
"""Where a plain integer leaf lies in a value: (byte offset, numpy-style type ``<u4``, ``>i8`` ...)."""


def int_leaves(btf: Btf, type_id: int, max_list: int = 8) -> dict[str, IntLeaf]:
    """The plain integer leaves of ``type_id`` by the path the entry table flattens them to (``a.b``,
    ``arr[2]`` for arrays of at most ``max_list`` ints, ``""`` for a scalar): what can be read for every
    entry straight from a buffer of many values, without decoding each. Bitfields, enums, bools, chars
    and floats are not plain integers and are left out.

    Raises:
        BtfError: the type cannot be decoded.
    """
    out: dict[str, IntLeaf] = {}

    def leaf(node: Node) -> str | None:
        if type(node) is not IntNode:
            return None
        order, code = node.reader.__self__.format[0], node.code  # type: ignore[attr-defined]
        return f"{order}{'i' if code.islower() else 'u'}{node.size}"

    def walk(node: Node, path: str, off: int) -> None:
        kind = leaf(node)
        if kind is not None:
            out[path] = (off, kind)
        elif isinstance(node, ObjNode):
            for key, o, sub in node.fields:
                walk(sub, f"{path}.{key}" if path else key, off + o)
        elif isinstance(node, ArrayNode) and 0 < node.n <= max_list:
            kind = leaf(node.elem)
            if kind is not None:
                for i in range(node.n):
                    out[f"{path}[{i}]"] = (off + i * node.stride, kind)

    walk(compile_plan(btf, type_id), "", 0)
    return out


def decode(btf: Btf, type_id: int, data: bytes) -> Any:
    """Decode one value (compiling and caching its plan on first use)."""
    return compile_decoder(btf, type_id)(data)


# -- generated code for bulk JSON text ----------------------------------------------------------------


class _Flat:
    """Flattens a plan into fixed-offset reads, a text template and one expression per placeholder."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.reads: list[tuple[int, int, str]] = []  # (offset, size, struct code)
        self.parts: list[str] = []  # template pieces (already %-escaped)
        self.exprs: list[str] = []  # python expressions, one per %s
        self.consts: dict[str, object] = {}

    def const(self, value: object) -> str:
        name = f"_{self.prefix}c{len(self.consts)}"
        self.consts[name] = value
        return name

    def lit(self, text: str) -> None:
        self.parts.append(text.replace("%", "%%"))

    def read(self, off: int, size: int, code: str) -> str:
        self.reads.append((off, size, code))
        return f"R{len(self.reads) - 1}"

    def hole(self, expr: str) -> None:
        self.parts.append("%s")
        self.exprs.append(expr)

    def walk(self, node: Node, off: int) -> None:
        if isinstance(node, BoolNode):
            self.hole(f"{self.const(_BOOL_TEXT)}[{self.read(off, node.size, node.code)} != 0]")
        elif isinstance(node, EnumNode):
            names = {v: json.dumps(n) for v, n in node.names.items()}
            r = self.read(off, node.size, node.code)
            self.hole(f"{self.const(names)}.get({r}, {r})")
        elif isinstance(node, IntNode):
            self.hole(self.read(off, node.size, node.code))
        elif isinstance(node, BitsNode):
            r = self.read(off + node.byte, node.nbytes, f"{node.nbytes}s")
            bits = f"(_ifb({r}, '{node.byteorder}') >> {node.shift}) & {node.mask}"
            self.hole(f"(({bits}) ^ {node.half}) - {node.half}" if node.signed else bits)
        elif isinstance(node, CharNode):
            self.hole(f"_CHAR[{self.read(off, 1, 'B')}]")
        elif isinstance(node, FloatNode):
            self.hole(f"_ftext({self.read(off, node.size, node.code)})")
        elif isinstance(node, StrNode | HexNode | VecNode | NullNode):
            fn = self.const(_node_text(node))
            size = getattr(node, "size", None) or getattr(node, "n", 0)
            if isinstance(node, NullNode) or size == 0:
                self.lit(json.dumps(node.value(b"", 0)))
            else:
                self.hole(f"{fn}({self.read(off, size, f'{size}s')})")
        elif isinstance(node, ArrayNode):
            self.lit("[")
            for i in range(node.n):
                if i:
                    self.lit(",")
                self.walk(node.elem, off + i * node.stride)
            self.lit("]")
        elif isinstance(node, ObjNode):
            self.lit("{")
            for i, (key, o, sub) in enumerate(node.fields):
                self.lit(("," if i else "") + json.dumps(key) + ":")
                self.walk(sub, off + o)
            self.lit("}")
        elif isinstance(node, ListNode):
            self.lit("[")
            for i, (o, sub) in enumerate(node.items):
                if i:
                    self.lit(",")
                self.walk(sub, off + o)
            self.lit("]")
        else:  # pragma: no cover - every node class is handled above
            raise BtfError(f"cannot flatten {type(node).__name__}")


def _node_text(node: Node) -> Callable[[bytes], str]:
    """Text of a node read from its own bytes (for nodes whose form depends on the data)."""
    if isinstance(node, StrNode):
        return node.text
    if isinstance(node, VecNode) and not node.float:
        reader = node.reader
        return lambda b: "[" + ",".join(map(str, reader(b, 0))) + "]"
    return lambda b: _dumps(node.value(b, 0))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _layout(
    reads: list[tuple[int, int, str]], total: int, var: str, order: str
) -> tuple[str, list[str], dict[int, str]]:
    """A struct format covering ``total`` bytes, the unpack targets, and an expression per read.

    Reads that overlap (unions, bitfields sharing bytes) are served from one bytes segment covering them.
    """
    by_offset = sorted(range(len(reads)), key=lambda i: (reads[i][0], -reads[i][1]))
    segments: list[list[int]] = []  # [start, end, read indexes...]
    for i in by_offset:
        off, size, _ = reads[i]
        if segments and off < segments[-1][1]:
            seg = segments[-1]
            seg[1] = max(seg[1], off + size)
            seg.append(i)
        else:
            segments.append([off, off + size, i])
    fmt = [order]
    targets: list[str] = []
    exprs: dict[int, str] = {}
    pos = 0
    for n, seg in enumerate(segments):
        start, end, idx = seg[0], seg[1], seg[2:]
        if start > pos:
            fmt.append(f"{start - pos}x")
        name = f"{var}{n}"
        targets.append(name)
        if len(idx) == 1:
            fmt.append(reads[idx[0]][2])
            exprs[idx[0]] = name
        else:
            fmt.append(f"{end - start}s")
            for i in idx:
                off, size, code = reads[i]
                a = off - start
                if code.endswith("s"):
                    exprs[i] = f"{name}[{a}:{a + size}]"
                else:
                    exprs[i] = f"_unpack('{order}{code}', {name}, {a})[0]"
        pos = end
    if total > pos:
        fmt.append(f"{total - pos}x")
    return "".join(fmt), targets, exprs


_BASE_NS: dict[str, object] = {
    "_ifb": int.from_bytes,
    "_CHAR": _CHAR_TEXT,
    "_ftext": float_text,
    "_unpack": struct.unpack_from,
}


def _replace_reads(expr: str, rexpr: dict[int, str]) -> str:
    import re

    return re.sub(r"R(\d+)", lambda m: f"({rexpr[int(m.group(1))]})", expr)


def compile_json_texts(btf: Btf, type_id: int, slot: int | None = None) -> Callable[[bytes], list[str]]:
    """A function turning a buffer of packed values (each ``slot`` bytes, default the type size) into one
    JSON text per value."""
    size = btf.type_size(type_id)
    slot = slot or size
    if slot <= 0:
        raise BtfError(f"type [{type_id}] has no size: nothing to decode")
    if slot < size:
        raise BtfError(f"slot of {slot} bytes is smaller than the type ({size} bytes)")
    gen = _gen_side(btf, type_id, slot, "v")
    if gen is None:
        node = compile_plan(btf, type_id)

        def slow(buf: bytes) -> list[str]:
            return [_dumps(node.value(buf, o)) for o in range(0, len(buf) - slot + 1, slot)]

        return slow
    fmt, tmpl, exprs, targets, ns = gen
    src = (
        "def texts(buf):\n"
        f"    return [{tmpl!r} % ({', '.join(exprs)},) for ({', '.join(targets)},) in _S.iter_unpack(buf)]\n"
    )
    ns = {**_BASE_NS, **ns, "_S": struct.Struct(fmt)}
    exec(compile(src, f"<btf json {type_id}>", "exec"), ns)
    return ns["texts"]  # type: ignore[return-value]


def _gen_side(
    btf: Btf, type_id: int, slot: int, prefix: str
) -> tuple[str, str, list[str], list[str], dict[str, object]] | None:
    node = compile_plan(btf, type_id)
    if node.reads() > MAX_FLAT_READS:
        return None
    flat = _Flat(prefix)
    flat.walk(node, 0)
    if not flat.reads:
        return None
    fmt, targets, rexpr = _layout(flat.reads, slot, prefix, btf.byteorder)
    exprs = [_replace_reads(e, rexpr) for e in flat.exprs]
    return fmt, "".join(flat.parts), exprs, targets, dict(flat.consts)


def compile_entry_texts(
    key: tuple[Btf, int] | None,
    value: tuple[Btf, int],
    key_size: int,
    value_size: int,
    key_text: Callable[[bytes], list[str]] | None = None,
) -> Callable[[bytes, bytes], list[str]]:
    """A function (keys buffer, values buffer) -> ``{"key":K,"value":V}`` texts, generated as one loop.

    ``key`` None: keys are rendered by ``key_text`` (e.g. bpftool's hex lists for a key without BTF).
    """
    vgen = _gen_side(value[0], value[1], value_size, "v")
    kgen = _gen_side(key[0], key[1], key_size, "k") if key is not None else None
    if vgen is None or (kgen is None and key is not None):
        ktexts = key_text if key is None else compile_json_texts(key[0], key[1], key_size)
        vtexts = compile_json_texts(value[0], value[1], value_size)
        assert ktexts is not None

        def pair(keys: bytes, values: bytes) -> list[str]:
            return ['{"key":' + k + ',"value":' + v + "}" for k, v in zip(ktexts(keys), vtexts(values),
                                                                           strict=True)]

        return pair
    vfmt, vtmpl, vexprs, vtargets, vns = vgen
    ns: dict[str, object] = {**_BASE_NS, **vns, "_VS": struct.Struct(vfmt)}
    if kgen is None:
        assert key_text is not None
        ns["_ktext"] = key_text
        tmpl = '{"key":%s,"value":' + vtmpl + "}"
        src = (
            "def entries(keys, values):\n"
            f"    return [{tmpl!r} % (_k, {', '.join(vexprs)},) for _k, ({', '.join(vtargets)},)"
            " in zip(_ktext(keys), _VS.iter_unpack(values))]\n"
        )
    else:
        kfmt, ktmpl, kexprs, ktargets, kns = kgen
        ns.update(kns)
        ns["_KS"] = struct.Struct(kfmt)
        tmpl = '{"key":' + ktmpl + ',"value":' + vtmpl + "}"
        src = (
            "def entries(keys, values):\n"
            f"    return [{tmpl!r} % ({', '.join(kexprs + vexprs)},) for ({', '.join(ktargets)},),"
            f" ({', '.join(vtargets)},) in zip(_KS.iter_unpack(keys), _VS.iter_unpack(values))]\n"
        )
    exec(compile(src, f"<btf entries {value[1]}>", "exec"), ns)
    return ns["entries"]  # type: ignore[return-value]


# -- generated code for other text forms ----------------------------------------------------------------


class Template(_Flat):
    """What a caller fills to generate its own text form of packed values (as ``watch``'s text lines do):
    literal text (:meth:`lit`), holes computed from fixed-offset reads (:meth:`read`, :meth:`hole`,
    constants by :meth:`const`), a node's JSON text (:meth:`walk`), and the value's whole bytes
    (:meth:`whole`) for a part that needs them. Compiled by :func:`compile_template`."""

    def __init__(self) -> None:
        super().__init__("t")
        self.needs_whole = False

    def whole(self) -> str:
        """An expression for the value's own bytes (``slot`` of them)."""
        self.needs_whole = True
        return "_w"


def compile_template(template: Template, slot: int, order: str = "<",
                     name: str = "template") -> Callable[[bytes], list[str]]:
    """A function turning a buffer of packed values (each ``slot`` bytes) into one text per value, as the
    filled ``template`` says (one ``struct.iter_unpack`` pass, like :func:`compile_json_texts`).

    Raises:
        BtfError: ``slot`` is not positive.
    """
    if slot <= 0:
        raise BtfError("values of no bytes: nothing to read")
    fmt, targets, rexpr = _layout(template.reads, slot, "t", order)
    exprs = [_replace_reads(e, rexpr) for e in template.exprs]
    tmpl = "".join(template.parts)
    values = f"({', '.join(exprs)},)" if exprs else "()"
    unpacked = f"({', '.join(targets)},)" if targets else "_u"
    if template.needs_whole:
        loop = f"for _w, {unpacked} in zip(_split(buf), _S.iter_unpack(buf))"
    else:
        loop = f"for {unpacked} in _S.iter_unpack(buf)"
    src = f"def texts(buf):\n    return [{tmpl!r} % {values} {loop}]\n"

    def split(buf: bytes) -> list[bytes]:
        return [buf[o : o + slot] for o in range(0, len(buf) - slot + 1, slot)]

    ns = {**_BASE_NS, **template.consts, "_S": struct.Struct(fmt), "_split": split}
    exec(compile(src, f"<{name}>", "exec"), ns)
    return ns["texts"]  # type: ignore[return-value]
