"""``mapexplorer dump ID``: every entry of a map, as bpftool-shaped JSON or readable lines.

Keys and values are decoded with the map's BTF when it has some (``--raw`` forces bytes), in the shape of
bpftool's ``-j`` "formatted" view; map-of-maps and prog_array values are the inner map / program ids.

Queues and stacks show their head (peek, never pop); maps that cannot be listed at all (streams,
bloom filters, fd-keyed storage, arenas) get a message naming what can show them instead.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from typing import Any

from mapexplorer.codec import MapCodec, map_codec
from mapexplorer.commands import open_map_arg, require_root
from mapexplorer.dumpjson import hex_list
from mapexplorer.errors import UserError
from mapexplorer.kernel.maps import Map, MapInfo, possible_cpu_count, round_up8
from mapexplorer.maptypes import PEEK_TYPES
from mapexplorer.semantics import Clock, bytes_ascii, humanize, lpm_cidr
from mapexplorer.symbols import Kallsyms, Mapping, frame_text, process_maps

MAX_OWNER_SCAN = 100_000  # entries read from sibling maps to find which process a user stack belongs to

WHY_NOT = {
    "ringbuf": "a ringbuf is a stream: use mapexplorer watch {id}",
    "perf_event_array": "a perf_event_array is a stream: use mapexplorer watch {id}",
    "user_ringbuf": "a user_ringbuf is written by user space and drained by a program: nothing to list",
    "bloom_filter": "a bloom_filter only answers membership tests: its elements cannot be listed",
    "arena": "an arena is memory mapped pages, not entries: nothing to list",
    "sk_storage": "sk_storage is keyed by socket fds: entries can only be looked up per socket",
    "task_storage": "task_storage is keyed by pidfds: entries can only be looked up per task",
    "inode_storage": "inode_storage is keyed by file fds: entries can only be looked up per file",
    "cgrp_storage": "cgrp_storage is keyed by cgroup fds: entries can only be looked up per cgroup",
}


def _dump_peek(m: Map, codec: MapCodec, as_json: bool) -> int:
    head = m.peek()
    info = m.info
    print(f"{info.type_name} {info.id}: showing the head without removing it (peek)", file=sys.stderr)
    if as_json:
        out = [] if head is None else [{"value": codec.decode_value(head)}]
        print(json.dumps(out, separators=(",", ":")))
    elif head is None:
        print("(empty)")
    elif codec.has_btf:
        print("head: " + _text(humanize(codec.decode_value(head), codec.value_kinds, Clock.now())))
    else:
        print(f"head: {bytes_ascii(head, limit=1 << 20)}")
    return 0


def _text(v: Any) -> str:
    """A humanized leaf or tree as one line: strings bare at the top, JSON inside."""
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _key_text(codec: MapCodec, key: bytes) -> str:
    if codec.info.type_name == "lpm_trie":
        cidr = lpm_cidr(key)
        if cidr is not None:
            return cidr
    if codec.key_name is not None:
        return _text(humanize(codec.decode_key(key), codec.key_kinds, Clock.now()))
    return bytes_ascii(key, limit=1 << 20)


def _value_text(codec: MapCodec, value: bytes | None, clock: Clock) -> str:
    if value is None or (not value and codec.info.value_size):
        return "<not readable>"
    if codec.id_values:
        return str(codec.decode_value(value))
    if codec.value_type:
        kinds = codec.value_kinds
        if codec.info.percpu:
            return "  ".join(f"cpu{c}: {_text(humanize(v, kinds, clock))}"
                             for c, v in enumerate(codec.decode_percpu(value)))
        return _text(humanize(codec.decode_value(value), kinds, clock))
    if codec.info.percpu:
        slot = round_up8(codec.info.value_size)
        return "  ".join(f"cpu{c}: {bytes_ascii(value[c * slot : c * slot + codec.info.value_size])}"
                         for c in range(possible_cpu_count()))
    return bytes_ascii(value, limit=1 << 20)


def _dump_lines(m: Map, codec: MapCodec) -> int:
    if m.info.type_name == "stack_trace":
        return _dump_stacks(m)
    n = 0
    clock = Clock.now()
    for key, value in m.entries():
        print(f"key: {_key_text(codec, key)}  value: {_value_text(codec, value, clock)}")
        n += 1
    print(f"Found {n} element{'s' if n != 1 else ''}")
    return 0


def stack_owners(map_id: int) -> dict[int, int]:
    """User stack id -> the pid whose stack it is, from the other maps of the programs using this stack
    map whose BTF key or value has a ``*user_stack_id`` field next to a ``tgid`` or ``pid`` field (how
    profilers like bcc's offcputime and the demo record whose stack an id is)."""
    from mapexplorer.kernel import progs
    from mapexplorer.kernel.maps import map_info_by_id

    siblings: set[int] = set()
    for p in progs.progs_by_map(progs.all_progs()).get(map_id, []):
        siblings.update(p.map_ids)
    siblings.discard(map_id)
    out: dict[int, int] = {}
    for sid in sorted(siblings):
        try:
            info = map_info_by_id(sid)
        except OSError:
            continue
        if not info.btf_id or not info.iterable or info.percpu:
            continue
        codec = map_codec(info)
        if not codec.has_btf:
            continue
        try:
            with Map.open(sid) as sm:
                for i, (k, v) in enumerate(sm.entries()):
                    if i >= MAX_OWNER_SCAN:
                        break
                    for part in (codec.decode_key(k), codec.decode_value(v) if v else None):
                        if isinstance(part, dict):
                            pid = part.get("tgid", part.get("pid"))
                            sid_ = part.get("user_stack_id")
                            if isinstance(pid, int) and isinstance(sid_, int) and sid_ >= 0 and pid > 0:
                                out.setdefault(sid_, pid)
        except (OSError, ValueError):
            continue
    return out


def _dump_stacks(m: Map) -> int:
    """One block per stack: its id and depth, then a frame per line (kernel symbols ``[k]``; user
    addresses resolved in the owning process's /proc/PID/maps when it is known and alive)."""
    ksyms = Kallsyms()
    owners = stack_owners(m.info.id)
    maps_of: dict[int, list[Mapping] | None] = {}
    n = 0
    for key, value in m.entries():
        sid = int.from_bytes(key[:4], "little")
        addrs = [a for (a,) in struct.iter_unpack("<Q", (value or b"")[: len(value or b"") // 8 * 8]) if a]
        pid = owners.get(sid)
        where = ""
        pmaps = None
        if pid is not None and any(a < 0xFFFF_8000_0000_0000 for a in addrs):
            if pid not in maps_of:
                maps_of[pid] = process_maps(pid)
            pmaps = maps_of[pid]
            where = f"  user pid {pid}" + ("" if pmaps is not None else " (exited: addresses only)")
        print(f"stack {sid}: {len(addrs)} frame{'s' if len(addrs) != 1 else ''}{where}")
        for a in addrs:
            print(f"    {frame_text(a, ksyms, pmaps)}")
        n += 1
    print(f"Found {n} stack{'s' if n != 1 else ''}")
    return 0


def _dump_bpftool(m: Map, codec: MapCodec) -> int:
    """bpftool's ``-j map dump`` shape: hex ``key`` and ``value`` (per-CPU: ``values`` of ``{cpu, value}``),
    plus ``formatted`` (the decoded entry) when the map has BTF."""
    info = m.info
    vs = info.value_size
    ncpu = possible_cpu_count()
    slot = round_up8(vs)
    out = []
    for key, value in m.entries():
        e: dict[str, Any] = {"key": hex_list(key)}
        if info.percpu:
            v = value or b""
            e["values"] = [{"cpu": c, "value": hex_list(v[c * slot : c * slot + vs])} for c in range(ncpu)]
        else:
            e["value"] = hex_list(value) if value is not None else None
        if codec.has_btf:
            e["formatted"] = codec.entry_json(key, value)
        out.append(json.dumps(e, separators=(",", ":")))
    sys.stdout.write("[" + ",".join(out) + "]\n")
    return 0


def _dump_json(m: Map, codec: MapCodec) -> int:
    fmt = codec.chunk_json
    write = sys.stdout.write
    write("[")
    first = True
    for chunk in m.read_chunks():
        if not first:
            write(",")
        write(",".join(fmt(chunk)))
        first = False
    write("]\n")
    return 0


def check_dumpable(info: MapInfo) -> None:
    if info.type_name in WHY_NOT:
        raise UserError(f"map {info.id}: " + WHY_NOT[info.type_name].format(id=info.id))


def run(args: argparse.Namespace) -> int:
    require_root()
    with open_map_arg(args.map) as m:
        codec = map_codec(m.info, raw=args.raw)
        if m.info.type_name in PEEK_TYPES:
            return _dump_peek(m, codec, args.json)
        check_dumpable(m.info)
        if getattr(args, "bpftool", False):
            return _dump_bpftool(m, codec)
        return _dump_json(m, codec) if args.json else _dump_lines(m, codec)
