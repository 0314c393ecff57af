"""``doctor``, ``list`` and ``show`` health facts on real maps the test creates (hl_* names and pins).

Other engineers' maps may be on the box too: assertions look only at findings about our map ids.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import threading

import pytest
from helpers import needs_root, ringbuf_writer, run_cli

from mapexplorer import doctor
from mapexplorer.kernel import maps, perf, progs

pytestmark = needs_root


def _fill(m: maps.Map, n: int) -> None:
    for k in range(n):
        m.update(struct.pack("<I", k), struct.pack("<Q", k))


def _doctor(*args: str) -> tuple[int, dict]:
    proc = run_cli("doctor", "--json", "--sample", "0", *args, check=False)
    assert proc.returncode in (0, 3, 4), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _about(report: dict, map_id: int) -> list[dict]:
    return [f for f in report["findings"] if map_id in f["maps"]]


def test_hash_at_90_percent_is_a_warning_and_full_hash_an_error(new_map):
    ninety = new_map("hash", 4, 8, 100, name="hl_dr_ninety")
    _fill(ninety, 90)
    full = new_map("hash", 4, 8, 50, name="hl_dr_full")
    _fill(full, 50)
    with pytest.raises(OSError) as exc:
        full.update(struct.pack("<I", 999), bytes(8))
    assert exc.value.errno == errno.E2BIG
    status, report = _doctor()
    assert status == 4
    (warn,) = _about(report, ninety.info.id)
    assert (warn["severity"], warn["kind"]) == ("warning", "nearly-full")
    assert "90 of 100 entries (90 %)" in warn["message"]
    (err,) = _about(report, full.info.id)
    assert (err["severity"], err["kind"]) == ("error", "full")
    assert "E2BIG" in err["message"] and "hl_dr_full" in err["message"]
    text = run_cli("doctor", "--sample", "0", check=False)
    assert text.returncode == 4
    assert f"map {full.info.id} (hash hl_dr_full): full" in text.stdout


def test_list_and_show_report_entries_fill_and_memlock(new_map):
    m = new_map("hash", 4, 8, 100, name="hl_dr_list")
    _fill(m, 90)
    rows = {r["id"]: r for r in json.loads(run_cli("list", "--json").stdout)}
    row = rows[m.info.id]
    assert (row["entries"], row["fill"], row["count_method"]) == (90, 0.9, "iterator")
    assert row["memlock"] == m.info.memlock > 0
    shown = json.loads(run_cli("show", str(m.info.id), "--json").stdout)
    assert (shown["entries"], shown["fill"], shown["iterator_unavailable"]) == (90, 0.9, None)
    text = run_cli("show", str(m.info.id)).stdout
    assert "entries 90  fill 90.0%  (counted by the kernel (BPF iterator))" in text
    table = run_cli("list", env={**os.environ, "COLUMNS": "1000"}).stdout.splitlines()  # no cell cut
    assert table[0].split()[5:8] == ["MAX", "ENTRIES", "FILL"]
    (line,) = [t for t in table if t.split()[0] == str(m.info.id)]
    assert line.split()[5:8] == ["100", "90", "90.0%"]


def test_two_maps_with_one_name(new_map):
    a = new_map("hash", 4, 8, 16, name="hl_dr_twin")
    b = new_map("array", 4, 8, 4, name="hl_dr_twin")
    _status, report = _doctor()
    (dup,) = [f for f in report["findings"] if f["kind"] == "duplicate-name" and a.info.id in f["maps"]]
    assert dup["maps"] == [a.info.id, b.info.id]
    assert "2 live maps are named 'hl_dr_twin'" in dup["message"]
    assert f"id {a.info.id}: used by no program" in dup["message"]
    assert f"held by python[{os.getpid()}]" in dup["message"] or "held by pytest" in dup["message"]


def test_pinned_orphan(new_map):
    path = f"/sys/fs/bpf/hl_orphan_{os.getpid()}"
    fd = maps.create_map(1, 4, 8, 8, name="hl_dr_orphan")
    try:
        map_id = maps.map_info(fd).id
        maps.obj_pin(fd, path)
        os.close(fd)
        fd = -1  # now only the pin holds it
        _status, report = _doctor()
        (orphan,) = _about(report, map_id)
        assert orphan["kind"] == "orphan-pin"
        assert path in orphan["message"] and f"rm {path}" in orphan["message"]
    finally:
        if fd >= 0:
            os.close(fd)
        if os.path.exists(path):
            os.unlink(path)


def test_ringbuf_with_backlog(new_map):
    size = os.sysconf("SC_PAGE_SIZE")
    rb = new_map("ringbuf", 0, 0, size, name="hl_dr_rb")
    prog = ringbuf_writer(rb.fd)
    try:
        for _ in range(size // 16 * 3 // 5):  # 60 % of the ring
            progs.run_once(prog, struct.pack("<Q", 0))
    finally:
        os.close(prog)
    _status, report = _doctor()
    (f,) = _about(report, rb.info.id)
    assert f["kind"] == "ringbuf-backlog" and "backlog at 60 %" in f["message"]
    row = {r["id"]: r for r in json.loads(run_cli("list", "--json").stdout)}[rb.info.id]
    assert row["count_method"] == "backlog" and row["backlog"] == size // 16 * 3 // 5 * 16


def test_perf_event_array_with_a_ring_on_one_cpu_only(new_map):
    cpus = perf.online_cpus()
    if len(cpus) < 2:
        pytest.skip("needs two online CPUs")
    m = new_map("perf_event_array", 4, 4, len(cpus), name="hl_dr_perf")
    ev = perf.open_bpf_output_event(cpus[0])
    try:
        # entries live as long as the map file that installed them: use the creating fd
        m.update(struct.pack("<I", cpus[0]), struct.pack("<I", ev))
        _status, report = _doctor()
    finally:
        os.close(ev)
    (f,) = _about(report, m.info.id)
    assert f["kind"] == "perf-rings-missing"
    assert f"no perf ring installed on CPU {','.join(map(str, cpus[1:]))}" in f["message"]


def test_percpu_array_moving_on_one_cpu_only(new_map):
    ncpu = maps.possible_cpu_count()
    online = perf.online_cpus()
    if len(online) < 2:
        pytest.skip("needs two online CPUs")
    m = new_map("percpu_array", 4, 8, 4, name="hl_dr_pcpu")
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            value = struct.pack("<Q", n) + bytes(8 * (ncpu - 1))  # only cpu 0 moves
            m.update(struct.pack("<I", 0), value)
            stop.wait(0.01)

    t = threading.Thread(target=writer)
    t.start()
    try:
        proc = run_cli("doctor", "--json", "--sample", "0.5", check=False)
    finally:
        stop.set()
        t.join()
    report = json.loads(proc.stdout)
    (f,) = _about(report, m.info.id)
    assert f["kind"] == "percpu-idle-cpus"
    assert "values move on CPU 0 but stay zero on CPU " + ",".join(map(str, online[1:])) in f["message"]


def test_memory_by_owner_pin_dir_and_name(new_map):
    inner = new_map("array", 4, 8, 64, name="hl_dr_inner")
    outer = new_map("array_of_maps", 4, 4, 2, name="hl_dr_outer", inner_map_fd=inner.fd)
    outer.update(struct.pack("<I", 0), struct.pack("<I", inner.fd))
    mine = f"[{os.getpid()}]"
    groups = json.loads(run_cli("list", "--by", "owner", "--json").stdout)
    (g,) = [g for g in groups if g["group"].endswith(mine)]
    assert {inner.info.id, outer.info.id} <= set(g["map_ids"])
    by_name = {g["group"]: g for g in json.loads(run_cli("list", "--by", "name", "--json").stdout)}
    # the map-of-maps counts with its inner map
    assert by_name["hl_dr_outer"]["map_ids"] == [inner.info.id, outer.info.id]
    assert by_name["hl_dr_outer"]["memlock"] == inner.info.memlock + outer.info.memlock
    assert by_name["hl_dr_inner"]["map_ids"] == [inner.info.id]
    dirs = json.loads(run_cli("list", "--by", "pin-dir", "--json").stdout)
    assert any(outer.info.id in g["map_ids"] for g in dirs if g["group"] == "(not pinned)")
    table = run_cli("list", "--by", "name").stdout
    assert table.splitlines()[0].split() == ["NAME", "MAPS", "ENTRIES", "MEMLOCK", "IDS"]


def test_exit_status_follows_the_worst_finding():
    w = doctor.Finding(doctor.WARNING, "x", (1,), "w")
    e = doctor.Finding(doctor.ERROR, "x", (2,), "e")
    assert [doctor.exit_status(f) for f in ([], [w], [w, e])] == [0, 3, 4]
