"""``list --json`` text in bulk: :func:`records_text` writes exactly what ``json.dumps`` prints for
``[record_json(r, c) for r in records]`` (the inventory record plus its entry count), one ``%`` template
per map instead of a dict per map walked by the JSON encoder: listing 20,000 maps spent more time in
building and encoding those dicts than in the kernel.

Pure: no syscalls, no Textual. ``tests/unit/test_list_json.py`` checks the equality on random records.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii as _jstr  # type: ignore[attr-defined]

from mapexplorer.fill import EntryCount
from mapexplorer.kernel.inventory import MapRecord
from mapexplorer.kernel.owners import Owner

_BOOL = ("false", "true")

_RECORD = (
    '{"id": %d, "name": %s, "type": %s, "key_size": %d, "value_size": %d, "max_entries": %d, "flags": %d, '
    '"btf_id": %d, "btf_key_type_id": %d, "btf_value_type_id": %d, "btf_vmlinux_value_type_id": %d, '
    '"map_extra": %d, "ifindex": %d, "memlock": %d, "frozen": %s, "pinned": %s, "pids": %s, "progs": %s, '
    '"prog_names": %s, "programs": %s, "entries": %s, "fill": %s, "count_method": %s, "count_approx": %s'
)


def _num(v: int | float | None) -> str:
    """A number (or None) as ``json.dumps`` writes it."""
    if v is None:
        return "null"
    if isinstance(v, float) and not math.isfinite(v):
        return json.dumps(v)
    return float.__repr__(v) if isinstance(v, float) else int.__repr__(v)


def _owner_text(o: Owner, texts: dict[int, tuple[Owner, str]]) -> str:
    """``{"pid": .., "comm": ..}`` of an owner, remembered by the owner object (a loader holding thousands
    of maps is the same object in each of their records)."""
    hit = texts.get(id(o))
    if hit is None or hit[0] is not o:
        hit = texts[id(o)] = (o, f'{{"pid": {int.__repr__(o.pid)}, "comm": {_jstr(o.comm)}}}')
    return hit[1]


def record_text(r: MapRecord, c: EntryCount, _strs: dict[str, str] | None = None,
                _owners: dict[int, tuple[Owner, str]] | None = None) -> str:
    """``json.dumps(record_json(r, c))`` for one map. ``_strs``, ``_owners``: caches of JSON texts (type
    names and owners recur in every listing)."""
    strs = {} if _strs is None else _strs
    owner_texts = {} if _owners is None else _owners
    i = r.info
    tname = strs.get(i.type_name)
    if tname is None:
        tname = strs[i.type_name] = _jstr(i.type_name)
    pids = "[" + ", ".join([_owner_text(o, owner_texts) for o in r.owners]) + "]" if r.owners else "[]"
    if r.progs:
        ps = r.progs
        progs = "[" + ", ".join(int.__repr__(p.id) for p in ps) + "]"
        names = "[" + ", ".join(_jstr(p.name) for p in ps) + "]"
        programs = "[" + ", ".join(
            f'{{"id": {int.__repr__(p.id)}, "name": {_jstr(p.name)}, "type": {_jstr(p.type)}, '
            f'"access": {_jstr(p.access)}}}'
            for p in ps) + "]"
    else:
        progs = names = programs = "[]"
    pinned = "[" + ", ".join(map(_jstr, r.pinned)) + "]" if r.pinned else "[]"
    method = strs.get(c.method)
    if method is None:
        method = strs[c.method] = _jstr(c.method)
    text = _RECORD % (
        i.id, _jstr(i.name), tname, i.key_size, i.value_size, i.max_entries, i.flags, i.btf_id,
        i.btf_key_type_id, i.btf_value_type_id, i.btf_vmlinux_value_type_id, i.map_extra, i.ifindex,
        i.memlock, _BOOL[bool(i.frozen)], pinned, pids, progs, names, programs, _num(c.entries),
        "null" if c.fill is None else _num(round(c.fill, 6)), method, _BOOL[bool(c.approx)],
    )
    if c.backlog is not None:
        return text + ', "backlog": ' + _num(c.backlog) + "}"
    return text + "}"


def records_text(pairs: Iterable[tuple[MapRecord, EntryCount]]) -> str:
    """``json.dumps([record_json(r, c) for r, c in pairs])``."""
    strs: dict[str, str] = {}
    owner_texts: dict[int, tuple[Owner, str]] = {}
    return "[" + ", ".join([record_text(r, c, strs, owner_texts) for r, c in pairs]) + "]"
