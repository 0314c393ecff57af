"""Differences between two states of a map: added, removed and changed keys, and for a changed value the
fields that changed (``stats.bytes: 1200 -> 1800``; per-CPU values per CPU: ``cpu1 bytes: 3 -> 4``).

A :class:`Table` is one state: raw key/value bytes with a decoder (a live read, a recorded frame) or
already decoded entries (a ``dump --json`` file). Raw tables are compared byte for byte first and only the
entries that differ are decoded, so two 1,000,000-entry frames compare in about a second.

Pure: no syscalls, no textual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

_INT_FORMATS: dict[int, Literal["B", "H", "I", "Q"]] = {1: "B", 2: "H", 4: "I", 8: "Q"}
BLOCK = 512  # entries compared at once when both sides list the same keys in the same order


class EntryDecoder(Protocol):
    def decode_key(self, b: bytes) -> Any: ...

    def decode_value(self, b: bytes) -> Any: ...


@dataclass(frozen=True, eq=False)
class Table:
    """One state of one map. Either raw (``keys``/``values`` back to back, ``decoder``) or ``decoded``
    (a list of ``(key, value)`` JSON values; per-CPU values as a list with one value per CPU)."""

    label: str
    name: str = ""
    map_id: int | None = None
    keys: bytes = b""
    values: bytes = b""
    count: int = 0
    key_size: int = 0
    stride: int = 0
    decoder: EntryDecoder | None = None
    decoded: list[tuple[Any, Any]] | None = None
    gone: bool = False
    """The map had vanished at this point (no entries)."""
    percpu: bool = False
    """Values are per-CPU (a list with one value per CPU once decoded): changes are shown per CPU."""

    @property
    def raw(self) -> bool:
        return self.decoded is None

    def key_at(self, i: int) -> bytes:
        return self.keys[i * self.key_size : (i + 1) * self.key_size]

    def value_at(self, i: int) -> bytes:
        return self.values[i * self.stride : (i + 1) * self.stride]

    def decode_key(self, i: int) -> Any:
        if not self.raw:
            return self.decoded[i][0]  # type: ignore[index]
        if not self.key_size:
            return None
        assert self.decoder is not None
        return self.decoder.decode_key(self.key_at(i))

    def decode_value(self, i: int) -> Any:
        if not self.raw:
            return self.decoded[i][1]  # type: ignore[index]
        if not self.stride:
            return None
        assert self.decoder is not None
        return self.decoder.decode_value(self.value_at(i))

    def decoded_entries(self) -> Iterator[tuple[Any, Any]]:
        if not self.raw:
            yield from self.decoded  # type: ignore[misc]
            return
        for i in range(self.count):
            yield self.decode_key(i), self.decode_value(i)

    @property
    def size(self) -> int:
        return self.count if self.raw else len(self.decoded)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    """Where in the value (``stats.bytes``, ``cpu1 bytes``; empty for a scalar value)."""
    a: Any
    b: Any


@dataclass(frozen=True, slots=True)
class Changed:
    key: Any
    a: Any
    b: Any
    fields: tuple[FieldChange, ...]


@dataclass
class MapDiff:
    """What differs between two states of one map."""

    a: Table
    b: Table
    added: list[tuple[Any, Any]] = field(default_factory=list)
    removed: list[tuple[Any, Any]] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.added or self.removed or self.changed) and self.a.gone == self.b.gone

    def to_json(self) -> dict[str, Any]:
        return {
            "map": self.b.name or self.a.name,
            "id": self.b.map_id if self.b.map_id is not None else self.a.map_id,
            "a": self.a.label,
            "b": self.b.label,
            "a_gone": self.a.gone,
            "b_gone": self.b.gone,
            "added": [{"key": k, "value": v} for k, v in self.added],
            "removed": [{"key": k, "value": v} for k, v in self.removed],
            "changed": [
                {"key": c.key, "fields": [{"path": f.path, "a": f.a, "b": f.b} for f in c.fields]}
                for c in self.changed
            ],
        }


def canonical(value: Any) -> str:
    """A JSON text that is equal for equal values (the identity of a decoded key)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _is_bytes_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, str) and x.startswith("0x") for x in v)


def flatten(value: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{path: scalar}`` for every leaf of a decoded value (a list of ``"0xNN"`` bytes is one leaf)."""
    if out is None:
        out = {}
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and not _is_bytes_list(value):
        for i, v in enumerate(value):
            flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = " ".join(x[2:] for x in value) if _is_bytes_list(value) else value
    return out


def field_changes(a: Any, b: Any, percpu: bool) -> tuple[FieldChange, ...]:
    """The leaves that differ between two decoded values; per-CPU values CPU by CPU (``cpu1 bytes``)."""
    if percpu and isinstance(a, list) and isinstance(b, list):
        out: list[FieldChange] = []
        for cpu in range(max(len(a), len(b))):
            va = a[cpu] if cpu < len(a) else None
            vb = b[cpu] if cpu < len(b) else None
            for f in field_changes(va, vb, False):
                out.append(FieldChange(f"cpu{cpu} {f.path}".rstrip(), f.a, f.b))
        return tuple(out)
    fa, fb = flatten(a), flatten(b)
    return tuple(FieldChange(p, fa.get(p), fb.get(p)) for p in dict.fromkeys([*fa, *fb])
                 if fa.get(p) != fb.get(p))


def diff_tables(a: Table, b: Table) -> MapDiff:
    """Compare two states of a map (raw bytes first when both are raw with the same layout)."""
    d = MapDiff(a, b)
    percpu = a.percpu or b.percpu
    if a.raw and b.raw and a.key_size == b.key_size and a.stride == b.stride:
        _diff_raw(a, b, d, percpu)
    else:
        _diff_decoded(a, b, d, percpu)
    return d


def _changed(d: MapDiff, i: int, j: int, percpu: bool) -> None:
    a, b = d.a, d.b
    va, vb = a.decode_value(i), b.decode_value(j)
    fields = field_changes(va, vb, percpu)
    if not fields and va == vb:
        # equal once decoded (padding bytes, or bytes outside the value's type): still a raw change
        fields = (FieldChange("(bytes)", a.value_at(i).hex(), b.value_at(j).hex()),)
    d.changed.append(Changed(b.decode_key(j), va, vb, fields))


def raw_changes(a_keys: bytes, a_values: bytes, a_count: int, b_keys: bytes, b_values: bytes, b_count: int,
                key_size: int, stride: int) -> tuple[list[int], list[int], list[tuple[int, int]]]:
    """Compare two states given as back-to-back key and value bytes (same key size and stride).

    Returns (indexes in B of added keys, indexes in A of removed keys, (A, B) index pairs of changed values),
    each in map order. Nothing is decoded.
    """
    ks, st = key_size, stride
    if a_keys == b_keys:
        # same keys in the same order (arrays; a hash map read twice): compare the values block by block
        va, vb = memoryview(a_values), memoryview(b_values)
        changed = []
        step = BLOCK * st
        for start in range(0, a_count * st, step) if st else ():
            if va[start : start + step] != vb[start : start + step]:
                first = start // st
                changed.extend((i, i) for i in range(first, min(first + BLOCK, a_count))
                               if va[i * st : (i + 1) * st] != vb[i * st : (i + 1) * st])
        return [], [], changed
    # the keys differ: index A's keys (as ints when they are 1/2/4/8 bytes: cheaper to hash than slices)
    index = dict(zip(_rows(a_keys, ks, a_count), range(a_count), strict=True))
    avals, bvals = _rows(a_values, st, a_count), _rows(b_values, st, b_count)
    added: list[int] = []
    changed_pairs: list[tuple[int, int]] = []
    pop = index.pop
    for j, k in enumerate(_rows(b_keys, ks, b_count)):
        i = pop(k, None)
        if i is None:
            added.append(j)
        elif st and avals[i] != bvals[j]:
            changed_pairs.append((i, j))
    return added, sorted(index.values()), changed_pairs


def _diff_raw(a: Table, b: Table, d: MapDiff, percpu: bool) -> None:
    added, removed, changed = raw_changes(a.keys, a.values, a.count, b.keys, b.values, b.count, a.key_size,
                                          a.stride)
    for i, j in changed:
        _changed(d, i, j, percpu)
    d.added = [(b.decode_key(j), b.decode_value(j)) for j in added]
    d.removed = [(a.decode_key(i), a.decode_value(i)) for i in removed]


def _rows(buf: bytes, size: int, n: int) -> list[Any]:
    """The ``n`` items of ``size`` bytes in ``buf``: ints for 1/2/4/8-byte items, else bytes slices."""
    if size in _INT_FORMATS and len(buf) == n * size:
        return memoryview(buf).cast(_INT_FORMATS[size]).tolist()
    if not size:
        return [b""] * n
    return [buf[i : i + size] for i in range(0, n * size, size)]


def _diff_decoded(a: Table, b: Table, d: MapDiff, percpu: bool) -> None:
    index = {canonical(k): (k, v) for k, v in a.decoded_entries()}
    for k, vb in b.decoded_entries():
        hit = index.pop(canonical(k), None)
        if hit is None:
            d.added.append((k, vb))
        elif canonical(hit[1]) != canonical(vb):
            d.changed.append(Changed(k, hit[1], vb, field_changes(hit[1], vb, percpu)))
    d.removed = list(index.values())


def _short(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def format_text(d: MapDiff) -> list[str]:
    """Readable lines: a title, then ``+`` added, ``-`` removed, ``~`` changed keys with their fields."""
    title = d.b.name or d.a.name or "map"
    mid = d.b.map_id if d.b.map_id is not None else d.a.map_id
    if mid is not None:
        title += f" (id {mid})"
    lines = [f"--- {d.a.label}", f"+++ {d.b.label}"]
    if d.a.gone != d.b.gone:
        lines.append(f"{title}: {'gone in ' + d.b.label if d.b.gone else 'back in ' + d.b.label}")
    lines.append(f"{title}: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed")
    for k, v in d.added:
        lines.append(f"+ key {_short(k)}: {json.dumps(v)}")
    for k, v in d.removed:
        lines.append(f"- key {_short(k)}: {json.dumps(v)}")
    for c in d.changed:
        lines.append(f"~ key {_short(c.key)}")
        for f in c.fields:
            where = f"{f.path}: " if f.path else ""
            lines.append(f"    {where}{_short(f.a)} -> {_short(f.b)}")
    return lines
