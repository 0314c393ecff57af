"""``mapexplorer dump ID``: every entry of a map, as bpftool-shaped JSON or readable lines.

Queues and stacks show their head (peek, never pop); maps that cannot be listed at all (streams,
bloom filters, fd-keyed storage, arenas) get a message naming what can show them instead.
"""

from __future__ import annotations

import argparse
import sys

from mapexplorer.commands import require_root, resolve_map
from mapexplorer.dumpjson import hex_fields, raw_chunk_formatter
from mapexplorer.errors import UserError
from mapexplorer.kernel.maps import PEEK_TYPES, Map, MapInfo

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


def _dump_peek(m: Map, as_json: bool) -> int:
    head = m.peek()
    info = m.info
    print(f"{info.type_name} {info.id}: showing the head without removing it (peek)", file=sys.stderr)
    if as_json:
        out = "[]" if head is None else "[{\"value\":" + hex_fields(head, info.value_size, 1)[0] + "}]"
        print(out)
    else:
        print("(empty)" if head is None else f"head: {head.hex(' ')}")
    return 0


def _dump_lines(m: Map) -> int:
    n = 0
    for key, value in m.entries():
        print(f"key: {key.hex(' ')}  value: {value.hex(' ') if value else '<not readable>'}")
        n += 1
    print(f"Found {n} element{'s' if n != 1 else ''}")
    return 0


def _dump_json(m: Map) -> int:
    fmt = raw_chunk_formatter(m.info)
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
    map_id = resolve_map(args.map)
    try:
        m = Map.open(map_id)
    except FileNotFoundError:
        raise UserError(f"map {map_id} is gone") from None
    with m:
        if m.info.type_name in PEEK_TYPES:
            return _dump_peek(m, args.json)
        check_dumpable(m.info)
        return _dump_json(m) if args.json else _dump_lines(m)
