"""Histogram detection from a map's BTF and shape: which maps are histograms (:func:`detect`) and how their
entries form them (a :class:`~mapexplorer.histogram.HistSpec`). Pure: BTF in, a spec out; no syscalls, no
textual. The shapes are described in :mod:`mapexplorer.histogram`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mapexplorer.btf.types import ARRAY, INT, INT_CHAR, STRUCT, Btf, BtfError
from mapexplorer.histogram import LINEAR, LOG2, HistSpec, looks_like_hist, looks_linear, unit_from_names

# Map types whose entries can hold a histogram.
HIST_MAP_TYPES = frozenset({"hash", "array", "percpu_hash", "percpu_array", "lru_hash", "lru_percpu_hash"})
_VALUE_ARRAY_NAMES = frozenset({"slots", "hist", "dist"})


@dataclass(frozen=True)
class MapShape:
    """What detection needs to know about a map (all from its info and BTF)."""

    name: str
    type_name: str
    key_size: int
    value_size: int
    btf: Btf | None = None
    key_type: int = 0
    value_type: int = 0


def _int_type(btf: Btf, tid: int) -> bool:
    t = btf.type(btf.resolve(tid))
    return t.kind == INT and not t.encoding & INT_CHAR and t.size in (1, 2, 4, 8) and t.bits == t.size * 8


def _count_array(btf: Btf, tid: int) -> int:
    """Element count when ``tid`` is an array of integer counters (not chars or bytes), else 0."""
    t = btf.type(btf.resolve(tid))
    if t.kind != ARRAY or t.nelems < 2:
        return 0
    elem = btf.type(btf.resolve(t.ref))
    if elem.kind != INT or elem.encoding & INT_CHAR or elem.size < 2:
        return 0
    return t.nelems


def _real_members(btf: Btf, tid: int) -> list[tuple[str, int]]:
    t = btf.type(btf.resolve(tid))
    return [(m.name, m.type) for m in t.members if m.name and not m.name.startswith("__pad")]


def _value_array(btf: Btf, tid: int, *, by_name_only: bool) -> tuple[str, ...] | None:
    """Path to the slot array in a value struct: a member named slots/hist/dist, or like *hist*..."""
    t = btf.type(btf.resolve(tid))
    if t.kind != STRUCT:
        return None
    arrays = [(name, mt) for name, mt in _real_members(btf, tid) if _count_array(btf, mt)]
    for name, _ in arrays:
        if name in _VALUE_ARRAY_NAMES:
            return (name,)
    for name, _ in arrays:
        if looks_like_hist(name):
            return (name,)
    if not by_name_only and arrays:
        return (max(arrays, key=lambda a: _count_array(btf, a[1]))[0],)
    return None


def detect(shape: MapShape, *, guess: bool = True) -> HistSpec | None:
    """The histogram shape of a map, or None.

    With ``guess`` (the default, what the TUI opens automatically), only shapes that say "histogram"
    are taken: a ``slot`` key field, a ``slots``-like value array, or a histogram-like map name on an
    integer-keyed counter map. A plain counter array (``u32 -> u64`` named ``counts``) is not.
    Without ``guess`` (the user asked: ``H`` / ``mapexplorer hist``), any integer-keyed counter map or
    any value holding an integer array is viewed as a histogram.
    """
    if shape.type_name not in HIST_MAP_TYPES:
        return None
    scale = LINEAR if looks_linear(shape.name) else LOG2
    btf = shape.btf
    if btf is None or not shape.value_type:
        if guess or shape.key_size not in (1, 2, 4, 8) or shape.value_size not in (4, 8):
            return None
        return HistSpec("slot_key", scale, unit=unit_from_names(shape.name),
                        reason="viewed as a histogram: integer key = bucket (no BTF)")
    try:
        return _detect_btf(shape, btf, scale, guess)
    except BtfError:
        return None


def _detect_btf(shape: MapShape, btf: Btf, scale: str, guess: bool) -> HistSpec | None:
    kt, vt = shape.key_type, shape.value_type
    key_kind = btf.type(btf.resolve(kt)).kind if kt else 0
    value_is_int = _int_type(btf, vt)
    unit = unit_from_names(shape.name)
    if value_is_int and key_kind == STRUCT:
        members = _real_members(btf, kt)
        if len(members) >= 2 and members[-1][0] == "slot" and _int_type(btf, members[-1][1]):
            return HistSpec("struct_slot_key", scale, slot_field="slot",
                            group_fields=tuple(n for n, _ in members[:-1]), unit=unit,
                            reason="key struct ends with a 'slot' field (BCC per-key histogram)")
    if value_is_int and (not kt or _int_type(btf, kt)):
        if not guess:
            return HistSpec("slot_key", scale, unit=unit,
                            reason="viewed as a histogram: integer key = bucket")
        if looks_like_hist(shape.name):
            return HistSpec("slot_key", scale, unit=unit,
                            reason=f"integer key -> count, named '{shape.name}' (like BCC's BPF_HISTOGRAM)")
        return None
    if _count_array(btf, vt):
        if guess and not looks_like_hist(shape.name):
            return None
        return HistSpec("value_array", scale, shift=1 if scale == LOG2 else 0, unit=unit,
                        reason=f"value is an integer array, map named '{shape.name}'")
    path = _value_array(btf, vt, by_name_only=guess)
    if path is not None:
        vname = btf.type(btf.resolve(vt)).name
        unit = unit or unit_from_names(path[-1], vname)
        if scale == LOG2 and looks_linear(path[-1]):
            scale = LINEAR
        return HistSpec("value_array", scale, array_path=path, shift=1 if scale == LOG2 else 0, unit=unit,
                        reason=f"value member '{path[-1]}' is a slot array (libbpf-tools struct hist)")
    return None
