"""The ctypes kernel layer on real maps the test creates: reads agree with what was written."""

from __future__ import annotations

import errno
import os
import struct

import pytest
from helpers import needs_root

from mapexplorer.kernel import maps
from mapexplorer.kernel.progs import all_progs

pytestmark = needs_root


def test_hash_batch_read_returns_every_entry(new_map):
    m = new_map("hash", 4, 8, 5000)
    want = {struct.pack("<I", i): struct.pack("<Q", i * 3 + 1) for i in range(3000)}
    for k, v in want.items():
        m.update(k, v)
    chunks = list(m.read_chunks(chunk=256))
    assert len(chunks) > 1  # several batch calls were needed
    assert dict(m.entries()) == want


def test_info_matches_creation(new_map):
    m = new_map("lru_hash", 8, 16, 128, name="test_info")
    i = m.info
    assert (i.type_name, i.key_size, i.value_size, i.max_entries, i.name) == (
        "lru_hash",
        8,
        16,
        128,
        "test_info",
    )
    assert i.memlock > 0 and not i.frozen
    again = maps.map_info_by_id(i.id)
    assert again == i


def test_array_reads_all_slots(new_map):
    m = new_map("array", 4, 4, 10)
    m.update(struct.pack("<I", 7), struct.pack("<I", 99))
    got = dict(m.entries())
    assert len(got) == 10
    assert got[struct.pack("<I", 7)] == struct.pack("<I", 99)
    assert got[struct.pack("<I", 0)] == b"\0" * 4


def test_percpu_values_span_possible_cpus(new_map):
    ncpu = maps.possible_cpu_count()
    m = new_map("percpu_array", 4, 4, 3)
    stride = maps.round_up8(4)
    per_cpu = b"".join(struct.pack("<I", 100 + c).ljust(stride, b"\0") for c in range(ncpu))
    m.update(struct.pack("<I", 1), per_cpu)
    assert m.info.value_stride == stride * ncpu
    assert dict(m.entries())[struct.pack("<I", 1)] == per_cpu


def test_percpu_hash(new_map):
    ncpu = maps.possible_cpu_count()
    m = new_map("percpu_hash", 4, 12, 8)
    value = b"".join(bytes([c + 1] * 12) + b"\0" * 4 for c in range(ncpu))
    m.update(struct.pack("<I", 5), value)
    assert list(m.entries()) == [(struct.pack("<I", 5), value)]


def test_lpm_trie_uses_next_key_fallback(new_map):
    m = new_map("lpm_trie", 8, 4, 16, flags=maps.sc.BPF_F_NO_PREALLOC)
    routes = {struct.pack("<I4B", 24, 10, 1, 2, 0): 1, struct.pack("<I4B", 16, 192, 168, 0, 0): 2}
    for k, v in routes.items():
        m.update(k, struct.pack("<I", v))
    assert {k: struct.unpack("<I", v)[0] for k, v in m.entries()} == routes


def test_queue_peek_does_not_pop(new_map):
    m = new_map("queue", 0, 4, 8)
    assert m.peek() is None
    for v in (11, 22):
        m.update(None, struct.pack("<I", v))
    assert m.peek() == struct.pack("<I", 11)
    assert m.peek() == struct.pack("<I", 11)  # still there


def test_ringbuf_cannot_be_iterated(new_map):
    m = new_map("ringbuf", 0, 0, 4096)
    with pytest.raises(OSError) as exc:
        list(m.read_chunks())
    assert exc.value.errno == errno.EOPNOTSUPP


def test_hash_of_maps_values_are_inner_ids(new_map):
    inner = new_map("array", 4, 4, 1, name="test_inner")
    outer = new_map("hash_of_maps", 4, 4, 4, inner_map_fd=inner.fd)
    outer.update(struct.pack("<I", 9), struct.pack("<I", inner.fd))
    assert list(outer.entries()) == [(struct.pack("<I", 9), struct.pack("<I", inner.info.id))]


def test_missing_map_is_file_not_found():
    with pytest.raises(FileNotFoundError):
        maps.open_map(0xFFFFFFF0)


def test_map_ids_include_ours(new_map):
    m = new_map("hash", 4, 4, 4)
    assert m.info.id in set(maps.map_ids())


def test_entry_deleted_during_next_key_iteration_is_skipped(new_map):
    m = new_map("lpm_trie", 8, 4, 16, flags=maps.sc.BPF_F_NO_PREALLOC)
    keys = [struct.pack("<I4B", 32, 10, 0, 0, i) for i in range(6)]
    for k in keys:
        m.update(k, struct.pack("<I", 1))
    seen = []
    it = m._read_next_key(chunk=1)  # one entry per chunk so we can delete mid-way
    seen.extend(next(it).keys for _ in range(2))
    for k in keys:
        if k not in seen:
            m.delete(k)
            break
    seen.extend(c.keys for c in it)
    assert len(seen) == len(set(seen)) == 5


def test_fd_keeps_map_alive_after_creator_closes(new_map):
    m = new_map("hash", 4, 4, 16)
    m.update(b"\1\0\0\0", b"\2\0\0\0")
    reader = maps.Map.open(m.info.id)
    try:
        os.close(m.fd)
        m.fd = -1
        assert list(reader.entries()) == [(b"\1\0\0\0", b"\2\0\0\0")]
    finally:
        reader.close()


def test_prog_listing_does_not_fail():
    for p in all_progs():
        assert p.id > 0 and p.type_name
