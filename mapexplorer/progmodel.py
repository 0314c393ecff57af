"""The values the programs screen is built from: one row per program, a snapshot of every program, and the
rates (runs/s, average ns per run, CPU %) between two snapshots. Immutable, no kernel, no Textual.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProgMapUse:
    """One map a program uses, and how (``r``, ``w``, ``rw``, ``w?``/``rw?`` probable write, ``?``)."""

    map_id: int
    name: str
    type_name: str
    mode: str

    @property
    def writes(self) -> bool:
        return "w" in self.mode

    @property
    def reads(self) -> bool:
        return "r" in self.mode


@dataclass(frozen=True, slots=True)
class ProgRow:
    """One program as the programs screen shows it."""

    id: int
    name: str
    """Full name (BTF func_info when the kernel's 15 characters are cut)."""
    type_name: str
    tag: str = ""
    attach: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    """``comm[pid]`` of every process holding the program (fd, link or perf event)."""
    loaded_at: float = 0.0
    verified_insns: int = 0
    jited_size: int = 0
    memlock: int = 0
    maps: tuple[ProgMapUse, ...] = ()
    maps_hidden: str = ""
    """Why reads/writes are unknown ("" when the instructions told)."""
    run_cnt: int = 0
    run_time_ns: int = 0

    def search_text(self) -> str:
        maps = (m.name for m in self.maps)
        return " ".join((str(self.id), self.name, self.type_name, *self.attach, *self.owners, *maps)).lower()

    def use_of(self, map_id: int) -> ProgMapUse | None:
        for m in self.maps:
            if m.map_id == map_id:
                return m
        return None


@dataclass(frozen=True, slots=True)
class ProgListSnapshot:
    """Every program at one moment."""

    rows: tuple[ProgRow, ...]
    taken_at: float
    """Seconds on a monotonic clock (rates divide by the difference of two of these)."""
    stats_on: bool = False
    """Run statistics are being counted (BPF_ENABLE_STATS held, by us or another tool)."""
    stats_note: str = ""
    """Why statistics could not be turned on ("" when they are on or were not asked for)."""
    ncpus: int = 1
    """Online CPUs, for the share of all CPUs the programs take."""


@dataclass(frozen=True, slots=True)
class ProgRate:
    """What one program did between two snapshots."""

    runs_per_s: float
    avg_ns: float | None
    """Average run time over the interval; None without runs in it."""
    cpu_pct: float
    """Run time as a share of all CPUs' time over the interval (bpftop's "total CPU %")."""


def rates(prev: ProgListSnapshot | None, cur: ProgListSnapshot) -> dict[int, ProgRate]:
    """Rates of the programs present in both snapshots (counters that went backwards are skipped)."""
    if prev is None:
        return {}
    dt = cur.taken_at - prev.taken_at
    if dt <= 0:
        return {}
    before = {r.id: r for r in prev.rows}
    out: dict[int, ProgRate] = {}
    for r in cur.rows:
        p = before.get(r.id)
        if p is None:
            continue
        runs = r.run_cnt - p.run_cnt
        ns = r.run_time_ns - p.run_time_ns
        if runs < 0 or ns < 0:
            continue
        out[r.id] = ProgRate(
            runs_per_s=runs / dt,
            avg_ns=ns / runs if runs else None,
            cpu_pct=100.0 * ns / (dt * 1e9 * max(cur.ncpus, 1)),
        )
    return out


@dataclass(frozen=True, slots=True)
class MapUsers:
    """Who writes and who reads one map, as the map view header says it."""

    writers: tuple[str, ...] = ()
    """Program names; a probable writer (a store through a looked-up value) ends in `` (probably)``."""
    readers: tuple[str, ...] = ()
    note: str = ""
    """Programs whose access could not be told, and why ("" when every access is known)."""

    def text(self) -> str:
        """``written by X, Y · read by Z`` (empty when no program uses the map)."""
        parts = []
        if self.writers:
            parts.append("written by " + ", ".join(self.writers))
        if self.readers:
            parts.append("read by " + ", ".join(self.readers))
        return " · ".join(parts)


def map_users(uses: Iterable[tuple[str, str, str]]) -> MapUsers:
    """Writers and readers from ``(program name, mode, why hidden)`` of every program using a map."""
    writers: list[str] = []
    readers: list[str] = []
    unknown: list[str] = []
    for name, mode, hidden in uses:
        if hidden or mode in ("", "?"):
            unknown.append(f"{name} ({hidden or 'not referenced by its instructions'})")
            continue
        if "w" in mode:
            writers.append(name + (" (probably)" if mode.endswith("?") else ""))
        if "r" in mode:
            readers.append(name)
    note = "reads/writes unknown for " + "; ".join(unknown) if unknown else ""
    return MapUsers(tuple(writers), tuple(readers), note)
