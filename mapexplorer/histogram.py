"""Histograms: bucket rows as BCC prints them, percentiles, and histograms collected from decoded entries
according to a :class:`HistSpec` (which :mod:`mapexplorer.histdetect` finds from a map's BTF and shape).

Pure: no syscalls, no BTF, no textual. Shared by ``mapexplorer hist`` and the TUI histogram view.

Shapes (``HistSpec.kind``):

* ``slot_key``: a map keyed by a small integer, the bucket index, with integer counts (BCC's plain
  ``BPF_HISTOGRAM(dist)``: ``int -> u64``). A plain integer-keyed array looks exactly the same, so the
  guess also needs a histogram-like map name (``dist``, ``*hist*``, ``*log2*``, ``*lat*``...).
* ``struct_slot_key``: a map keyed by a struct whose last field is ``slot`` (BCC's per-key histograms,
  ``BPF_HISTOGRAM(dist, struct pid_key_t)``): one histogram per value of the other key fields.
* ``value_array``: a value that is (or holds) an integer array named ``slots``/``hist``/``dist`` or like
  ``*hist*``/``*dist*``/``*log2*``/``*lat*`` (libbpf-tools' ``struct hist { __u32 slots[N]; ... }``): one
  histogram per map key.

Bucket indexes are normalised to BCC's log2 convention, where slot ``i`` holds values ``2^(i-1) ..
2^i - 1`` (``bpf_log2l``) and the printer starts at slot 1 (``0 -> 1``). libbpf-tools count from slot 0
for ``0 -> 1``, so their arrays are shifted by one on the way in. Linear histograms (BCC's
``print_linear_hist``) have one bucket per integer value, starting at 0.

Percentiles are computed from the buckets and reported as the *upper bound* of the bucket holding that
rank: "p99 <= 255" means 99 % of the samples were at most 255.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

LOG2, LINEAR = "log2", "linear"
LOG2_SLOTS = 65  # BCC's log2_index_max: enough for any 64-bit value
LINEAR_SLOTS = 4096  # a linear key above this is not a bucket index
STARS_MAX = 40  # BCC's stars_max
PERCENTILES = (50, 90, 99)

_NAME_HINTS = ("hist", "dist", "log2", "lhist", "lat", "slot")
_LINEAR_HINTS = ("lhist", "linear", "lin")
_UNITS = {
    "usecs": "usecs", "usec": "usecs", "us": "usecs",
    "nsecs": "nsecs", "nsec": "nsecs", "ns": "nsecs",
    "msecs": "msecs", "msec": "msecs", "ms": "msecs",
    "bytes": "bytes", "kbytes": "kbytes", "size": "bytes",
}


def _tokens(name: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]


def looks_like_hist(name: str) -> bool:
    """True when a name reads like a histogram: a word starting with hist/dist/log2/lat/slot."""
    return any(t.startswith(_NAME_HINTS) for t in _tokens(name))


def looks_linear(name: str) -> bool:
    """True when a name says its buckets are linear (``lhist``, ``linear``)."""
    return any(t in _LINEAR_HINTS or t.startswith("lhist") for t in _tokens(name))


def unit_from_names(*names: str) -> str | None:
    """The unit a name states (``lat_usecs`` -> ``usecs``, ``io_bytes`` -> ``bytes``), else None."""
    for name in names:
        for t in _tokens(name):
            if t in _UNITS:
                return _UNITS[t]
    return None


# -- buckets, bars, percentiles ---------------------------------------------------------------------


class Bucket(NamedTuple):
    """One printed row: values ``low .. high`` (equal for a linear bucket) seen ``count`` times."""

    low: int
    high: int
    count: int


def stars(val: int, val_max: int, width: int) -> str:
    """BCC's ``_stars``: a bar of ``*`` scaled to ``val_max`` over ``width`` characters."""
    text = ""
    i = 0
    while True:
        if i > (width * val / val_max) - 1 or i > width - 1:
            break
        text += "*"
        i += 1
    if val > val_max:
        text = text[:-1] + "+"
    return text


def log2_range(i: int) -> tuple[int, int]:
    """Values counted in BCC log2 slot ``i`` as BCC prints them (slot 1 is ``0 -> 1``)."""
    low = (1 << i) >> 1
    high = (1 << i) - 1
    if low == high:
        low -= 1
    return low, high


@dataclass(frozen=True)
class Histogram:
    """Counts per slot (BCC's indexing for log2, the value itself for linear) and how to read them.

    ``hidden`` is a count in log2 slot 0, which BCC's printer never shows (``bpf_log2l`` never writes it);
    it is kept out of the rows and the percentiles, and reported.
    """

    counts: tuple[int, ...]
    scale: str = LOG2
    unit: str | None = None

    @property
    def idx_max(self) -> int:
        """Highest slot with a non-zero count, -1 when every slot is zero."""
        for i in range(len(self.counts) - 1, -1, -1):
            if self.counts[i] > 0:
                return i
        return -1

    @property
    def hidden(self) -> int:
        return self.counts[0] if self.scale == LOG2 and self.counts else 0

    def rows(self) -> list[Bucket]:
        """The rows BCC's printer prints (log2: slots 1 .. idx_max; linear: 0 .. idx_max)."""
        top = self.idx_max
        if self.scale == LINEAR:
            return [Bucket(i, i, self.counts[i]) for i in range(top + 1)]
        return [Bucket(*log2_range(i), self.counts[i]) for i in range(1, top + 1)]

    @property
    def total(self) -> int:
        """Samples in the printed rows."""
        return sum(b.count for b in self.rows())

    def percentiles(self) -> dict[str, int] | None:
        """``{"p50", "p90", "p99", "max"}``: upper bounds of the buckets holding those ranks (None: empty)."""
        rows = [b for b in self.rows() if b.count]
        total = sum(b.count for b in rows)
        if not total:
            return None
        out: dict[str, int] = {}
        for p in PERCENTILES:
            rank = max(1, math.ceil(total * p / 100))
            cum = 0
            for b in rows:
                cum += b.count
                if cum >= rank:
                    out[f"p{p}"] = b.high
                    break
        out["max"] = rows[-1].high
        return out

    def percentile_line(self) -> str:
        """``p50 <= 15  p90 <= 63  p99 <= 255  max <= 511 usecs (bucket upper bounds, 1234 samples)``."""
        pct = self.percentiles()
        if pct is None:
            return "no samples"
        unit = f" {self.unit}" if self.unit else ""
        parts = "  ".join(f"{k} <= {v}" for k, v in pct.items())
        return f"{parts}{unit} (bucket upper bounds, {self.total} samples)"

    def bcc_lines(self, val_type: str | None = None) -> list[str]:
        """The lines BCC's ``print_log2_hist`` / ``print_linear_hist`` print for these counts."""
        label = val_type or self.unit or "value"
        top = self.idx_max
        vals = list(self.counts) + [0] * max(0, top + 1 - len(self.counts))
        val_max = max(vals, default=0)
        lines: list[str] = []
        if self.scale == LINEAR:
            if top >= 0:
                lines.append(f"     {label:<13} : count     distribution")
            for i in range(top + 1):
                bar = stars(vals[i], val_max, STARS_MAX)
                lines.append(f"        {i:<10} : {vals[i]:<8} |{bar:<{STARS_MAX}}|")
            return lines
        wide = top > 32  # BCC switches to 20-digit ranges and half-width bars
        num, pad, lw, width = (20, 15, 29, STARS_MAX // 2) if wide else (10, 5, 19, STARS_MAX)
        if top > 0:
            lines.append(" " * pad + f"{label:<{lw}} : count     distribution")
        for i in range(1, top + 1):
            low, high = log2_range(i)
            bar = stars(vals[i], val_max, width)
            lines.append(f"{low:>{num}} -> {high:<{num}} : {vals[i]:<8} |{bar:<{width}}|")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "unit": self.unit,
            "buckets": [{"low": b.low, "high": b.high, "count": b.count} for b in self.rows()],
            "total": self.total,
            "percentiles": self.percentiles(),
            "percentile_bound": "upper",
            "hidden_slot0": self.hidden,
        }

    def plus(self, other: Histogram) -> Histogram:
        """Slot-wise sum (for "sum of all keys")."""
        n = max(len(self.counts), len(other.counts))
        a = self.counts + (0,) * (n - len(self.counts))
        b = other.counts + (0,) * (n - len(other.counts))
        return Histogram(tuple(x + y for x, y in zip(a, b, strict=True)), self.scale, self.unit)

    def minus(self, other: Histogram | None) -> tuple[int, ...]:
        """Per-slot change since ``other`` (a previous reading of the same histogram)."""
        if other is None:
            return (0,) * len(self.counts)
        prev = other.counts + (0,) * max(0, len(self.counts) - len(other.counts))
        return tuple(c - prev[i] for i, c in enumerate(self.counts))


# -- how a map forms histograms ---------------------------------------------------------------------


@dataclass(frozen=True)
class HistSpec:
    """How a map's entries form histograms.

    Attributes:
        kind: ``slot_key``, ``struct_slot_key`` or ``value_array``.
        scale: ``log2`` or ``linear``.
        slot_field: the key member holding the slot (``struct_slot_key``).
        group_fields: the other key members, one histogram per combination (``struct_slot_key``).
        array_path: members leading to the slot array inside the value (``value_array``; () = the value).
        shift: added to an array index to reach BCC's slot numbering (1 for libbpf-tools arrays).
        unit: ``usecs``/``nsecs``/``bytes``... when a name says so.
        reason: why this map was taken for a histogram, for the user.
    """

    kind: str
    scale: str = LOG2
    slot_field: str | None = None
    group_fields: tuple[str, ...] = ()
    array_path: tuple[str, ...] = ()
    shift: int = 0
    unit: str | None = None
    reason: str = ""

    def with_scale(self, scale: str) -> HistSpec:
        return HistSpec(self.kind, scale, self.slot_field, self.group_fields, self.array_path,
                        self.shift if scale == LOG2 else 0, self.unit, self.reason)



# -- collecting decoded entries into histograms -----------------------------------------------------


def as_int(v: Any) -> int | None:
    """An integer from a decoded value: a number, or bpftool's ``["0x01", ...]`` little-endian bytes."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, list) and v and all(isinstance(b, str) and b.startswith("0x") for b in v):
        return int.from_bytes(bytes(int(b, 16) for b in v), "little")
    return None


def _sum_cpus(value: Any, percpu: bool) -> Any:
    """A per-CPU value list summed (ints, or int lists slot by slot)."""
    if not percpu:
        return value
    ints = [as_int(v) for v in value]
    if all(i is not None for i in ints):
        return sum(i for i in ints if i is not None)
    return value  # arrays are summed by the caller


def key_label(key: Any) -> str:
    """Short text for a histogram's key: ``123``, ``comm=bash pid=12``."""
    if isinstance(key, dict):
        if len(key) == 1:
            return key_label(next(iter(key.values())))
        return " ".join(f"{k}={key_label(v)}" for k, v in key.items())
    if isinstance(key, str):
        return key
    if isinstance(key, list) and (n := as_int(key)) is not None:
        return str(n)
    return json.dumps(key, separators=(",", ":"))


@dataclass(frozen=True)
class HistSet:
    """Every histogram of a map: ``groups`` maps a key (its JSON text) to (key, histogram), in key order.

    ``dropped`` counts samples whose slot is out of range (an integer key too large to be a bucket).
    """

    spec: HistSpec
    groups: dict[str, tuple[Any, Histogram]]
    dropped: int = 0

    @property
    def per_key(self) -> bool:
        return self.spec.kind != "slot_key"

    def sum(self) -> Histogram:
        out = Histogram((), self.spec.scale, self.spec.unit)
        for _, h in self.groups.values():
            out = out.plus(h)
        return out

    def find(self, text: str) -> tuple[Any, Histogram] | None:
        """The group whose key is ``text`` as JSON (``{"id": 7}``, ``7``), or whose label is ``text``."""
        try:
            want = json.dumps(json.loads(text), sort_keys=True)
        except ValueError:
            want = None
        for key, h in self.groups.values():
            if want is not None and json.dumps(key, sort_keys=True) == want:
                return key, h
            if key_label(key) == text:
                return key, h
        if want is not None:  # a bare value for a one-field key: 7 matches {"id": 7}
            for key, h in self.groups.values():
                if isinstance(key, dict) and len(key) == 1 and \
                        json.dumps(next(iter(key.values())), sort_keys=True) == want:
                    return key, h
        return None


def _sort_key(key: Any) -> tuple[Any, ...]:
    """Numbers in numeric order, structs field by field (``{"nr": 2}`` before ``{"nr": 10}``)."""
    if isinstance(key, dict):
        return (1, tuple(_sort_key(v) for v in key.values()))
    n = as_int(key)
    return (0, n) if n is not None else (2, json.dumps(key, sort_keys=True))


def collect(spec: HistSpec, entries: Iterable[tuple[Any, Any]], *, percpu: bool = False) -> HistSet:
    """Histograms from decoded ``(key, value)`` entries (as ``dump --json`` decodes them; per-CPU values
    as lists, which are summed)."""
    limit = LOG2_SLOTS if spec.scale == LOG2 else LINEAR_SLOTS
    slots: dict[str, tuple[Any, dict[int, int]]] = {}
    dropped = 0

    def add(group: Any, slot: int | None, count: int) -> None:
        nonlocal dropped
        if slot is None or not 0 <= slot < limit:
            dropped += count
            return
        gk = json.dumps(group, sort_keys=True)
        d = slots.setdefault(gk, (group, {}))[1]
        d[slot] = d.get(slot, 0) + count

    for key, value in entries:
        if value is None:
            continue
        if spec.kind == "value_array":
            arr = _array_at(value, spec.array_path, percpu)
            if arr is None:
                continue
            for i, c in enumerate(arr):
                if c:
                    add(key, i + spec.shift, c)
            if not any(arr):
                slots.setdefault(json.dumps(key, sort_keys=True), (key, {}))
            continue
        count = as_int(_sum_cpus(value, percpu))
        if count is None:
            continue
        if spec.kind == "struct_slot_key" and isinstance(key, dict):
            group = {f: key.get(f) for f in spec.group_fields}
            add(group, as_int(key.get(spec.slot_field)), count)
        else:
            add(None, as_int(key), count)
    groups: dict[str, tuple[Any, Histogram]] = {}
    for gk, (group, d) in sorted(slots.items(), key=lambda kv: _sort_key(kv[1][0])):
        n = max(d, default=-1) + 1
        counts = tuple(d.get(i, 0) for i in range(n))
        groups[gk] = (group, Histogram(counts, spec.scale, spec.unit))
    return HistSet(spec, groups, dropped)


def _array_at(value: Any, path: Sequence[str], percpu: bool) -> list[int] | None:
    if percpu:
        parts = [_array_at(v, path, False) for v in value]
        arrays = [p for p in parts if p is not None]
        if not arrays:
            return None
        return [sum(col) for col in zip(*arrays, strict=True)]
    for p in path:
        if not isinstance(value, dict):
            return None
        value = value.get(p)
    if not isinstance(value, list):
        return None
    ints = [as_int(v) for v in value]
    return None if any(i is None for i in ints) else [i for i in ints if i is not None]
