"""Turning decoded entries into table columns: struct fields flattened to ``a.b`` columns, per-CPU values
spread to ``cpu0 … cpuN`` plus ``sum``/``min``/``max``, delta and rate columns, hex cells, sorting and
filtering.

Pure functions over :class:`mapexplorer.model.MapSnapshot`; no Textual, no kernel: the entry table renders
what this module computes, and workers use it to sort and filter off the UI thread.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from mapexplorer.model import MapSnapshot
from mapexplorer.semantics import CounterTracker, bytes_ascii

MAX_FLAT_LIST = 8
"""Lists up to this length become one column per element (``a[0]``); longer ones stay one text cell."""

_HEXBYTE = re.compile(r"^0x[0-9a-f]{2}$")

DASH = "\u2013"
"""Shown for a missing value."""


def is_hex_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, str) and _HEXBYTE.match(x) for x in v)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}, "c": [1, 2]}`` -> ``[("a.b", 1), ("c[0]", 1), ("c[1]", 2)]``."""
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out.extend(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or [(prefix, "{}")]
    if (
        isinstance(value, list)
        and not is_hex_list(value)
        and 0 < len(value) <= MAX_FLAT_LIST
        and all(not isinstance(x, dict | list | str) for x in value)
    ):
        return [(f"{prefix}[{i}]", x) for i, x in enumerate(value)]
    return [(prefix, value)]


def cell_text(v: Any) -> str:
    """One leaf as table text: ints plain, hex lists as ``01 02 …`` (with ``|ASCII|`` when they hold text,
    :func:`~mapexplorer.semantics.bytes_ascii`), lists joined, None as a dash."""
    if v is None:
        return DASH
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, int):
        return str(v)
    if is_hex_list(v):  # bytes read without BTF: hex, and their ASCII when they hold text
        return bytes_ascii(bytes(int(x, 16) for x in v), limit=len(v))
    if isinstance(v, list):
        if v and all(isinstance(x, str) for x in v):
            return " ← ".join(v)
        return "[" + ", ".join(cell_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {cell_text(x)}" for k, x in v.items()) + "}"
    return str(v)


def is_number(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


def fmt_rate(r: float) -> str:
    if r == 0:
        return "0"
    a = abs(r)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{r / div:.1f}{unit}/s"
    return f"{r:.1f}/s" if a < 100 else f"{r:.0f}/s"


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: a label, a kind and the leaf path it shows."""

    label: str
    kind: str
    """``key``, ``value``, ``cpu``, ``sum``, ``min``, ``max``, ``delta``, ``rate`` or ``hex``."""
    path: str = ""
    cpu: int = -1
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """The columns of a table and how to compute their cells from a snapshot row."""

    columns: tuple[Column, ...]
    key_paths: tuple[str, ...]
    value_paths: tuple[str, ...]
    numeric_paths: tuple[str, ...]
    percpu: bool
    ncpus: int
    hex_mode: bool


def _label(prefix: str, path: str) -> str:
    return path if path else prefix


def make_plan(
    snap: MapSnapshot, *, hex_mode: bool = False, moving: frozenset[str] | None = None, sample: int = 32
) -> Plan:
    """Columns for a snapshot, from the union of the first ``sample`` rows' flattened paths.

    ``moving``: numeric value paths that changed between refreshes; each gets a delta and a rate column
    (None: no delta/rate columns at all).
    """
    percpu = snap.facts.row.percpu
    ncpus = snap.facts.ncpus
    if hex_mode:
        cols = [Column("key (hex)", "hex", "key")] if snap.key_size else []
        if percpu:
            cols += [Column(f"cpu{c} (hex)", "hex", "value", cpu=c) for c in range(ncpus)]
        elif snap.stride:
            cols.append(Column("value (hex)", "hex", "value"))
        return Plan(tuple(cols), (), (), (), percpu, ncpus, True)
    key_paths: dict[str, None] = {}
    value_paths: dict[str, None] = {}
    numeric: dict[str, bool] = {}
    for i in range(min(snap.count, sample)):
        if snap.key_size:
            for p, _ in flatten(snap.key(i)):
                key_paths[p] = None
        value = snap.value(i)
        per = value if percpu and isinstance(value, list) else [value]
        for v in per[:4] if percpu else per:
            for p, leaf in flatten(v):
                value_paths[p] = None
                numeric[p] = numeric.get(p, True) and is_number(leaf)
    if not key_paths and snap.key_size:
        key_paths["key"] = None
    cols: list[Column] = [Column("key." + p if p else "key", "key", p) for p in key_paths]
    if len(cols) == 1:
        cols = [Column("key", "key", cols[0].path)]
    nums = tuple(p for p in value_paths if numeric.get(p))
    if snap.stride and percpu:
        # summaries of every field first (visible without scrolling), then each field's CPU columns
        for p in value_paths:
            name = p or "value"
            if numeric.get(p):
                cols += [
                    Column(f"{name}.sum" if p else "sum", "sum", p, numeric=True),
                    Column(f"{name}.min" if p else "min", "min", p, numeric=True),
                    Column(f"{name}.max" if p else "max", "max", p, numeric=True),
                ]
                if moving is not None and p in moving:
                    cols.append(Column(f"{name}.sum/s" if p else "rate", "rate", p, numeric=True))
        for p in value_paths:
            name = p or "value"
            cols += [
                Column(f"{name}.cpu{c}" if p else f"cpu{c}", "cpu", p, cpu=c, numeric=bool(numeric.get(p)))
                for c in range(ncpus)
            ]
    elif snap.stride:
        for p in value_paths:
            name = p or "value"
            cols.append(Column(name, "value", p, numeric=bool(numeric.get(p))))
            if moving is not None and p in moving and numeric.get(p):
                cols.append(Column(f"Δ{name}", "delta", p, numeric=True))
                cols.append(Column(f"{name}/s", "rate", p, numeric=True))
    return Plan(tuple(cols), tuple(key_paths), tuple(value_paths), nums, percpu, ncpus, False)


@dataclass(frozen=True, slots=True)
class RowValues:
    """The decoded leaves of one row, ready for cells and comparisons."""

    key: dict[str, Any]
    value: dict[str, Any]
    """Non-per-CPU: path -> leaf. Per-CPU: path -> the sum over CPUs (numeric paths only)."""
    cpus: list[dict[str, Any]]
    """Per-CPU: one path -> leaf dict per CPU."""


def row_values(snap: MapSnapshot, i: int, plan: Plan) -> RowValues:
    key = dict(flatten(snap.key(i))) if snap.key_size else {}
    v = snap.value(i)
    if plan.percpu:
        cpus = [dict(flatten(x)) for x in (v or [])]
        sums = {p: sum(c.get(p, 0) for c in cpus if is_number(c.get(p))) for p in plan.numeric_paths}
        return RowValues(key, sums, cpus)
    return RowValues(key, dict(flatten(v)) if snap.stride else {}, [])


def row_cells(
    snap: MapSnapshot,
    i: int,
    plan: Plan,
    prev: RowValues | None = None,
    dt: float = 0.0,
) -> tuple[list[str], RowValues | None]:
    """The cell texts of row ``i`` and its decoded leaves (None in hex mode)."""
    if plan.hex_mode:
        out = []
        for c in plan.columns:
            if c.path == "key":
                out.append(snap.key_raw(i).hex(" "))
            elif plan.percpu:
                out.append(snap.cpu_slices(i)[c.cpu].hex(" "))
            else:
                out.append(snap.value_raw(i).hex(" "))
        return out, None
    rv = row_values(snap, i, plan)
    cells: list[str] = []
    for c in plan.columns:
        k = c.kind
        if k == "key":
            cells.append(cell_text(rv.key.get(c.path)))
        elif k == "value":
            cells.append(cell_text(rv.value.get(c.path)))
        elif k == "cpu":
            cells.append(cell_text(rv.cpus[c.cpu].get(c.path)) if c.cpu < len(rv.cpus) else DASH)
        elif k in ("sum", "min", "max"):
            nums = [x for x in (cpu.get(c.path) for cpu in rv.cpus) if is_number(x)]
            if not nums:
                cells.append(DASH)
            else:
                cells.append(cell_text(sum(nums) if k == "sum" else min(nums) if k == "min" else max(nums)))
        elif k in ("delta", "rate"):
            now = rv.value.get(c.path)
            before = prev.value.get(c.path) if prev is not None else None
            if not (is_number(now) and is_number(before)):
                cells.append("")
            elif now == before:
                cells.append("")  # unchanged: blank, so the rows that move stand out
            elif k == "delta":
                cells.append(f"{now - before:+}")
            else:
                cells.append(fmt_rate((now - before) / dt) if dt > 0 else "")
        else:
            cells.append("")
    return cells, rv


def column_value(snap: MapSnapshot, i: int, plan: Plan, col: Column) -> Any:
    """The decoded leaf a column shows for row ``i`` (sums for sum/min/max; None for delta/rate)."""
    if col.kind == "hex":
        return snap.key_raw(i).hex() if col.path == "key" else snap.value_raw(i).hex()
    rv = row_values(snap, i, plan)
    if col.kind == "key":
        return rv.key.get(col.path)
    if col.kind == "value":
        return rv.value.get(col.path)
    if col.kind == "cpu":
        return rv.cpus[col.cpu].get(col.path) if col.cpu < len(rv.cpus) else None
    if col.kind in ("sum", "min", "max"):
        nums = [x for x in (cpu.get(col.path) for cpu in rv.cpus) if is_number(x)]
        if not nums:
            return None
        return sum(nums) if col.kind == "sum" else min(nums) if col.kind == "min" else max(nums)
    return None


def sort_key_fn(snap: MapSnapshot, plan: Plan, col: Column) -> Callable[[int], tuple[int, Any]]:
    """A key function over row indexes for sorting by ``col``: numbers first by value, then text."""

    def keyf(i: int) -> tuple[int, Any]:
        v = column_value(snap, i, plan, col)
        if is_number(v):
            return (0, v)
        return (1, cell_text(v))

    return keyf


def compute_order(
    snap: MapSnapshot,
    plan: Plan,
    *,
    sort_col: int | None,
    reverse: bool,
    filter_text: str,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> list[int] | None:
    """The row indexes to show (filtered, sorted), or None for "all rows in map order".

    The filter is a case-insensitive substring of any cell, or ``column:text`` for columns whose label
    contains     ``column``.
    """
    if sort_col is None and not filter_text:
        return None
    rows: Sequence[int] = range(snap.count)
    if filter_text:
        needle = filter_text.lower()
        colsel: list[int] | None = None
        if ":" in needle:
            name, _, needle = needle.partition(":")
            colsel = [j for j, c in enumerate(plan.columns) if name.strip() in c.label.lower()]
        kept = []
        for i in rows:
            if i % 4096 == 0 and is_cancelled():
                return None
            cells, _ = row_cells(snap, i, plan)
            pool = cells if colsel is None else [cells[j] for j in colsel]
            if any(needle in x.lower() for x in pool):
                kept.append(i)
        rows = kept
    if sort_col is not None and 0 <= sort_col < len(plan.columns):
        col = plan.columns[sort_col]
        ints = snap.int_column(col.kind) if col.kind in ("key", "value") and not col.path else None
        if ints is not None and sys.byteorder == "little":
            return sorted(rows, key=ints.__getitem__, reverse=reverse)
        return sorted(rows, key=sort_key_fn(snap, plan, col), reverse=reverse)
    return list(rows)


def moving_paths(
    snap: MapSnapshot,
    previous: MapSnapshot,
    plan: Plan,
    rows: list[int],
    prev_index: dict[bytes, int] | None,
    tracker: CounterTracker | None = None,
) -> set[str]:
    """Numeric value paths whose value differs between ``previous`` and ``snap`` in any of ``rows``;
    ``tracker`` sees every compared pair (so it can tell counters, which only grow, from gauges)."""
    out: set[str] = set()
    if plan.hex_mode:
        return out
    for i in rows:
        j = i if prev_index is None else prev_index.get(snap.key_raw(i))
        if j is None or j >= previous.count:
            continue
        now = row_values(snap, i, plan)
        before = row_values(previous, j, plan)
        for p in plan.numeric_paths:
            b, n = before.value.get(p), now.value.get(p)
            if tracker is not None:
                tracker.observe(p, b, n)
            if n != b:
                out.add(p)
    return out
