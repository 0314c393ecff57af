"""Programs on the real kernel: a BCC module of small programs with known map accesses (one per way of
writing a map), checked through the kernel layer (writers and readers from the translated instructions,
full names past 15 characters, attach points, owners, run stats only while BPF_ENABLE_STATS is held) and
through the CLI (``progs --json``, ``list --json`` programs, ``show --json`` writers/readers).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers import cli_json, needs_root

from mapexplorer.demo_bpf.loader import ATTACH_XDP, BccUnavailable, import_bcc
from mapexplorer.kernel import maps, programs, progs
from mapexplorer.kernel.progs import link_create

pytestmark = [needs_root, pytest.mark.kernel, pytest.mark.bcc]

SOURCE = r"""
BPF_HASH(pg_w_hash, u32, u64, 16);
BPF_PERCPU_HASH(pg_w_pcpu, u32, u64, 16);
BPF_RINGBUF_OUTPUT(pg_w_rb_out, 4);
BPF_RINGBUF_OUTPUT(pg_w_rb_rsv, 4);
BPF_PERF_OUTPUT(pg_w_perf);
BPF_QUEUE(pg_w_queue, u64, 8);
BPF_ARRAY(pg_r_only, u64, 4);
BPF_ARRAY(pg_inplace, u64, 4);

int pg_hash_writer_long(void *ctx) {
    u32 k = 1, k2 = 2;
    u64 v = bpf_ktime_get_ns();
    pg_w_hash.update(&k, &v);
    pg_w_hash.delete(&k2);
    return 0;
}

int pg_percpu_writer_long(void *ctx) {
    u32 k = 0;
    u64 one = 1;
    pg_w_pcpu.update(&k, &one);
    return 0;
}

int pg_ringbuf_output_prog(void *ctx) {
    u64 v = 1;
    pg_w_rb_out.ringbuf_output(&v, sizeof(v), 0);
    return 0;
}

int pg_ringbuf_reserve_submit(void *ctx) {
    u64 *e = pg_w_rb_rsv.ringbuf_reserve(sizeof(u64));
    if (!e)
        return 0;
    *e = 7;
    pg_w_rb_rsv.ringbuf_submit(e, 0);
    return 0;
}

int pg_perf_output_prog(void *ctx) {
    u64 v = 3;
    pg_w_perf.perf_submit(ctx, &v, sizeof(v));
    return 0;
}

int pg_queue_pusher_long(void *ctx) {
    u64 v = 5;
    pg_w_queue.push(&v, 0);
    return 0;
}

int pg_array_reader_only(void *ctx) {
    u32 k = 0, out = 9;
    u64 *v = pg_r_only.lookup(&k);
    u64 s = v ? *v : 0;
    pg_w_hash.update(&out, &s);
    return 0;
}

int pg_inplace_incr_long(void *ctx) {
    u32 k = 1;
    u64 *v = pg_inplace.lookup(&k);
    if (v)
        __sync_fetch_and_add(v, 1);
    return 0;
}

int pg_xdp_pass_prog(struct xdp_md *ctx) {
    return XDP_PASS;
}
"""

TRACEPOINT_PROGS = (
    "pg_hash_writer_long",
    "pg_percpu_writer_long",
    "pg_ringbuf_output_prog",
    "pg_ringbuf_reserve_submit",
    "pg_perf_output_prog",
    "pg_queue_pusher_long",
    "pg_array_reader_only",
    "pg_inplace_incr_long",
)
ATTACHED = "pg_perf_output_prog"  # on syscalls:sys_enter_getppid
MAP_NAMES = ("pg_w_hash", "pg_w_pcpu", "pg_w_rb_out", "pg_w_rb_rsv", "pg_w_perf", "pg_w_queue")
MAP_NAMES += ("pg_r_only", "pg_inplace")


@dataclass
class Loaded:
    bpf: object
    prog_ids: dict[str, int]
    map_ids: dict[str, int]


@pytest.fixture(scope="module")
def loaded() -> Iterator[Loaded]:
    try:
        bcc = import_bcc()
    except BccUnavailable as exc:
        pytest.skip(str(exc))
    b = bcc.BPF(text=SOURCE.encode())
    try:
        prog_ids = {}
        for name in TRACEPOINT_PROGS:
            fn = b.load_func(name.encode(), bcc.BPF.TRACEPOINT)
            prog_ids[name] = progs.prog_info(fn.fd).id
        b.attach_tracepoint(tp=b"syscalls:sys_enter_getppid", fn_name=ATTACHED.encode())
        map_ids = {n: maps.map_info(b.get_table(n.encode()).map_fd).id for n in MAP_NAMES}
        yield Loaded(b, prog_ids, map_ids)
    finally:
        b.cleanup()


def _names(users: tuple) -> set[str]:
    return {r.name for r, _ in users}


@pytest.mark.parametrize(
    ("map_name", "writers", "readers"),
    [
        ("pg_w_hash", {"pg_hash_writer_long", "pg_array_reader_only"}, set()),
        ("pg_w_pcpu", {"pg_percpu_writer_long"}, set()),
        ("pg_w_rb_out", {"pg_ringbuf_output_prog"}, set()),
        ("pg_w_rb_rsv", {"pg_ringbuf_reserve_submit"}, set()),
        ("pg_w_perf", {"pg_perf_output_prog"}, set()),
        ("pg_w_queue", {"pg_queue_pusher_long"}, set()),
        ("pg_r_only", set(), {"pg_array_reader_only"}),
        ("pg_inplace", {"pg_inplace_incr_long"}, {"pg_inplace_incr_long"}),
    ],
)
def test_writers_and_readers_of_each_map(loaded, map_name, writers, readers):
    users = programs.ProgCatalog().map_users(loaded.map_ids[map_name])
    assert _names(users.writers) == writers
    assert _names(users.readers) == readers
    assert users.unknown == ()


def test_store_through_a_looked_up_value_is_a_probable_write(loaded):
    users = programs.ProgCatalog().map_users(loaded.map_ids["pg_inplace"])
    ((_, access),) = users.writers
    assert (access.write, access.probable_write, access.mode) == (False, True, "rw?")
    # a definite write stays definite
    ((_, out_access),) = programs.ProgCatalog().map_users(loaded.map_ids["pg_w_rb_out"]).writers
    assert (out_access.write, out_access.mode) == (True, "w")


def test_full_names_past_fifteen_characters(loaded):
    cat = programs.ProgCatalog()
    records = {r.id: r for r in cat.collect(list(loaded.prog_ids.values()))}
    for name, pid in loaded.prog_ids.items():
        assert len(name) > 15
        rec = records[pid]
        assert rec.info.name == name[:15]  # what the kernel keeps
        assert rec.name == name
    assert progs.full_name_by_id(loaded.prog_ids["pg_queue_pusher_long"]) == "pg_queue_pusher_long"


def test_prog_facts_attach_point_and_owner(loaded):
    (rec,) = programs.ProgCatalog().collect([loaded.prog_ids[ATTACHED]])
    assert rec.attach == ("tracepoint syscalls:sys_enter_getppid",)
    assert os.getpid() in {o.pid for o in rec.owners}
    i = rec.info
    assert i.type_name == "tracepoint"
    assert i.verified_insns > 0 and i.jited_len > 0 and i.xlated_len % 8 == 0
    assert rec.memlock > 0
    assert abs(i.loaded_at() - _boot_wall(i.load_time_ns)) < 1.0
    assert [(a.map_id, a.mode) for a in rec.maps.maps] == [(loaded.map_ids["pg_w_perf"], "w")]


def _boot_wall(boot_ns: int) -> float:
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.time() - uptime + boot_ns / 1e9


def _run_cnt(prog_id: int) -> int:
    return progs.prog_info_by_id(prog_id, with_maps=False).run_cnt


def _stats_fds(pid: int | None = None) -> int:
    """How many BPF_ENABLE_STATS fds a process holds (ours by default)."""
    fd_dir = f"/proc/{pid or os.getpid()}/fd"
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            count += os.readlink(f"{fd_dir}/{fd}") == "anon_inode:bpf-stats"
        except OSError:
            continue
    return count


def _others_hold_stats() -> bool:
    """Another process (another tool or test on this machine) keeps run statistics on."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if _stats_fds(int(entry)):
                    return True
            except OSError:
                continue
    return False


def _assert_not_counting(prog_id: int) -> None:
    """Runs are not counted any more: checked on run_cnt unless another process holds statistics on
    (then only our own stats fd being closed can be checked, which the caller does)."""
    if _others_hold_stats():
        return
    stopped = _run_cnt(prog_id)
    for _ in range(50):
        os.getppid()
    if _others_hold_stats():
        return  # someone turned them on meanwhile
    assert _run_cnt(prog_id) == stopped


def test_run_stats_count_only_while_the_stats_fd_is_open(loaded):
    pid = loaded.prog_ids[ATTACHED]
    before = _run_cnt(pid)
    with progs.StatsSession() as stats:
        assert stats.active and _stats_fds() == 1
        for _ in range(50):
            os.getppid()
        during = _run_cnt(pid)
        assert during >= before + 50
        assert progs.run_stats()[pid].run_time_ns > 0
    assert not stats.active and _stats_fds() == 0
    _assert_not_counting(pid)


@contextlib.contextmanager
def _veth() -> Iterator[int]:
    name = f"pg_v{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        with open(f"/sys/class/net/{name}/ifindex") as f:
            yield int(f.read())
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def test_xdp_link_attach_point_names_interface_and_mode(loaded):
    bcc = import_bcc()
    fn = loaded.bpf.load_func(b"pg_xdp_pass_prog", bcc.BPF.XDP)
    pid = progs.prog_info(fn.fd).id
    with _veth() as ifindex:
        link = link_create(fn.fd, ifindex, ATTACH_XDP)
        try:
            (rec,) = programs.ProgCatalog().collect([pid])
            assert rec.attach == (f"xdp {socket.if_indextoname(ifindex)} (driver)",)
        finally:
            os.close(link)


def test_cli_progs_list_and_show(loaded):
    out = {p["id"]: p for p in cli_json("progs")}
    pid = loaded.prog_ids["pg_ringbuf_reserve_submit"]
    assert out[pid]["name"] == "pg_ringbuf_reserve_submit"
    assert out[pid]["kernel_name"] == "pg_ringbuf_rese"
    rb = loaded.map_ids["pg_w_rb_rsv"]
    expected = {"id": rb, "access": "w", "read": False, "write": True, "probable_write": False}
    assert out[pid]["maps"] == [expected]

    listed = {m["id"]: m for m in cli_json("list")}
    hash_id = loaded.map_ids["pg_w_hash"]
    writer_ids = {loaded.prog_ids["pg_hash_writer_long"], loaded.prog_ids["pg_array_reader_only"]}
    assert set(listed[hash_id]["progs"]) == writer_ids  # the old field stays: ids
    assert {(p["id"], p["name"], p["type"]) for p in listed[hash_id]["programs"]} == {
        (loaded.prog_ids[n], n, "tracepoint") for n in ("pg_hash_writer_long", "pg_array_reader_only")
    }

    shown = cli_json("show", str(loaded.map_ids["pg_r_only"]))
    assert shown["writers"] == []
    assert [(p["id"], p["name"]) for p in shown["readers"]] == [
        (loaded.prog_ids["pg_array_reader_only"], "pg_array_reader_only")
    ]


async def test_programs_screen_turns_stats_on_only_while_it_shows(loaded):
    from mapexplorer.app import make_app
    from mapexplorer.screens.programs import ProgramsScreen
    from mapexplorer.widgets.row_table import RowTable
    from tests.ui.helpers import press, settle

    pid = loaded.prog_ids[ATTACHED]
    app = make_app(refresh=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "P")
        screen = app.screen
        assert isinstance(screen, ProgramsScreen)
        assert screen.snapshot is not None and screen.snapshot.stats_on
        table = screen.query_one("#progs", RowTable)
        assert table.cell(str(pid), "name") == ATTACHED  # full name, past 15 characters
        assert _stats_fds() == 1  # held while the screen shows
        before = _run_cnt(pid)
        for _ in range(20):
            os.getppid()
        assert _run_cnt(pid) >= before + 20
        await press(pilot, "r")
        assert table.cell(str(pid), "runs") != "\u2013"
        await press(pilot, "escape")
        await settle(pilot)
        assert _stats_fds() == 0  # closed again with the screen
        _assert_not_counting(pid)
        await press(pilot, "P")  # back on: the header says so
        assert _stats_fds() == 1 and app.screen.snapshot.stats_on
    assert _stats_fds() == 0  # and off when the app exits


def test_kernel_source_rows_carry_writers_and_readers(loaded):
    from mapexplorer.kernel_source import KernelSource

    source = KernelSource()
    try:
        listing = source.list_maps()
        while listing.partial:  # the quick first listings name no programs yet; the full one does
            listing = source.list_maps()
        assert not listing.partial
        rows = {r.id: r for r in listing.rows}
        rsv = rows[loaded.map_ids["pg_w_rb_rsv"]]
        assert rsv.users.writers == ("pg_ringbuf_reserve_submit",)  # full name: the header says it
        assert rsv.users.text() == "written by pg_ringbuf_reserve_submit"
        ro = rows[loaded.map_ids["pg_r_only"]]
        assert (ro.users.writers, ro.users.readers) == ((), ("pg_array_reader_only",))
        inplace = rows[loaded.map_ids["pg_inplace"]]
        assert inplace.users.writers == ("pg_inplace_incr_long (probably)",)
    finally:
        source.close()
