"""Sets of map type names (bpftool's names) that decide how a map is read and shown.

One place for them: the kernel layer, the codec, the streams, the sources and the UI all import from here.
Pure data, no imports.
"""

from __future__ import annotations

PERCPU_TYPES = frozenset({"percpu_hash", "percpu_array", "lru_percpu_hash", "percpu_cgroup_storage"})
"""Values stored once per possible CPU."""

PEEK_TYPES = frozenset({"queue", "stack"})
"""No keys: the head can only be peeked."""

STREAM_TYPES = frozenset({"ringbuf", "perf_event_array"})
"""Event streams that ``watch`` and the event view read."""

MAP_OF_MAPS_TYPES = frozenset({"array_of_maps", "hash_of_maps"})
"""Values are inner map ids."""

ID_VALUE_TYPES = MAP_OF_MAPS_TYPES | {"prog_array"}
"""Values (as lookups return them) are ids of other objects."""

NON_ITERABLE_TYPES = PEEK_TYPES | {
    "ringbuf",
    "user_ringbuf",
    "perf_event_array",
    "bloom_filter",
    "arena",
    "sk_storage",
    "task_storage",
    "inode_storage",
    "cgrp_storage",
}
"""No read operation lists them (streams, membership tests, storage keyed by an fd, mmap-only, peek-only)."""

REWRITTEN_TYPES = frozenset(
    {
        "prog_array",
        "array_of_maps",
        "hash_of_maps",
        "stack_trace",
        "lpm_trie",
        "devmap",
        "devmap_hash",
        "cpumap",
        "sockmap",
        "sockhash",
        "reuseport_sockarray",
    }
)
"""Keys or values the type-aware decoder rewrites (names, CIDRs, symbols): no integer fast path."""
