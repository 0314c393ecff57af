"""Programs for the UI, from the running kernel: :class:`KernelPrograms` turns the kernel layer's program
catalog into :class:`mapexplorer.progmodel.ProgListSnapshot` values and holds BPF_ENABLE_STATS while asked.

A refresh costs one BPF_OBJ_GET_INFO_BY_FD per program (run counters). Names, sizes and map accesses are
read once per program; owners and attach points every ``slow_every`` seconds, sooner when programs appear
but never more often than ``MIN_SLOW_EVERY`` seconds nor than ``WALK_CPU_SHARE`` of a core allows.
Blocking: the UI calls it from thread workers only.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace

from mapexplorer.kernel import maps, programs, progs
from mapexplorer.progmodel import ProgListSnapshot, ProgMapUse, ProgRow

SLOW_EVERY = 30.0
"""Seconds between two walks for owners and attach points (every process's fds, links, netlink)."""
MIN_SLOW_EVERY = 5.0
"""New programs bring the next walk forward, but never closer than this to the last one..."""
WALK_CPU_SHARE = 0.005
"""...nor closer than its own CPU cost allows: a walk costing 100 ms (10,000 fds on the box) waits 20 s."""


class KernelPrograms:
    """Every program in the running kernel, with run statistics while :meth:`set_stats` is on."""

    def __init__(self, *, always_stats: bool = False, slow_every: float = SLOW_EVERY) -> None:
        self.always_stats = always_stats
        """``--prog-stats``: keep statistics on for the whole session, not only while the screen is open."""
        self.catalog = programs.ProgCatalog(slow_every=slow_every)
        self.slow_every = slow_every
        self._stats: progs.StatsSession | None = None
        self._stats_note = ""
        self._want_stats = always_stats
        self._base: dict[int, ProgRow] = {}
        self._slow_at = -SLOW_EVERY
        self._walk_gap = MIN_SLOW_EVERY
        self._map_names: dict[int, tuple[str, str]] = {}
        self._lock = threading.Lock()

    # -- statistics ----------------------------------------------------------------------------------

    def set_stats(self, on: bool) -> None:
        """Ask for run statistics (on) or give them back (off; ignored with ``always_stats``)."""
        with self._lock:
            self._want_stats = on or self.always_stats
            self._apply_stats()

    def _apply_stats(self) -> None:
        if self._want_stats and self._stats is None:
            try:
                self._stats = progs.StatsSession()
                self._stats_note = ""
            except OSError as exc:
                self._stats_note = f"run statistics unavailable: {exc.strerror or exc}"
        elif not self._want_stats and self._stats is not None:
            self._stats.close()
            self._stats = None
            self._stats_note = ""

    @property
    def stats_on(self) -> bool:
        return self._stats is not None

    # -- rows ----------------------------------------------------------------------------------------

    def _map_name(self, map_id: int) -> tuple[str, str]:
        hit = self._map_names.get(map_id)
        if hit is None:
            try:
                info = maps.map_info_by_id(map_id)
                hit = (info.name, info.type_name)
            except OSError:
                return ("?", "?")
            self._map_names[map_id] = hit
        return hit

    def _row(self, r: programs.ProgRecord) -> ProgRow:
        uses = []
        for a in r.maps.maps:
            name, type_name = self._map_name(a.map_id)
            uses.append(ProgMapUse(a.map_id, name, type_name, a.mode))
        i = r.info
        return ProgRow(
            id=i.id,
            name=r.name,
            type_name=i.type_name,
            tag=i.tag,
            attach=r.attach,
            owners=tuple(f"{o.comm}[{o.pid}]" for o in r.owners),
            loaded_at=i.loaded_at(),
            verified_insns=i.verified_insns,
            jited_size=i.jited_len,
            memlock=r.memlock,
            maps=tuple(uses),
            maps_hidden=r.maps.hidden,
            run_cnt=i.run_cnt,
            run_time_ns=i.run_time_ns,
        )

    def list_programs(self) -> ProgListSnapshot:
        """Every program now, with its run counters."""
        with self._lock:
            self._apply_stats()  # a failed enable is retried at every refresh
            stats = progs.run_stats()
            now = time.monotonic()
            new = set(stats) - set(self._base)
            for gone in set(self._base) - set(stats):
                del self._base[gone]
            since = now - self._slow_at
            if since >= max(self.slow_every, self._walk_gap) or (new and since >= self._walk_gap):
                cpu = time.thread_time()
                slow = self.catalog.slow_facts(force=True)
                self._walk_gap = max(MIN_SLOW_EVERY, (time.thread_time() - cpu) / WALK_CPU_SHARE)
                self._slow_at = now
                self._base = {pid: self._with_slow(row, slow) for pid, row in self._base.items()}
            else:
                slow = self.catalog.slow_facts()
            if new:
                for rec in self.catalog.collect(sorted(new), details=False):
                    self._base[rec.id] = self._with_slow(self._row(rec), slow)
                used = {m.map_id for row in self._base.values() for m in row.maps}
                self._map_names = {k: v for k, v in self._map_names.items() if k in used}
            rows = []
            for pid in sorted(self._base):
                base = self._base[pid]
                st = stats.get(pid)
                if st is not None and (st.run_cnt, st.run_time_ns) != (base.run_cnt, base.run_time_ns):
                    base = replace(base, run_cnt=st.run_cnt, run_time_ns=st.run_time_ns)
                rows.append(base)
            return ProgListSnapshot(
                tuple(rows), now, self._stats is not None, self._stats_note, os.cpu_count() or 1
            )

    @staticmethod
    def _with_slow(row: ProgRow, slow: programs.SlowFacts) -> ProgRow:
        attach = slow.attach.get(row.id, ())
        owners = tuple(f"{o.comm}[{o.pid}]" for o in slow.owners.get(row.id, ()))
        if (attach, owners) == (row.attach, row.owners):
            return row
        return replace(row, attach=attach, owners=owners)

    def close(self) -> None:
        with self._lock:
            if self._stats is not None:
                self._stats.close()
                self._stats = None
