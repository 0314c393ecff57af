"""``mapexplorer dump ID``: every entry of a map, as bpftool-shaped JSON or readable lines.

Keys and values are decoded with the map's BTF when it has some (``--raw`` forces bytes), in the shape of
bpftool's ``-j`` "formatted" view; map-of-maps and prog_array values are the inner map / program ids.

Queues and stacks show their head (peek, never pop); maps that cannot be listed at all (streams,
bloom filters, fd-keyed storage, arenas) get a message naming what can show them instead.
"""

from __future__ import annotations

import argparse
import json
import sys

from mapexplorer.codec import MapCodec, map_codec
from mapexplorer.commands import require_root, resolve_map
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
        print("head: " + json.dumps(codec.decode_value(head)))
    else:
        print(f"head: {head.hex(' ')}")
    return 0


def _dump_lines(m: Map, codec: MapCodec) -> int:
    n = 0
    for key, value in m.entries():
        if codec.has_btf or codec.id_values:
            e = codec.entry_json(key, value)
            k = json.dumps(e["key"])
            v = json.dumps(e["values"] if "values" in e else e["value"])
            print(f"key: {k}  value: {v}")
        else:
            print(f"key: {key.hex(' ')}  value: {value.hex(' ') if value else '<not readable>'}")
        n += 1
    print(f"Found {n} element{'s' if n != 1 else ''}")
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
    map_id = resolve_map(args.map)
    try:
        m = Map.open(map_id)
    except FileNotFoundError:
        raise UserError(f"map {map_id} is gone") from None
    with m:
        codec = map_codec(m.info, raw=args.raw)
        if m.info.type_name in PEEK_TYPES:
            return _dump_peek(m, codec, args.json)
        check_dumpable(m.info)
        return _dump_json(m, codec) if args.json else _dump_lines(m, codec)
