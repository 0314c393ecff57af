"""Names of kernel enums as bpftool prints them: map types and program types.

The tables below cover every value up to Linux 6.18. :func:`map_type_name` prefers the running
kernel's own ``enum bpf_map_type`` (from vmlinux BTF, registered by the BTF layer through
:func:`set_kernel_names`) so that a map type newer than this code is named, not numbered.
"""

from __future__ import annotations

MAP_TYPES: dict[int, str] = {
    0: "unspec",
    1: "hash",
    2: "array",
    3: "prog_array",
    4: "perf_event_array",
    5: "percpu_hash",
    6: "percpu_array",
    7: "stack_trace",
    8: "cgroup_array",
    9: "lru_hash",
    10: "lru_percpu_hash",
    11: "lpm_trie",
    12: "array_of_maps",
    13: "hash_of_maps",
    14: "devmap",
    15: "sockmap",
    16: "cpumap",
    17: "xskmap",
    18: "sockhash",
    19: "cgroup_storage",
    20: "reuseport_sockarray",
    21: "percpu_cgroup_storage",
    22: "queue",
    23: "stack",
    24: "sk_storage",
    25: "devmap_hash",
    26: "struct_ops",
    27: "ringbuf",
    28: "inode_storage",
    29: "task_storage",
    30: "bloom_filter",
    31: "user_ringbuf",
    32: "cgrp_storage",
    33: "arena",
}

PROG_TYPES: dict[int, str] = {
    0: "unspec",
    1: "socket_filter",
    2: "kprobe",
    3: "sched_cls",
    4: "sched_act",
    5: "tracepoint",
    6: "xdp",
    7: "perf_event",
    8: "cgroup_skb",
    9: "cgroup_sock",
    10: "lwt_in",
    11: "lwt_out",
    12: "lwt_xmit",
    13: "sock_ops",
    14: "sk_skb",
    15: "cgroup_device",
    16: "sk_msg",
    17: "raw_tracepoint",
    18: "cgroup_sock_addr",
    19: "lwt_seg6local",
    20: "lirc_mode2",
    21: "sk_reuseport",
    22: "flow_dissector",
    23: "cgroup_sysctl",
    24: "raw_tracepoint_writable",
    25: "cgroup_sockopt",
    26: "tracing",
    27: "struct_ops",
    28: "ext",
    29: "lsm",
    30: "sk_lookup",
    31: "syscall",
    32: "netfilter",
}

MAP_TYPE_IDS: dict[str, int] = {name: num for num, name in MAP_TYPES.items()}

_kernel_map_types: dict[int, str] = {}
_kernel_prog_types: dict[int, str] = {}


def set_kernel_names(map_types: dict[int, str], prog_types: dict[int, str]) -> None:
    """Register the running kernel's enum names (read from vmlinux BTF by a higher layer)."""
    _kernel_map_types.clear()
    _kernel_map_types.update(map_types)
    _kernel_prog_types.clear()
    _kernel_prog_types.update(prog_types)


def enum_to_names(enumerators: dict[str, int], prefix: str) -> dict[int, str]:
    """Turn ``{"BPF_MAP_TYPE_HASH": 1, ...}`` into ``{1: "hash"}``.

    Aliases such as ``BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED`` lose to the plain name of the same value,
    and the ``MAX_BPF_*`` / ``__MAX_*`` sentinels are dropped.
    """
    names: dict[int, str] = {}
    for name, value in enumerators.items():
        if not name.startswith(prefix):
            continue
        short = name[len(prefix) :].lower()
        if short.endswith("_deprecated") and value in names:
            continue
        if value in names and not names[value].endswith("_deprecated"):
            continue
        names[value] = short
    return names


def map_type_name(map_type: int) -> str:
    """bpftool's name for a map type number, e.g. 1 -> "hash"; the number as text if unknown."""
    return _kernel_map_types.get(map_type) or MAP_TYPES.get(map_type) or str(map_type)


def prog_type_name(prog_type: int) -> str:
    """bpftool's name for a program type number, e.g. 6 -> "xdp"."""
    return _kernel_prog_types.get(prog_type) or PROG_TYPES.get(prog_type) or str(prog_type)


def map_type_id(name: str) -> int:
    """The number of a map type given bpftool's name; raises KeyError if unknown."""
    for table in (_kernel_map_types, MAP_TYPES):
        for num, known in table.items():
            if known == name:
                return num
    raise KeyError(name)
