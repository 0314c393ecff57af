"""Pacer: the interval of a periodic background job (the map list's refresh) under a CPU budget.

Each run reports the CPU time it cost (the reading worker's thread time plus the UI thread's time drawing
the result). The next run is due after ``max(wanted, cost / budget)`` seconds: a refresh costing 0.3 s of
CPU with a 5 % budget runs every 6 s instead of every second, so the list's background refreshes stay near
the budget however many maps there are (key presses and drawing what they change are not paced).

The cost is smoothed (half the last run, half the ones before) so one slow run does not stretch the
interval alone, and the interval comes back as soon as runs get cheap again. The first run is not counted:
it reads everything for the first time (every map's info, every process's fds) and fills the table, which
later runs do not do (3 s of CPU at 20,000 maps: the next refresh would have been a minute away).
Pure: the caller measures (``time.thread_time`` in each thread, or a fake in tests).
"""

from __future__ import annotations

DEFAULT_BUDGET = 0.05
"""Share of one core that background refreshes may use (``--budget 5``)."""


class Pacer:
    """The smoothed CPU cost of a periodic job and the interval that keeps it within ``budget``."""

    def __init__(self, budget: float = DEFAULT_BUDGET) -> None:
        self.budget = budget
        """Share of one core (0.05: 5 %); 0 or less: no budget (the wanted interval always)."""
        self.cost = 0.0
        """Smoothed CPU seconds per run."""
        self._runs = 0

    def record(self, cpu_s: float) -> None:
        """One run's CPU time (seconds, all threads that worked for it); the first run is start-up."""
        self._runs += 1
        if self._runs == 1:
            return
        self.cost = cpu_s if self._runs == 2 else (self.cost + cpu_s) / 2

    def interval(self, wanted: float) -> float:
        """Seconds until the next run: ``wanted``, stretched when runs cost more than the budget allows."""
        if self.budget <= 0 or wanted <= 0:
            return wanted
        return max(wanted, self.cost / self.budget)

    def stretched(self, wanted: float) -> bool:
        """The budget, not ``wanted``, sets the interval now."""
        return self.interval(wanted) > wanted
