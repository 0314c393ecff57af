"""Reread: the full re-reads of a big map, a slice at a time within the CPU budget.

A map view above :data:`mapexplorer.screens.map_view.PARTIAL_LIMIT` entries refreshes the rows on screen at
every interval (one lookup each) and reads the whole map again only when something on screen needs it (a
sort by a value, a filter, ``r``). Such a re-read is never one giant pass: each refresh reads one slice of
it (some BPF_MAP_LOOKUP_BATCH calls), sized so that reading costs ``share`` of the budget's CPU over one
interval -- at 5 % of a core and a 1 s interval, about 30 ms of reading per refresh. The slice follows the
read rate measured on the previous slices (entries per CPU second), so a pass over 10,000,000 entries at
~3 M entries per CPU second takes about 110 refreshes: "full re-read every 110 s".

Pure bookkeeping (the caller measures CPU time, with ``time.thread_time`` or a fake in tests); the pass
object itself (:class:`mapexplorer.kernel_source.MapPass`) is opaque here. Safe to share between the UI
thread and one worker at a time (a lock guards the pass and the rate).
"""

from __future__ import annotations

import math
import threading
from typing import Any

from mapexplorer.pacing import DEFAULT_BUDGET

SHARE = 0.6
"""Part of the budget a re-read slice may use; the rest is for the visible rows' lookups, drawing and the
app's own idle work (timers, the terminal)."""
MIN_SLICE = 16384
"""Fewest entries a slice reads (one batch), however small the budget."""
FIRST_RATE = 2_000_000.0
"""Entries per CPU second assumed before the first slice is measured."""
UNLIMITED = 1 << 62


class Reread:
    """The state of a big map's full re-reads: the pass in progress and the measured read rate."""

    def __init__(self, budget: float = DEFAULT_BUDGET, share: float = SHARE) -> None:
        self.budget = budget
        """Share of one core for background work (0 or less: no budget, a pass is read in one go)."""
        self.share = share
        self.rate = FIRST_RATE
        """Smoothed entries read per CPU second."""
        self._measured = False
        self._pass: Any = None
        self._lock = threading.Lock()
        self.passes = 0
        """Full re-reads finished."""

    def slice_entries(self, interval: float) -> int:
        """Entries to read in one refresh of ``interval`` seconds (all of them without a budget)."""
        if self.budget <= 0 or interval <= 0:
            return UNLIMITED
        return max(MIN_SLICE, round(self.rate * self.budget * self.share * interval))

    def every(self, count: int, interval: float) -> float:
        """Seconds a whole re-read of ``count`` entries takes at one slice per ``interval``."""
        if interval <= 0:
            return 0.0
        return math.ceil(max(count, 1) / self.slice_entries(interval)) * interval

    def record(self, entries: int, cpu_s: float) -> None:
        """A slice read ``entries`` in ``cpu_s`` CPU seconds."""
        if entries <= 0 or cpu_s <= 0:
            return
        rate = entries / cpu_s
        with self._lock:
            self.rate = rate if not self._measured else (self.rate + rate) / 2
            self._measured = True

    # -- the pass in progress ------------------------------------------------------------------------

    @property
    def current(self) -> Any:
        """The pass being read (None: none)."""
        with self._lock:
            return self._pass

    def start(self, p: Any) -> None:
        with self._lock:
            old, self._pass = self._pass, p
        if old is not None and old is not p:
            old.close()

    def finish(self, p: Any) -> None:
        """``p`` was read to its end."""
        with self._lock:
            if self._pass is p:
                self._pass = None
                self.passes += 1

    def abandon(self) -> None:
        """Drop the pass in progress (the view closes, or no longer needs it)."""
        with self._lock:
            old, self._pass = self._pass, None
        if old is not None:
            old.close()

    def progress(self, count: int) -> float | None:
        """How much of a map of ``count`` entries the pass in progress has read (None: none runs)."""
        p = self.current
        if p is None:
            return None
        return min(1.0, p.count / max(count, 1))
