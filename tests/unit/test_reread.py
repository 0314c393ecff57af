"""Reread: a big map's full re-read sliced to fit the CPU budget, from measured read rates (fake costs)."""

from __future__ import annotations

from pytest import approx

from mapexplorer.reread import FIRST_RATE, MIN_SLICE, UNLIMITED, Reread


class _Pass:
    def __init__(self, count: int = 0) -> None:
        self.count = count
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_slices_follow_the_measured_rate_and_the_budget() -> None:
    r = Reread(budget=0.05, share=0.8)
    assert r.slice_entries(1.0) == int(FIRST_RATE * 0.05 * 0.8)  # before anything is measured
    r.record(300_000, 0.1)  # 3 M entries per CPU second
    assert r.rate == approx(3e6)
    assert r.slice_entries(1.0) == 120_000  # 3 M/s x 5 % x 0.8 x 1 s
    assert r.slice_entries(2.0) == 240_000
    assert r.every(10_000_000, 1.0) == 84.0  # ceil(10 M / 120,000) slices, one a second
    r.record(100_000, 0.1)  # slower now: smoothed halfway
    assert r.rate == approx(2e6)
    r.record(0, 0.0)  # nothing read: nothing learnt
    assert r.rate == approx(2e6)
    assert Reread(budget=0.0001).slice_entries(1.0) == MIN_SLICE  # at least one batch
    assert Reread(budget=0).slice_entries(1.0) == UNLIMITED  # --budget 0: in one go
    assert Reread().slice_entries(0) == UNLIMITED  # manual refresh: in one go


def test_the_pass_in_progress() -> None:
    r = Reread()
    assert r.current is None and r.progress(100) is None
    a, b = _Pass(25), _Pass()
    r.start(a)
    assert r.current is a and r.progress(100) == approx(0.25)
    r.start(b)  # a new pass replaces (and closes) the old one
    assert a.closed and r.current is b
    r.finish(b)
    assert r.current is None and r.passes == 1 and not b.closed
    r.start(a)
    r.abandon()
    assert r.current is None and r.passes == 1
