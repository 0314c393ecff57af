"""C text of BTF types: short references ("struct foo *", "char[16]") and full definitions for the UI.

Pure; every malformed or cyclic type raises BtfError.
"""

from __future__ import annotations

import threading

from mapexplorer.btf.types import (
    ARRAY,
    CONST,
    DATASEC,
    ENUM,
    ENUM64,
    FLOAT,
    FUNC,
    FUNC_PROTO,
    FWD,
    INT,
    MAX_RESOLVE_DEPTH,
    PTR,
    RESTRICT,
    STRUCT,
    TYPE_TAG,
    TYPEDEF,
    UNION,
    VAR,
    VOLATILE,
    Btf,
    BtfError,
)

_INDENT = "    "
MAX_PRINT_STEPS = 5000  # anonymous types shared many times over could expand exponentially
_state = threading.local()


def _tag(kind: int, kflag: bool = False) -> str:
    if kind == FWD:
        return "union" if kflag else "struct"
    return {STRUCT: "struct", UNION: "union", ENUM: "enum", ENUM64: "enum"}[kind]


def decl(btf: Btf, type_id: int, inner: str = "", *, expand: bool = True) -> str:
    """A C declaration of ``inner`` (a name, or "" for an abstract type) with type ``type_id``.

    Anonymous structs, unions and enums are written inline when ``expand``.
    """
    _state.steps = 0
    return _decl(btf, type_id, inner, expand=expand)


def _decl(btf: Btf, type_id: int, inner: str = "", *, level: int = 0, depth: int = 0,
          expand: bool = True) -> str:
    _state.steps = getattr(_state, "steps", 0) + 1
    if _state.steps > MAX_PRINT_STEPS:
        raise BtfError(f"type [{type_id}] is too large to print")
    if depth > MAX_RESOLVE_DEPTH:
        raise BtfError(f"type [{type_id}] nests too deeply (cycle?)")
    t = btf.type(type_id)
    k = t.kind
    sp = (inner if inner.startswith("[") else " " + inner) if inner else ""
    if k == 0:
        return "void" + sp
    if k in (INT, FLOAT, TYPEDEF):
        return t.name + sp
    if k in (STRUCT, UNION, ENUM, ENUM64):
        if t.name or not expand:
            return f"{_tag(k)} {t.name or '(anon)'}" + sp
        return _body(btf, type_id, level, depth + 1) + sp
    if k == FWD:
        return f"{_tag(k, t.kflag)} {t.name}" + sp
    if k == PTR:
        _state.base = 0  # an anonymous type behind a pointer has its own offsets
        target = btf.type(btf.resolve(t.ref)) if t.ref else t
        star = "*" + inner
        if t.ref and target.kind in (ARRAY, FUNC_PROTO) and btf.type(t.ref).kind not in (TYPEDEF,):
            star = f"(*{inner})"
        return _decl(btf, t.ref, star, level=level, depth=depth + 1, expand=expand)
    if k in (CONST, VOLATILE, RESTRICT):
        q = {CONST: "const", VOLATILE: "volatile", RESTRICT: "restrict"}[k]
        if btf.type(t.ref).kind == PTR or k == RESTRICT:
            return _decl(btf, t.ref, f"{q} {inner}".rstrip(), level=level, depth=depth + 1, expand=expand)
        return f"{q} " + _decl(btf, t.ref, inner, level=level, depth=depth + 1, expand=expand)
    if k == TYPE_TAG:
        return _decl(btf, t.ref, f"__attribute__((btf_type_tag(\"{t.name}\"))) {inner}".rstrip(),
                    level=level, depth=depth + 1, expand=expand)
    if k == ARRAY:
        return _decl(btf, t.ref, f"{inner}[{t.nelems}]", level=level, depth=depth + 1, expand=expand)
    if k == FUNC_PROTO:
        params = ", ".join(
            "..." if p.type == 0 and i == len(t.params) - 1 else _decl(btf, p.type, p.name, depth=depth + 1,
                                                                     expand=False)
            for i, p in enumerate(t.params)
        ) or "void"
        return _decl(btf, t.ref, f"{inner}({params})", level=level, depth=depth + 1, expand=False)
    if k == FUNC:
        return _decl(btf, t.ref, t.name, level=level, depth=depth + 1, expand=False)
    if k == VAR:
        return _decl(btf, t.ref, t.name, level=level, depth=depth + 1)
    if k == DATASEC:
        return f"SEC(\"{t.name}\")"
    return f"/* {t.kind_name} */" + sp  # DECL_TAG and anything unforeseen


def _body(btf: Btf, type_id: int, level: int, depth: int) -> str:
    t = btf.type(type_id)
    head = f"{_tag(t.kind)} {t.name} {{" if t.name else f"{_tag(t.kind)} {{"
    pad = _INDENT * (level + 1)
    lines = [head]
    if t.kind in (STRUCT, UNION):
        base = getattr(_state, "base", 0)  # bit offset of this (anonymous, inlined) body in the outer type
        for m in t.members:
            _state.base = base + m.bit_offset
            text = _decl(btf, m.type, m.name, level=level + 1, depth=depth + 1)
            _state.base = base
            if m.bitfield_size:
                text += f": {m.bitfield_size}"
            text = f"{pad}{text};"
            if getattr(_state, "offsets", False):
                text += "  " + _offset_comment(btf, base + m.bit_offset, m.bitfield_size, m.type)
            lines.append(text)
    else:
        for v in t.values:
            lines.append(f"{pad}{v.name} = {v.value},")
    lines.append(_INDENT * level + "}")
    return "\n".join(lines)


def _offset_comment(btf: Btf, bit_offset: int, bitfield_size: int, type_id: int) -> str:
    byte, bit = divmod(bit_offset, 8)
    if bitfield_size:
        return f"/* offset {byte} bit {bit}, {bitfield_size} bits */"
    try:
        size = str(btf.type_size(type_id))
    except BtfError:
        size = "?"
    return f"/* offset {byte}, size {size} */" if not bit else f"/* offset {byte} bit {bit}, size {size} */"


def type_ref(btf: Btf, type_id: int) -> str:
    """A short name of a type: "struct foo", "__u32", "char[16]", "int *"."""
    _state.steps = 0
    return _decl(btf, type_id, "", expand=False)


def c_type(btf: Btf, type_id: int, *, offsets: bool = False) -> str:
    """The C definition of a type: structs, unions and enums in full (anonymous members inline),
    a typedef as its typedef line followed by the definition it names, anything else as a declaration.

    ``offsets``: a pahole-style comment after each member with its byte offset (and bit, for bitfields)
    and size, offsets of inlined anonymous members counted from the start of the outer type.
    """
    _state.steps = 0
    _state.base = 0
    _state.offsets = offsets
    try:
        return _c_type(btf, type_id)
    finally:
        _state.offsets = False


def _c_type(btf: Btf, type_id: int) -> str:
    t = btf.type(type_id)
    if t.kind in (STRUCT, UNION, ENUM, ENUM64):
        return _body(btf, type_id, 0, 0) + ";"
    if t.kind == TYPEDEF:
        text = "typedef " + _decl(btf, t.ref, t.name) + ";"
        target = btf.resolve(type_id)
        tt = btf.type(target)
        if tt.kind in (STRUCT, UNION, ENUM, ENUM64) and tt.name:
            text += "\n\n" + _body(btf, target, 0, 0) + ";"
        return text
    if t.kind == VAR:
        return _decl(btf, type_id) + ";"
    if t.kind == DATASEC:
        lines = [f'SEC("{t.name}") {{']
        for v in t.vars:
            lines.append(f"{_INDENT}{_decl(btf, v.type)}; /* offset {v.offset}, {v.size} bytes */")
        lines.append("};")
        return "\n".join(lines)
    return _decl(btf, type_id)
