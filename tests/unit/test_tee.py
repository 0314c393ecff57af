"""kernel.tee: a reader in this process shares its records with subscribers (threads, no bpf())."""

from __future__ import annotations

import threading
import time

import pytest

from mapexplorer.kernel import tee


def test_feed_without_subscribers_keeps_nothing() -> None:
    t = tee.StreamTee(7, "the demo")
    assert not t.active
    t.feed(0, b"x")
    assert t.fed == 0
    r = t.subscribe()
    assert t.active and r.read() == []  # what came before subscribing is not replayed


def test_every_subscriber_gets_every_record_in_order_across_threads() -> None:
    t = tee.StreamTee(7, "the demo")
    a, b = t.subscribe(), t.subscribe()
    n = 20000

    def owner() -> None:
        for i in range(n):
            t.feed(i % 2, i.to_bytes(4, "little"))

    th = threading.Thread(target=owner)
    th.start()
    got: list[tuple[int | None, bytes]] = []
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        if a.wait(0.1):
            got += a.read()
    th.join()
    assert [int.from_bytes(raw, "little") for _, raw in got] == list(range(n))
    assert [cpu for cpu, _ in got[:4]] == [0, 1, 0, 1]
    assert len(b.read()) == n and a.dropped == b.dropped == 0
    assert t.fed == n


def test_a_lagging_subscriber_drops_its_oldest_and_counts_them() -> None:
    t = tee.StreamTee(7, "the demo")
    r = t.subscribe(capacity=3)
    for i in range(5):
        t.feed(None, bytes([i]))
    assert r.read() == [(None, b"\x02"), (None, b"\x03"), (None, b"\x04")]
    assert r.dropped == 2


def test_lost_reports_reach_subscribers_and_close_unsubscribes() -> None:
    t = tee.StreamTee(7, "the demo")
    r = t.subscribe()
    t.report_lost(5)
    assert r.lost == 5
    r.close()
    assert not t.active
    t.feed(1, b"z")
    assert r.read() == []


def test_wait_times_out_and_wakes_on_feed() -> None:
    t = tee.StreamTee(7, "the demo")
    r = t.subscribe()
    t0 = time.monotonic()
    assert r.wait(0.05) is False
    assert time.monotonic() - t0 >= 0.04
    threading.Timer(0.05, t.feed, (0, b"a")).start()
    assert r.wait(5.0) is True
    assert r.read() == [(0, b"a")]


def test_the_owner_stopping_ends_the_stream_after_what_was_queued() -> None:
    t = tee.share(4242, "the demo")
    try:
        assert tee.shared(4242) is t
        r = t.subscribe()
        t.feed(0, b"last")
    finally:
        tee.unshare(t)
    assert tee.shared(4242) is None
    assert r.wait(0.0)
    assert r.read() == [(0, b"last")]
    with pytest.raises(EOFError, match="stopped by its owner"):
        r.read()


def test_unshare_leaves_a_newer_registration_alone() -> None:
    old = tee.share(4243, "old")
    new = tee.share(4243, "new")
    tee.unshare(old)
    assert tee.shared(4243) is new
    tee.unshare(new)
    assert tee.shared(4243) is None
