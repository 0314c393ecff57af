"""The editable leaves of a BTF type, for edit forms: one entry per scalar field with its path in the decoded
value (``in.a``, ``arr[2]``), its C type and how it is typed (int, enum, bool, float, string, json).

Char arrays are one string leaf; arrays of up to :data:`MAX_ARRAY_LEAVES` elements give one leaf per
element, longer ones one JSON leaf; a union gives one leaf per member (a form writes only the members
changed); anonymous members' fields sit in their parent, as the decoder prints them. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from mapexplorer.btf.cprint import type_ref
from mapexplorer.btf.types import (
    ARRAY,
    ENUM,
    ENUM64,
    FLOAT,
    INT,
    INT_BOOL,
    INT_CHAR,
    MAX_RESOLVE_DEPTH,
    PTR,
    STRUCT,
    UNION,
    Btf,
)

MAX_ARRAY_LEAVES = 16
MAX_LEAVES = 256


@dataclass(frozen=True, slots=True)
class Leaf:
    path: str
    c_type: str
    kind: str
    choices: tuple[str, ...] = ()


def leaves(btf: Btf, type_id: int) -> list[Leaf]:
    """The editable leaves of ``type_id`` (at most :data:`MAX_LEAVES`; beyond that one JSON leaf)."""
    out: list[Leaf] = []
    _walk(btf, type_id, "", out, 0, "")
    if len(out) > MAX_LEAVES:
        return [Leaf("", type_ref(btf, type_id), "json")]
    return out


def _walk(btf: Btf, type_id: int, path: str, out: list[Leaf], depth: int, bitfield: str) -> None:
    if depth > MAX_RESOLVE_DEPTH or len(out) > MAX_LEAVES:
        out.append(Leaf(path, type_ref(btf, type_id), "json"))
        return
    t = btf.type(btf.resolve(type_id))
    name = type_ref(btf, type_id) + bitfield
    if t.kind == INT:
        kind = "bool" if t.encoding & INT_BOOL else "char" if t.encoding & INT_CHAR and t.size == 1 else "int"
        out.append(Leaf(path, name, kind))
    elif t.kind == PTR:
        out.append(Leaf(path, name, "int"))
    elif t.kind in (ENUM, ENUM64):
        out.append(Leaf(path, name, "enum", tuple(v.name for v in t.values)))
    elif t.kind == FLOAT:
        out.append(Leaf(path, name, "float"))
    elif t.kind == ARRAY:
        elem = btf.type(btf.resolve(t.ref))
        if elem.kind == INT and elem.size == 1 and (elem.encoding & INT_CHAR or elem.name == "char"):
            out.append(Leaf(path, name, "string"))
        elif t.nelems <= MAX_ARRAY_LEAVES:
            for i in range(t.nelems):
                _walk(btf, t.ref, f"{path}[{i}]", out, depth + 1, "")
        else:
            out.append(Leaf(path, name, "json"))
    elif t.kind in (STRUCT, UNION):
        _members(btf, t.id, path, out, depth)
    else:
        out.append(Leaf(path, name, "json"))


def _members(btf: Btf, type_id: int, path: str, out: list[Leaf], depth: int) -> None:
    """Members by name; an anonymous struct/union's members sit in the parent, as C (and the decoder) name
    them."""
    t = btf.type(type_id)
    for m in t.members:
        if not m.name:
            mt = btf.type(btf.resolve(m.type))
            if mt.kind in (STRUCT, UNION) and depth <= MAX_RESOLVE_DEPTH:
                _members(btf, mt.id, path, out, depth + 1)
            continue
        sub = f"{path}.{m.name}" if path else m.name
        _walk(btf, m.type, sub, out, depth + 1, f":{m.bitfield_size}" if m.bitfield_size else "")
