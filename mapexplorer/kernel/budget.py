"""Run an expensive kernel read at most as often as a CPU budget allows, serving the last result
in between: how a live UI keeps facts that rarely change (which processes hold which maps) without
walking every process's fds every second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Throttled(Generic[T]):
    """``get()`` calls ``fn`` when due, else returns its last result.

    A call is due ``max(min_interval, elapsed / cpu_share)`` seconds after the previous one finished,
    ``elapsed`` being how long that call took: a read costing 20 ms with ``cpu_share`` 0.01 runs at
    most every 2 s (and never more often than ``min_interval``). Thread-safe.
    """

    def __init__(self, fn: Callable[[], T], *, min_interval: float, cpu_share: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fn = fn
        self.min_interval = min_interval
        self.cpu_share = cpu_share
        self.clock = clock
        self._value: T | None = None
        self._due = 0.0
        self._have = False
        self._lock = threading.Lock()

    def get(self) -> T:
        with self._lock:
            if not self._have or self.clock() >= self._due:
                t0 = time.perf_counter()
                self._value = self.fn()
                elapsed = time.perf_counter() - t0
                self._have = True
                self._due = self.clock() + max(self.min_interval, elapsed / self.cpu_share)
            return self._value  # type: ignore[return-value]

    def invalidate(self) -> None:
        """Make the next ``get()`` call ``fn`` again."""
        with self._lock:
            self._due = 0.0
