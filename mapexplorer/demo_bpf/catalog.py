"""The demo catalog: for each of the 33 map types, the demo map's name, how the demo fills it, and what
the host needs for it (BCC, a cgroup2 mount, the ``ip`` tool for the veth pair, struct_ops).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from mapexplorer import caps
from mapexplorer.kernel.names import MAP_TYPE_IDS


@dataclass(frozen=True, slots=True)
class DemoSpec:
    """One demo: a map type, the map that shows it, and how it is filled."""

    type: str
    map_name: str
    how: str
    needs: frozenset[str] = frozenset()


def _d(type_: str, name: str, how: str, *needs: str) -> DemoSpec:
    return DemoSpec(type_, name, how, frozenset(needs))


CATALOG: tuple[DemoSpec, ...] = (
    _d("hash", "demo_proc_stats", "syscall/read/write/open counts per live process (raw_syscalls); "
       "demo_sys_lat_us: syscall latency log2 histogram per syscall number", "bcc"),
    _d("array", "demo_read_log2", "log2 histogram of read() sizes (sys_exit_read)", "bcc"),
    _d("prog_array", "demo_tail_calls", "two tail-call targets, chosen by thread id parity", "bcc"),
    _d("perf_event_array", "demo_perf_evts", "openat events via perf_submit, consumed by the demo", "bcc"),
    _d("percpu_hash", "demo_pcpu_calls", "per-CPU syscall counts keyed by syscall number", "bcc"),
    _d("percpu_array", "demo_pcpu_evts", "per-CPU counters: syscalls, opens, execs, XDP/tc/cgroup packets",
       "bcc"),
    _d("stack_trace", "demo_stacks", "kernel + user stacks of openat callers (bpf_get_stackid)", "bcc"),
    _d("cgroup_array", "demo_cgrp_array", "the demo cgroup's fd; checked with current_task_under_cgroup",
       "bcc", "cgroup"),
    _d("lru_hash", "demo_lru_pids", "last syscall per thread, 64 slots, LRU eviction", "bcc"),
    _d("lru_percpu_hash", "demo_lru_pcomm", "per-CPU syscall counts by command name, LRU", "bcc"),
    _d("lpm_trie", "demo_lpm_routes", "IPv4 routes with packet/byte counters hit by XDP on the veth",
       "bcc", "net"),
    _d("array_of_maps", "demo_aom_shards", "4 inner arrays (per-CPU shards of syscall counts)", "bcc"),
    _d("hash_of_maps", "demo_hom_tenant", "inner arrays per tenant (tgid % 4)", "bcc"),
    _d("devmap", "demo_devmap", "veth and loopback ifindexes; XDP reflects non-local packets through it",
       "bcc", "net"),
    _d("sockmap", "demo_sockmap", "TCP sockets added by sock_ops on the demo cgroup", "bcc", "net", "cgroup"),
    _d("cpumap", "demo_cpumap", "a queue per possible CPU; XDP steers the veth's local UDP to the next CPU",
       "bcc"),
    _d("xskmap", "demo_xskmap", "an AF_XDP socket on the veth, queue 0; XDP redirects UDP port 10002 to it",
       "bcc", "net"),
    _d("sockhash", "demo_sockhash", "TCP sockets keyed by {local_port, remote_port} via sock_ops",
       "bcc", "net", "cgroup"),
    _d("cgroup_storage", "demo_cg_storage", "in/out packets and bytes of the demo cgroup (cgroup_skb)",
       "bcc", "cgroup"),
    _d("reuseport_sockarray", "demo_reuseport", "4 SO_REUSEPORT UDP sockets; SK_REUSEPORT picks by hash",
       "bcc"),
    _d("percpu_cgroup_storage", "demo_cg_pcpu", "per-CPU bytes of the demo cgroup (cgroup_skb)",
       "bcc", "cgroup"),
    _d("queue", "demo_queue_exec", "FIFO of execve records (sys_enter_execve)", "bcc"),
    _d("stack", "demo_lifo_close", "LIFO of close() records (sys_enter_close)", "bcc"),
    _d("sk_storage", "demo_sk_storage", "per-socket packet/byte counts (cgroup_skb sk_storage_get)",
       "bcc", "cgroup"),
    _d("devmap_hash", "demo_devhash", "ifindex -> port entries, created with raw bpf()", "net"),
    _d("struct_ops", "demo_tcp_cc", "a tcp_congestion_ops registered under a unique name, used by TCP in "
       "the netns", "bcc", "net"),
    _d("ringbuf", "demo_ringbuf", "openat events (struct demo_event), consumed by the demo", "bcc"),
    _d("inode_storage", "demo_inode_tags", "tags on demo temp files, written from userspace; an LSM "
       "program counts their permission checks where the host allows LSM", "bcc"),
    _d("task_storage", "demo_task_store", "per-task syscall counts (tracepoint + get_current_task_btf)",
       "bcc"),
    _d("bloom_filter", "demo_bloom", "command names of openat callers (map_push_elem) and userspace inserts",
       "bcc"),
    _d("user_ringbuf", "demo_user_rb", "records written from userspace through the mmap, drained by a "
       "SYSCALL program (bpf_user_ringbuf_drain) when half full"),
    _d("cgrp_storage", "demo_cgrp_store", "per-cgroup stats keyed by the demo cgroup fd, from userspace",
       "cgroup"),
    _d("arena", "demo_arena", "a counter table written through the mmap; a SYSCALL program adds pages "
       "(bpf_arena_alloc_pages)"),
)

BY_TYPE: dict[str, DemoSpec] = {spec.type: spec for spec in CATALOG}

# Maps the demo also creates besides the one per type (templates, inner maps, helpers).
EXTRA_MAP_NAMES = (
    "demo_inner0", "demo_inner1", "demo_inner2", "demo_inner3",
    "demo_tenant0", "demo_tenant1", "demo_tenant2", "demo_tenant3",
    "demo_stack_cnt", "demo_last_event", "demo_sys_lat_us", "demo_sys_start",
)


# (key_size, value_size, max_entries, flags) of a minimal map per type, to ask the kernel whether it
# creates that type here. Types that need BTF or an inner map are judged by vmlinux's enum alone.
_NO_PREALLOC = 1
_MMAPABLE = 1 << 10
_PROBES: dict[str, tuple[int, int, int, int]] = {
    "hash": (4, 4, 1, 0), "array": (4, 4, 1, 0), "prog_array": (4, 4, 1, 0),
    "perf_event_array": (4, 4, 1, 0), "percpu_hash": (4, 4, 1, 0), "percpu_array": (4, 4, 1, 0),
    "stack_trace": (4, 8, 1, 0), "cgroup_array": (4, 4, 1, 0), "lru_hash": (4, 4, 1, 0),
    "lru_percpu_hash": (4, 4, 1, 0), "lpm_trie": (8, 4, 1, _NO_PREALLOC), "devmap": (4, 4, 1, 0),
    "sockmap": (4, 4, 1, 0), "cpumap": (4, 4, 1, 0), "xskmap": (4, 4, 1, 0), "sockhash": (4, 4, 1, 0),
    "cgroup_storage": (16, 8, 0, 0), "reuseport_sockarray": (4, 8, 1, 0),
    "percpu_cgroup_storage": (16, 8, 0, 0), "queue": (0, 4, 1, 0), "stack": (0, 4, 1, 0),
    "devmap_hash": (4, 4, 1, 0), "ringbuf": (0, 0, 4096, 0), "bloom_filter": (0, 4, 1, 0),
    "user_ringbuf": (0, 0, 4096, 0), "arena": (0, 0, 1, _MMAPABLE),
}


def probe_map_type(type_name: str) -> str:
    """Create (and close) a minimal map of this type; '' when the kernel accepts it, else the reason."""
    from mapexplorer.kernel.maps import create_map

    params = _PROBES.get(type_name)
    if params is None:
        return ""
    key, value, entries, flags = params
    try:
        os.close(create_map(MAP_TYPE_IDS[type_name], key, value, entries, name="demo_probe", flags=flags))
    except OSError as exc:
        return f"the kernel refuses {type_name} maps ({exc.strerror})"
    return ""


def cgroup2_root() -> str | None:
    """Where a cgroup2 hierarchy is mounted (/sys/fs/cgroup or /sys/fs/cgroup/unified), or None."""
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "cgroup2":
                return parts[1]
    return None


def cgroup2_available() -> bool:
    """Whether cgroup2 can be mounted (the demo mounts a private one when none is mounted)."""
    with open("/proc/filesystems") as f:
        return any(line.split()[-1:] == ["cgroup2"] for line in f)


def host_support(spec: DemoSpec, *, bcc_ok: bool, kernel_types: frozenset[str]) -> tuple[bool, str]:
    """Whether this host can run ``spec``, and a one-line reason when it cannot."""
    if spec.type not in kernel_types:
        return False, f"kernel has no {spec.type} map type"
    if "bcc" in spec.needs and not bcc_ok:
        return False, "BCC Python bindings missing (apt install python3-bpfcc)"
    if "cgroup" in spec.needs and cgroup2_root() is None and not cgroup2_available():
        return False, "the kernel has no cgroup2 filesystem"
    if "net" in spec.needs and shutil.which("ip") is None:
        return False, "the ip tool (iproute2) is missing"
    missing = caps.missing_caps()
    if missing:
        return False, f"needs {' and '.join(missing)}"
    refused = probe_map_type(spec.type)
    if refused:
        return False, refused
    return True, ""


def kernel_map_types() -> frozenset[str]:
    """Map type names the running kernel knows (from vmlinux BTF; the built-in table if unreadable)."""
    from mapexplorer.codec import vmlinux

    try:
        values = vmlinux().enum_values("bpf_map_type")
    except (OSError, KeyError, ValueError):
        return frozenset(MAP_TYPE_IDS) - {"unspec"}
    names = {k.removeprefix("BPF_MAP_TYPE_").lower() for k in values if not k.startswith("__")}
    return frozenset(names)
