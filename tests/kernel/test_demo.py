"""The demo against the real kernel: every one of the 33 map types is created by one DemoSession and
the kernel layer (mapexplorer.kernel.maps) reads content from it, or the type's own view does
(peek, mmap positions, membership, fd-keyed lookups); after stop() none of the session's maps,
programs, links, veth, netns child or cgroup remains.

Only objects this session created are inspected (by id), so other tests running at the same time do
not matter.
"""

from __future__ import annotations

import ctypes
import itertools
import mmap
import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from mapexplorer.demo_bpf import CATALOG, DemoSession, DemoStatus
from mapexplorer.demo_bpf.catalog import host_support, kernel_map_types
from mapexplorer.demo_bpf.loader import BccUnavailable, import_bcc
from mapexplorer.kernel import maps as km
from mapexplorer.kernel import progs as kp
from mapexplorer.kernel import syscall as sc

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.bcc,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()"),
]

T = TypeVar("T")
PAGE = mmap.PAGESIZE


def eventually(probe: Callable[[], T | None], attempts: int = 100) -> T | None:
    """Poll ``probe`` until it returns something truthy (traffic-driven content needs a moment)."""
    for _ in range(attempts):
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    return None


@pytest.fixture(scope="module")
def session() -> Iterator[DemoSession]:
    s = DemoSession()
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def statuses(session: DemoSession) -> dict[str, DemoStatus]:
    return {st.type: st for st in session.summary}


def _bcc_ok() -> bool:
    try:
        import_bcc()
    except BccUnavailable:
        return False
    return True


def _entries(map_id: int) -> list[tuple[bytes, bytes]]:
    with km.Map.open(map_id) as m:
        return list(m.entries())


def _lookup_fd_keyed(session: DemoSession, map_id: int, name: str) -> bytes:
    fds = session.key_fds(name)
    assert fds, f"the session holds no key fd for {name}"
    with km.Map.open(map_id) as m:
        return m.lookup(struct.pack("<i", fds[0]))


def _mmap_pos(map_id: int, page: int) -> int:
    """The u64 at the start of page ``page`` of a ringbuf-like map (0: consumer, 1: producer).

    The kernel refuses to mmap a ringbuf through a read-only fd, even read-only: open for writing
    (this is the test's own demo map) and map read-only.
    """
    with (
        km.Map.open(map_id, write=True) as m,
        mmap.mmap(m.fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ, offset=page * PAGE) as mm,
    ):
        return struct.unpack_from("<Q", mm, 0)[0]


def _bloom_contains(map_id: int, value: bytes) -> bool:
    with km.Map.open(map_id) as m:
        buf = ctypes.create_string_buffer(value, len(value))
        attr = sc.MapElemAttr(map_fd=m.fd, key=0, value=ctypes.addressof(buf))
        try:
            sc.bpf(sc.BPF_MAP_LOOKUP_ELEM, attr)
        except FileNotFoundError:
            return False
        return True


# -- per-type checks: each returns nothing and asserts on content ---------------------------------


def check_iterable(session: DemoSession, st: DemoStatus) -> None:
    entries = eventually(lambda: _entries(st.map_id))
    assert entries, f"{st.map_name} has no entries"


def check_percpu(session: DemoSession, st: DemoStatus) -> None:
    entries = eventually(lambda: _entries(st.map_id))
    assert entries
    with km.Map.open(st.map_id) as m:
        stride = km.round_up8(m.info.value_size)
        ncpu = km.possible_cpu_count()
        assert all(len(v) == stride * ncpu for _k, v in entries)


def check_prog_array(session: DemoSession, st: DemoStatus) -> None:
    entries = _entries(st.map_id)
    prog_ids = {struct.unpack("<I", v)[0] for _k, v in entries}
    assert len(prog_ids) == 2 and all(kp.prog_info_by_id(p).type_name == "tracepoint" for p in prog_ids)


def check_map_of_maps(session: DemoSession, st: DemoStatus) -> None:
    entries = _entries(st.map_id)
    assert len(entries) == 4
    inner_ids = [struct.unpack("<I", v)[0] for _k, v in entries]
    names = {km.map_info_by_id(i).name for i in inner_ids}
    assert all(n.startswith("demo_") for n in names)


def check_lpm(session: DemoSession, st: DemoStatus) -> None:
    def hit() -> int:
        # struct route: nexthop[4] ifindex metric flags label[20] pad packets bytes
        return sum(struct.unpack_from("<Q", v, 40)[0] for _k, v in _entries(st.map_id))

    assert len(_entries(st.map_id)) == 11
    assert eventually(hit), "XDP counted no packet against the routes"


def check_sock(session: DemoSession, st: DemoStatus) -> None:
    entries = eventually(lambda: _entries(st.map_id))
    assert entries, f"{st.map_name}: no socket added by sock_ops"
    assert all(struct.unpack("<Q", v)[0] != 0 for _k, v in entries)  # socket cookies


def check_cgroup_storage(session: DemoSession, st: DemoStatus) -> None:
    entries = _entries(st.map_id)
    assert len(entries) == 2  # one per attach type (ingress, egress), keyed by the demo cgroup
    assert eventually(lambda: any(any(v) for _k, v in _entries(st.map_id))), "no traffic counted"


def check_peek(session: DemoSession, st: DemoStatus) -> None:
    with km.Map.open(st.map_id) as m:
        head = m.peek()
    assert head is not None and len(head) == m.info.value_size


def check_perf(session: DemoSession, st: DemoStatus) -> None:
    with km.Map.open(st.map_id) as m:
        assert m.next_key(None) == struct.pack("<I", 0)
    assert eventually(lambda: session.events_seen), "no perf/ringbuf event consumed"


def check_ringbuf(session: DemoSession, st: DemoStatus) -> None:
    assert eventually(lambda: _mmap_pos(st.map_id, 1)), "ringbuf producer position never moved"


def check_user_ringbuf(session: DemoSession, st: DemoStatus) -> None:
    assert _mmap_pos(st.map_id, 1) > 0  # producer position: records written from userspace


def check_bloom(session: DemoSession, st: DemoStatus) -> None:
    assert _bloom_contains(st.map_id, b"systemd".ljust(16, b"\0"))


def check_fd_keyed(session: DemoSession, st: DemoStatus) -> None:
    value = _lookup_fd_keyed(session, st.map_id, st.map_name)
    assert len(value) == km.map_info_by_id(st.map_id).value_size and any(value)


def check_struct_ops(session: DemoSession, st: DemoStatus) -> None:
    entries = _entries(st.map_id)
    assert len(entries) == 1
    with open("/proc/sys/net/ipv4/tcp_available_congestion_control") as f:
        available = f.read().split()
    assert any(name.encode() in entries[0][1] for name in available if name.startswith("dcc"))


def check_arena(session: DemoSession, st: DemoStatus) -> None:
    assert km.map_info_by_id(st.map_id).max_entries > 0
    assert session.arena_bytes(PAGE, 23) == b"mapexplorer demo arena:"
    assert "bpf_arena_alloc_pages" in st.how
    assert eventually(lambda: session.arena_pages_allocated), "the SYSCALL program allocated no page"


def check_keys_only(session: DemoSession, st: DemoStatus) -> None:
    with km.Map.open(st.map_id) as m:
        assert m.next_key(None) is not None
        chunks = list(m.read_chunks())
    assert sum(c.count for c in chunks) == m.info.max_entries


CHECKS: dict[str, Callable[[DemoSession, DemoStatus], None]] = {
    "hash": check_iterable,
    "array": check_iterable,
    "prog_array": check_prog_array,
    "perf_event_array": check_perf,
    "percpu_hash": check_percpu,
    "percpu_array": check_percpu,
    "stack_trace": check_iterable,
    "cgroup_array": check_keys_only,
    "lru_hash": check_iterable,
    "lru_percpu_hash": check_percpu,
    "lpm_trie": check_lpm,
    "array_of_maps": check_map_of_maps,
    "hash_of_maps": check_map_of_maps,
    "devmap": check_iterable,
    "sockmap": check_sock,
    "cpumap": check_iterable,
    "xskmap": check_keys_only,
    "sockhash": check_sock,
    "cgroup_storage": check_cgroup_storage,
    "reuseport_sockarray": check_sock,
    "percpu_cgroup_storage": check_cgroup_storage,
    "queue": check_peek,
    "stack": check_peek,
    "sk_storage": check_fd_keyed,
    "devmap_hash": check_iterable,
    "struct_ops": check_struct_ops,
    "ringbuf": check_ringbuf,
    "inode_storage": check_fd_keyed,
    "task_storage": check_fd_keyed,
    "bloom_filter": check_bloom,
    "user_ringbuf": check_user_ringbuf,
    "cgrp_storage": check_fd_keyed,
    "arena": check_arena,
}


def test_catalog_covers_33_types() -> None:
    assert len(CATALOG) == 33
    assert set(CHECKS) == {s.type for s in CATALOG}
    assert all(len(s.map_name) <= 15 and s.map_name.startswith("demo_") for s in CATALOG)


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.type)
def test_demo_map_has_content(session: DemoSession, statuses: dict[str, DemoStatus], spec) -> None:
    st = statuses[spec.type]
    supported, reason = host_support(spec, bcc_ok=_bcc_ok(), kernel_types=kernel_map_types())
    if not supported:
        pytest.skip(f"host cannot run the {spec.type} demo: {reason}")
    assert st.ok, f"{spec.type} demo skipped: {st.reason}"
    info = km.map_info_by_id(st.map_id)
    assert info.type_name == spec.type
    assert info.name == spec.map_name
    CHECKS[spec.type](session, st)


# Types whose maps the kernel creates without BTF only (map_check_no_btf / no key / no value): ENOTSUPP
# or EINVAL when given BTF on 6.18. Every other demo map carries BTF so the explorer decodes it.
NO_BTF_TYPES = frozenset({
    "array_of_maps", "hash_of_maps", "cgroup_array", "perf_event_array", "stack_trace", "devmap",
    "devmap_hash", "cpumap", "xskmap", "sockmap", "sockhash", "queue", "stack", "ringbuf", "user_ringbuf",
    "arena",
})


@pytest.mark.parametrize("spec", [s for s in CATALOG if s.type not in NO_BTF_TYPES], ids=lambda s: s.type)
def test_demo_map_has_btf(statuses: dict[str, DemoStatus], spec) -> None:
    st = statuses[spec.type]
    if not st.ok:
        pytest.skip(st.reason)
    info = km.map_info_by_id(st.map_id)
    assert info.btf_id
    assert info.btf_value_type_id or info.btf_vmlinux_value_type_id


def test_demo_histograms_are_detected_with_live_samples(session: DemoSession) -> None:
    """The syscall latency histogram (per syscall number) and the read-size histogram are recognised as
    histograms and fill up with samples."""
    from mapexplorer.codec import map_codec
    from mapexplorer.histread import hist_spec, read_hists

    ids = session.map_ids()
    for name, kind in (("demo_sys_lat_us", "struct_slot_key"), ("demo_read_log2", "slot_key")):
        if name not in ids:
            pytest.skip(f"no {name} on this host")
        with km.Map.open(ids[name]) as m:
            codec = map_codec(m.info)
            spec = hist_spec(codec)
            assert spec is not None and spec.kind == kind, name

            def filled(m=m, codec=codec, spec=spec):
                h = read_hists(m, codec, spec)
                return h if h.sum().total else None

            hists = eventually(filled)
            assert hists is not None, f"{name} has no samples"
            if kind == "struct_slot_key":
                assert spec.group_fields == ("nr",) and spec.unit == "usecs"
                assert len(hists.groups) > 1  # several syscall numbers
                assert hists.sum().percentiles() is not None


def test_event_struct_is_in_the_programs_btf(session: DemoSession) -> None:
    """struct demo_event (ringbuf/perf records) is reachable from a typed map, so streams decode."""
    from mapexplorer.btf import Btf
    from mapexplorer.kernel.btf_fetch import btf_by_id

    ids = session.map_ids()
    if "demo_last_event" not in ids:
        pytest.skip("no ringbuf/perf demo on this host")
    info = km.map_info_by_id(ids["demo_last_event"])
    blob = btf_by_id(info.btf_id).data
    btf = Btf.parse(blob)
    type_id = btf.find("demo_event", "struct")
    assert type_id == info.btf_value_type_id
    assert btf.type(type_id).size == 112


# -- cleanup ---------------------------------------------------------------------------------------


def _link_prog_ids() -> dict[int, int]:
    """link id -> prog id for every link in the kernel."""
    out: dict[int, int] = {}
    attr = sc.GetIdAttr()
    while True:
        try:
            sc.bpf(sc.BPF_LINK_GET_NEXT_ID, attr)
        except FileNotFoundError:
            return out
        link_id = attr.next_id
        attr.start_id = link_id
        try:
            fd = sc.bpf(sc.BPF_LINK_GET_FD_BY_ID, sc.GetIdAttr(start_id=link_id))
        except FileNotFoundError:
            continue
        try:
            info = sc.LinkInfoStruct()
            sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD,
                   sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info)))
            out[link_id] = info.prog_id
        finally:
            os.close(fd)


def test_stop_removes_everything() -> None:
    progs_before = {p.id for p in kp.all_progs()}
    links_before = set(_link_prog_ids())
    s = DemoSession()
    try:
        s.start()
        map_ids = set(s.map_ids().values())
        assert {st.map_id for st in s.summary if st.ok} <= map_ids
        my_progs = {
            p.id for p in kp.all_progs() if p.id not in progs_before and set(p.map_ids) & map_ids
        } | set(s.raw_prog_ids())
        my_links = {
            lid for lid, pid in _link_prog_ids().items() if lid not in links_before and pid in my_progs
        }
        env = s.environment
        assert env.veth and env.cgroup and env.child_pid and env.tcp_congestion
        netns = os.readlink(f"/proc/{env.child_pid}/ns/net")
        assert netns != os.readlink("/proc/self/ns/net")  # the child has its own network namespace
        assert map_ids and my_progs
    finally:
        s.stop()
    s.stop()  # idempotent
    alive_maps = set(km.map_ids()) & map_ids
    assert not alive_maps, f"maps left behind: {sorted(alive_maps)}"
    assert not set(kp.prog_ids()) & my_progs
    assert not set(_link_prog_ids()) & my_links
    link = subprocess.run(["ip", "link", "show", env.veth], capture_output=True, check=False)
    assert link.returncode != 0, f"veth {env.veth} left behind"
    assert not os.path.exists(env.cgroup)
    assert not os.path.exists(f"/proc/{env.child_pid}")  # child gone, and its namespace with it
    with open("/proc/sys/net/ipv4/tcp_available_congestion_control") as f:
        assert env.tcp_congestion not in f.read().split()


# -- the command line ------------------------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mapexplorer", *args]


def test_cli_list_names_every_type() -> None:
    out = subprocess.run(_cli("demo", "--list"), capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["TYPE", "MAP", "SUPPORTED"]
    listed = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert listed == {s.type: s.map_name for s in CATALOG}


def test_cli_unknown_type_is_one_line_error() -> None:
    proc = subprocess.run(_cli("demo", "no_such_type"), capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "no_such_type" in proc.stderr


def _demo_maps_of(pid: int) -> set[int]:
    """Ids of maps held open by process ``pid`` (its fdinfo names a map_id)."""
    ids = set()
    fd_dir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                for line in f:
                    if line.startswith("map_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


@pytest.mark.parametrize("how", ["sigterm", "sigint", "sighup"])
def test_cli_signal_cleans_up(how: str) -> None:
    import signal

    if not _bcc_ok():
        pytest.skip("BCC missing: the hash/lpm_trie/queue demos cannot run")
    proc = subprocess.Popen(_cli("demo", "hash", "lpm_trie", "queue"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("demo running"):
                break
        assert any("3/3 demos running" in line for line in lines), "".join(lines)
        held = _demo_maps_of(proc.pid)
        names = {km.map_info_by_id(i).name for i in held}
        assert {"demo_proc_stats", "demo_lpm_routes", "demo_queue_exec"} <= names
        proc.send_signal({"sigterm": signal.SIGTERM, "sigint": signal.SIGINT, "sighup": signal.SIGHUP}[how])
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "demo stopped" in rest
    assert not set(km.map_ids()) & held


def test_cli_duration_runs_and_exits() -> None:
    proc = subprocess.run(_cli("demo", "arena", "user_ringbuf", "--duration", "0.5"),
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2/2 demos running" in proc.stdout and "demo stopped" in proc.stdout


def test_demo_modules_do_not_import_textual() -> None:
    code = ("import sys, mapexplorer.demo_bpf, mapexplorer.demo_bpf.traffic, mapexplorer.commands.demo; "
            "sys.exit('textual' in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_session_started_in_a_worker_thread_stops_from_another() -> None:
    """The TUI starts the session in a worker thread and stops it from the UI thread on quit."""
    import threading

    s = DemoSession(["hash", "ringbuf"])
    messages: list[str] = []
    worker = threading.Thread(target=s.start, kwargs={"progress": messages.append})
    worker.start()
    worker.join()
    try:
        assert [st.ok for st in s.summary] == [True, True]
        assert messages and messages[-1].startswith("2/2 demos running")
        assert s.headline == "2/2 demo maps live" == f"{s.summary}"
        ids = set(s.map_ids().values())
    finally:
        s.stop()
    assert not set(km.map_ids()) & ids
    with pytest.raises(RuntimeError):
        s.start()


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="no_such_type"):
        DemoSession(["hash", "no_such_type"])


def test_user_ringbuf_drainer_consumes_everything(statuses: dict[str, DemoStatus]) -> None:
    """The hand-assembled SYSCALL program drains the records userspace produced."""
    from mapexplorer.demo_bpf.asm import load_user_ringbuf_drainer
    from mapexplorer.kernel.progs import run_once

    st = statuses["user_ringbuf"]
    if not st.ok:
        pytest.skip(st.reason)
    assert "bpf_user_ringbuf_drain" in st.how, st.how  # the session loaded its drainer
    with km.Map.open(st.map_id, write=True) as m:
        prog, btf = load_user_ringbuf_drainer(m.fd)
        try:
            produced = _mmap_pos(st.map_id, 1)
            run_once(prog)
            assert _mmap_pos(st.map_id, 0) >= produced  # the consumer caught up with the producer
        finally:
            os.close(prog)
            os.close(btf)


def test_background_traffic_has_no_errors(session: DemoSession) -> None:
    assert eventually(lambda: session.user_rb_drained or session.arena_pages_allocated)
    assert session.traffic_errors == 0, session.last_traffic_error


def test_a_module_load_failure_skips_only_task_storage() -> None:
    """If demo.c fails to load (a kernel without task storage in tracepoints), the retry without the
    task_storage demo still runs the others. The first compile is made to fail; bpf() stays real."""

    class FirstCompileFails(DemoSession):
        compiles = 0

        def _compile(self) -> None:
            FirstCompileFails.compiles += 1
            if FirstCompileFails.compiles == 1:
                raise Exception('Failed to load BPF program b"tracepoint__raw_syscalls__sys_enter"')
            super()._compile()

    with FirstCompileFails(["hash", "task_storage"]) as s:
        s.start()
        by_type = {st.type: st for st in s.summary}
    assert by_type["hash"].ok
    assert not by_type["task_storage"].ok and "raw_syscalls" in by_type["task_storage"].reason


STACK_GENERATOR = """
import subprocess, sys, time
end = time.time() + float(sys.argv[1])
while time.time() < end:  # each new process maps libc at another address (ASLR): new user stacks
    subprocess.run(["/bin/cat", "/dev/null"], check=True)
"""


def test_stack_map_keeps_room_for_new_stacks(session: DemoSession) -> None:
    """Processes opening files from ever new user stacks (short-lived processes: ASLR maps libc at another
    address in each) would fill demo_stacks' 512 slots within seconds, after which every bpf_get_stackid
    fails with ENOMEM (-12) (measured before the session cleaned the table: 1,004 of 1,009 recent stack
    keys held -12). The session deletes old stack ids every 0.2 s once the table is half full: it never
    fills, and the stacks the demo records for those processes (comm "cat") get real ids."""
    ids = session.map_ids()
    if "demo_stacks" not in ids or "demo_stack_cnt" not in ids:
        pytest.skip("no stack_trace demo on this host")
    gen = subprocess.Popen([sys.executable, "-c", STACK_GENERATOR, "20"])
    counts: list[int] = []
    try:
        with km.Map.open(ids["demo_stacks"]) as stacks:
            cap = stacks.info.max_entries
            while gen.poll() is None:
                counts.append(sum(1 for _ in stacks.entries()))
                time.sleep(0.5)
    finally:
        gen.kill()
        gen.wait()
    # the flood filled the table far enough for the clean-up to run (only it deletes stack ids)
    assert any(b < a for a, b in itertools.pairwise(counts)), counts
    assert max(counts) < cap, counts
    with km.Map.open(ids["demo_stack_cnt"]) as cnt:
        keys = [k for k, _ in cnt.entries()]
    user_ids = [struct.unpack_from("<i", k, 8)[0] for k in keys if k[12:16] == b"cat\0"]
    assert user_ids and all(uid >= 0 for uid in user_ids), user_ids
