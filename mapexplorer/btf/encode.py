"""Encode text into the bytes of a BTF type, for edits in write mode.

Accepted text: a JSON value in the shape the decoder prints (objects for structs and unions, lists for
arrays, strings for char arrays and enums, numbers), or a bare token for a scalar type: an int in decimal,
hex (0x..), octal (0o..) or binary (0b..), an enumerator name, a float, or an unquoted string for a char
array. Members missing from an object are zero (or, given the current bytes as ``base``, unchanged);
unknown members are an error. Every error is an
:class:`EncodeError` naming the field path ("value.stats[2].count") and the reason.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from mapexplorer.btf.cprint import type_ref
from mapexplorer.btf.types import (
    ARRAY,
    DATASEC,
    ENUM,
    ENUM64,
    FLOAT,
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


class EncodeError(ValueError):
    """Text that does not fit the type: ``path`` is the field, ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def parse_int(text: str) -> int:
    """An int from decimal, 0x hex, 0o octal or 0b binary text (with an optional sign)."""
    return int(text.strip().replace("_", ""), 0)


def encode(btf: Btf, type_id: int, text: str, *, path: str = "value", base: bytes | None = None) -> bytes:
    """The bytes of ``text`` as a value of ``type_id``.

    ``base``: the current bytes of the value. Struct members (and trailing array elements) that the text
    leaves out keep their bytes from ``base``; without it they are zero.

    Raises:
        EncodeError: the text does not parse or does not fit (names the field path and the reason).
        BtfError: the type itself is malformed.
    """
    size = btf.type_size(type_id)
    value = _parse_text(text, path)
    buf = bytearray(size)
    if base is not None:
        buf[: min(size, len(base))] = base[:size]
    try:
        _Encoder(btf).put(buf, 0, type_id, value, path, 0)
    except RecursionError:
        raise EncodeError(path, "nested too deeply") from None
    return bytes(buf)


def _parse_text(text: str, path: str = "value") -> Any:
    s = text.strip()
    if not s:
        return ""
    try:
        return json.loads(s)
    except RecursionError:
        raise EncodeError(path, "JSON nested too deeply") from None
    except ValueError:
        return _Bare(s)


class _Bare(str):
    """Text that is not JSON: a token to read by the target type (hex int, enum name, raw string)."""


class _Encoder:
    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.o = btf.byteorder

    def put(self, buf: bytearray, off: int, type_id: int, value: Any, path: str, depth: int) -> None:
        if depth > MAX_RESOLVE_DEPTH:
            raise BtfError(f"type [{type_id}] nests too deeply (cycle?)")
        btf = self.btf
        t = btf.type(btf.resolve(type_id))
        k = t.kind
        if k == INT:
            if t.encoding & INT_BOOL and isinstance(value, bool | str):
                n = int(_as_bool(value, path))
            elif t.encoding & INT_CHAR and isinstance(value, str) and len(value) == 1:
                n = ord(value)
            else:
                n = _as_int(value, path)
            signed = bool(t.encoding & INT_SIGNED)
            _put_bits(buf, off * 8 + t.int_offset, t.bits, n, signed, path, self.o)
        elif k == PTR:
            _put_bits(buf, off * 8, 64, _as_int(value, path), False, path, self.o)
        elif k in (ENUM, ENUM64):
            if isinstance(value, str) and not _looks_int(value):
                names = {v.name: v.value for v in t.values}
                if value not in names:
                    some = ", ".join(list(names)[:8])
                    raise EncodeError(path, f"{value!r} is not an enumerator of {type_ref(btf, t.id)}"
                                            f" (one of: {some}{', ...' if len(names) > 8 else ''})")
                n = names[value]
            else:
                n = _as_int(value, path)
            lo = -(1 << (t.size * 8 - 1))
            if not lo <= n < 1 << (t.size * 8):
                raise EncodeError(path, f"{n} does not fit in {t.size} bytes")
            order = "little" if self.o == "<" else "big"
            buf[off : off + t.size] = (n & ((1 << (t.size * 8)) - 1)).to_bytes(t.size, order)
        elif k == FLOAT:
            x = _as_float(value, path)
            code = {2: "e", 4: "f", 8: "d"}.get(t.size)
            if code is None:
                raise EncodeError(path, f"{t.size}-byte floats cannot be written")
            try:
                struct.pack_into(self.o + code, buf, off, x)
            except (OverflowError, struct.error) as exc:
                raise EncodeError(path, f"{x} does not fit a {t.size}-byte float") from exc
        elif k == ARRAY:
            self.put_array(buf, off, t.id, value, path, depth)
        elif k in (STRUCT, UNION):
            self.put_struct(buf, off, t.id, value, path, depth)
        elif k == VAR:
            if isinstance(value, dict) and t.name in value:
                value = value[t.name]
            self.put(buf, off, t.ref, value, f"{path}.{t.name}", depth + 1)
        elif k == DATASEC:
            self.put_datasec(buf, off, t.id, value, path, depth)
        else:
            raise EncodeError(path, f"a {t.kind_name} holds no data")

    def put_datasec(self, buf: bytearray, off: int, type_id: int, value: Any, path: str, depth: int) -> None:
        """A section as decoded: ``{".data": [{"var": value}, ...]}`` (or just the list, or {var: value})."""
        btf = self.btf
        t = btf.type(type_id)
        if isinstance(value, dict) and list(value) == [t.name]:
            value = value[t.name]
            path = f"{path}.{t.name}"
        names = {btf.type(v.type).name: v for v in t.vars}
        if isinstance(value, list):
            items: list[tuple[str, Any]] = []
            for i, item in enumerate(value):
                if not isinstance(item, dict) or len(item) != 1:
                    raise EncodeError(f"{path}[{i}]", "expected {\"variable\": value}")
                items.extend(item.items())
        elif isinstance(value, dict):
            items = list(value.items())
        else:
            raise EncodeError(path, f"expected the section's variables, got {_what(value)}")
        for name, item in items:
            v = names.get(name)
            if v is None:
                raise EncodeError(f"{path}.{name}", f"no such variable in section {t.name}")
            vt = btf.type(v.type)
            self.put(buf, off + v.offset, vt.ref if vt.kind == VAR else v.type, item, f"{path}.{name}",
                     depth + 1)

    def put_array(self, buf: bytearray, off: int, type_id: int, value: Any, path: str, depth: int) -> None:
        btf = self.btf
        t = btf.type(type_id)
        elem = btf.type(btf.resolve(t.ref))
        stride = btf.type_size(t.ref)
        is_char = elem.kind == INT and elem.size == 1 and (elem.encoding & INT_CHAR or elem.name == "char")
        if isinstance(value, str) and is_char:
            data = value.encode()
            if len(data) >= t.nelems:
                raise EncodeError(path, f"string of {len(data)} bytes does not fit char[{t.nelems}]"
                                        " with its NUL")
            buf[off : off + t.nelems] = data.ljust(t.nelems, b"\0")
            return
        if not isinstance(value, list):
            raise EncodeError(path, f"expected a JSON list for {type_ref(btf, type_id)}, got {_what(value)}")
        if len(value) > t.nelems:
            raise EncodeError(path, f"{len(value)} elements given, the array holds {t.nelems}")
        for i, item in enumerate(value):
            self.put(buf, off + i * stride, t.ref, item, f"{path}[{i}]", depth + 1)

    def put_struct(self, buf: bytearray, off: int, type_id: int, value: Any, path: str, depth: int) -> None:
        btf = self.btf
        t = btf.type(type_id)
        if not isinstance(value, dict):
            want = type_ref(btf, type_id)
            raise EncodeError(path, f"expected a JSON object for {want}, got {_what(value)}")
        named = {m.name: m for m in t.members if m.name}
        anon = [m for m in t.members if not m.name]
        leftovers: dict[str, Any] = {}
        for key, item in value.items():
            m = named.get(key)
            if m is None and key != "":
                leftovers[key] = item
                continue
            if m is None:  # "" : the anonymous member(s) as decoded
                for am in anon:
                    self.put_member(buf, off, am, item, path, depth, partial=True)
                continue
            self.put_member(buf, off, m, item, f"{path}.{key}", depth)
        if leftovers:
            # members of anonymous structs/unions may be given directly, as in C
            for am in anon:
                at = btf.type(btf.resolve(am.type))
                if at.kind not in (STRUCT, UNION):
                    continue
                inner = _c_names(btf, at.id)
                mine = {k: v for k, v in leftovers.items() if k in inner}
                if mine:
                    self.put_member(buf, off, am, mine, path, depth)
                    for k in mine:
                        del leftovers[k]
        if leftovers:
            key = next(iter(leftovers))
            names = ", ".join(named) or "(none)"
            where = type_ref(btf, type_id)
            raise EncodeError(f"{path}.{key}", f"no such member in {where} (members: {names})")

    def put_member(self, buf: bytearray, off: int, m: Any, item: Any, path: str, depth: int,
                   partial: bool = False) -> None:
        if m.bitfield_size:
            signed = False
            mt = self.btf.type(self.btf.resolve(m.type))
            if mt.kind == INT:
                signed = bool(mt.encoding & INT_SIGNED)
            _put_bits(buf, off * 8 + m.bit_offset, m.bitfield_size, _as_int(item, path), signed, path, self.o)
            return
        byte, bit = divmod(m.bit_offset, 8)
        if bit:
            mt = self.btf.type(self.btf.resolve(m.type))
            _put_bits(buf, (off + byte) * 8 + bit, mt.bits or 8 * mt.size, _as_int(item, path),
                      bool(mt.encoding & INT_SIGNED), path, self.o)
            return
        if partial and isinstance(item, dict):
            mt = self.btf.type(self.btf.resolve(m.type))
            inner = {x.name for x in mt.members} if mt.kind in (STRUCT, UNION) else set()
            item = {k: v for k, v in item.items() if k in inner or not inner}
        self.put(buf, off + byte, m.type, item, path, depth + 1)


def _c_names(btf: Any, type_id: int, depth: int = 0) -> set[str]:
    """The member names C reaches directly in a struct/union: its named members and, recursively, those
    of its anonymous struct/union members (as the decoder merges them)."""
    t = btf.type(btf.resolve(type_id))
    names: set[str] = set()
    for m in t.members:
        if m.name:
            names.add(m.name)
        elif depth < 32:
            mt = btf.type(btf.resolve(m.type))
            if mt.kind in (STRUCT, UNION):
                names |= _c_names(btf, mt.id, depth + 1)
    return names


def _what(value: Any) -> str:
    if isinstance(value, _Bare):
        return f"text {str(value)!r}"
    return f"{type(value).__name__} {json.dumps(value)[:40]}"


def _looks_int(text: str) -> bool:
    try:
        parse_int(text)
    except ValueError:
        return False
    return True


def _as_int(value: Any, path: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return parse_int(value)
        except ValueError:
            pass
    raise EncodeError(path, f"expected an integer (decimal or 0x hex), got {_what(value)}")


def _as_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    low = str(value).lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise EncodeError(path, f"expected true or false, got {_what(value)}")


def _as_float(value: Any, path: str) -> float:
    if isinstance(value, bool):
        raise EncodeError(path, "expected a number, got a bool")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            pass
        else:
            if math.isnan(x) or math.isinf(x) or value.strip():
                return x
    raise EncodeError(path, f"expected a number, got {_what(value)}")


def _put_bits(
    buf: bytearray, bit_offset: int, bits: int, n: int, signed: bool, path: str, order: str = "<"
) -> None:
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << bits) - 1  # an unsigned bit pattern is accepted for signed fields too (e.g. 0xffffffff)
    if not lo <= n <= hi:
        kind = f"{'signed' if signed else 'unsigned'} {bits}-bit"
        article = "a" if signed else "an"
        raise EncodeError(path, f"{n} out of range for {article} {kind} field ({lo}..{hi})")
    n &= (1 << bits) - 1
    byte, first = divmod(bit_offset, 8)
    nbytes = (first + bits + 7) // 8
    if byte + nbytes > len(buf):
        raise EncodeError(path, "field lies outside the value")
    byteorder = "little" if order == "<" else "big"
    shift = first if order == "<" else nbytes * 8 - first - bits  # big-endian bits count from the MSB
    old = int.from_bytes(buf[byte : byte + nbytes], byteorder)
    mask = ((1 << bits) - 1) << shift
    new = (old & ~mask) | (n << shift)
    buf[byte : byte + nbytes] = new.to_bytes(nbytes, byteorder)
