"""Entry counts from the BPF iterator and the per-map Counter, on real maps the test creates."""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import time

import pytest
from helpers import needs_root, ringbuf_writer

from mapexplorer.kernel import counts, health, maps, progs

pytestmark = needs_root

HASH_TYPES = ["hash", "lru_hash", "percpu_hash", "lru_percpu_hash", "hash_of_maps"]


def _fill(m: maps.Map, n: int, value: bytes) -> None:
    """Insert keys 0..n-1 with one batch update per 50k keys."""
    step = 50_000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        keys = b"".join(struct.pack("<I", k) for k in range(lo, hi))
        m.update_batch(keys, value * (hi - lo), hi - lo)


@pytest.fixture
def inner(new_map):
    return new_map("array", 4, 4, 1, name="hl_inner")


def _make(new_map, inner, type_name: str, max_entries: int) -> tuple[maps.Map, bytes]:
    if type_name == "hash_of_maps":
        m = new_map(type_name, 4, 4, max_entries, name="hl_cnt_hom", inner_map_fd=inner.fd)
        return m, struct.pack("<I", inner.fd)
    m = new_map(type_name, 4, 8, max_entries, name=f"hl_cnt_{type_name[:8]}")
    return m, bytes(m.info.value_stride)


@pytest.mark.parametrize("n", [0, 1, 100_000])
@pytest.mark.parametrize("type_name", HASH_TYPES)
def test_iterator_count_equals_a_full_read(new_map, inner, type_name, n):
    # LRU maps may evict before max_entries (per-CPU free lists): leave them room
    m, value = _make(new_map, inner, type_name, max(2 * n, 16))
    _fill(m, n, value)
    full_read = sum(c.count for c in m.read_chunks())
    got = counts.entry_counts()[m.info.id]
    assert got == full_read
    if type_name not in health.LRU_TYPES:
        assert got == n
    else:
        assert n * 0.9 <= got <= n


def test_iterator_sees_every_map_and_arrays_read_zero(new_map):
    a = new_map("array", 4, 8, 64, name="hl_cnt_array")
    h = new_map("hash", 4, 8, 64, name="hl_cnt_hash")
    h.update(struct.pack("<I", 1), bytes(8))
    got = counts.entry_counts()
    assert got[a.info.id] == 0  # the kfunc does not count arrays: health counts them as max_entries
    assert got[h.info.id] == 1
    assert counts.unavailable_reason() is None


def _my_prog_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the fd listdir itself used
            n += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-prog"
    return n


def test_program_loaded_once_and_reused(new_map):
    counts.entry_counts()
    first = counts._load()
    held = _my_prog_fds()
    for _ in range(5):
        counts.entry_counts()
    assert counts._load() is first
    assert _my_prog_fds() == held  # reads load no new program and leak no fd
    assert progs.prog_info(first.prog_fd).name == counts.PROG_NAME


def test_counts_stay_right_while_a_writer_adds_and_deletes(new_map):
    m = new_map("hash", 4, 8, 4096, name="hl_cnt_churn")
    window = 100
    for k in range(window):
        m.update(struct.pack("<I", k), bytes(8))
    stop = threading.Event()
    ops = [0]

    def writer() -> None:
        k = window
        while not stop.is_set():
            m.update(struct.pack("<I", k), bytes(8))  # size window + 1
            m.delete(struct.pack("<I", k - window))  # back to window
            k += 1
        ops[0] = k - window

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            seen.append(counts.entry_counts()[m.info.id])
    finally:
        stop.set()
        t.join()
    assert ops[0] > 100 and len(seen) > 10
    # per-CPU counters summed while one insert or delete is in flight: off by at most one op
    assert all(window - 1 <= c <= window + 2 for c in seen), sorted(set(seen))
    assert counts.entry_counts()[m.info.id] == sum(c.count for c in m.read_chunks()) == window


def test_counter_methods_per_type(new_map):
    h = new_map("lru_hash", 4, 8, 100, name="hl_cnt_lru")
    for k in range(90):
        h.update(struct.pack("<I", k), bytes(8))
    a = new_map("percpu_array", 4, 8, 10, name="hl_cnt_pcarr")
    q = new_map("queue", 0, 8, 10, name="hl_cnt_queue")
    got = health.Counter().count([h.info, a.info, q.info])
    assert got[h.info.id] == health.EntryCount(90, health.ITERATOR, 0.9)
    assert got[a.info.id] == health.EntryCount(10, health.SIZE, 1.0)
    assert got[q.info.id].entries is None and got[q.info.id].entries_text() == "-"


def test_fallback_reads_respect_the_budget(new_map):
    t = new_map("lpm_trie", 8, 8, 100, name="hl_cnt_lpm", flags=maps.sc.BPF_F_NO_PREALLOC)
    for i in range(5):
        t.update(struct.pack("<I4B", 32, 10, 0, 0, i), bytes(8))
    now = [1000.0]
    c = health.Counter(clock=lambda: now[0], read_budget_s=10.0)
    assert c.count([t.info], reads=False)[t.info.id].entries_text() == "counting"
    first = c.count([t.info])[t.info.id]
    assert (first.entries, first.approx, first.fill) == (5, False, 0.05)
    t.update(struct.pack("<I4B", 32, 10, 0, 0, 9), bytes(8))
    now[0] += 1.0  # within min_interval: not read again, the old count is shown as approximate
    again = c.count([t.info])[t.info.id]
    assert (again.entries, again.approx, again.entries_text()) == (5, True, "~5")
    now[0] += c.min_interval
    assert c.count([t.info])[t.info.id].entries == 6


def test_big_maps_are_not_walked_more_often_than_every_30_s(new_map):
    m = new_map("hash", 4, 8, 150_000, name="hl_cnt_big")
    _fill(m, 120_000, bytes(8))
    now = [0.0]
    c = health.Counter(use_iterator=False, clock=lambda: now[0], read_budget_s=100.0, read_rate=10**9)
    assert c.count([m.info])[m.info.id].entries == 120_000
    assert c.reason == "iterator disabled"
    now[0] += 29.0
    assert c.count([m.info])[m.info.id].approx
    now[0] += 1.5
    assert not c.count([m.info])[m.info.id].approx


def test_ringbuf_backlog_is_its_fill(new_map):
    size = os.sysconf("SC_PAGE_SIZE")
    rb = new_map("ringbuf", 0, 0, size, name="hl_cnt_rb")
    prog = ringbuf_writer(rb.fd)
    try:
        for _ in range(size // 16 * 3 // 4):  # 16 bytes per record (8 header + 8 data): 75 %
            progs.run_once(prog, struct.pack("<Q", 0))
    finally:
        os.close(prog)
    got = health.Counter().count([rb.info])[rb.info.id]
    assert got.backlog == size // 16 * 3 // 4 * 16
    assert got.fill == pytest.approx(0.75)
    assert got.method == health.BACKLOG
