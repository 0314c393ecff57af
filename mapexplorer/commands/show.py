"""``mapexplorer show ID``: one map's facts, owners, programs and pins."""

from __future__ import annotations

import argparse
import json
import sys

from mapexplorer.codec import map_codec, register_kernel_enum_names
from mapexplorer.commands import require_root, resolve_map
from mapexplorer.commands.list import count_records, record_json
from mapexplorer.errors import UserError
from mapexplorer.kernel.health import LRU_TYPES
from mapexplorer.kernel.inventory import collect
from mapexplorer.kernel.programs import default_catalog
from mapexplorer.units import human_bytes


def run(args: argparse.Namespace) -> int:
    require_root()
    register_kernel_enum_names()
    map_id = resolve_map(args.map)
    try:
        (record,) = collect([map_id])
    except FileNotFoundError:
        raise UserError(f"map {map_id} is gone") from None
    counts, reason = count_records([record])
    c = counts[record.info.id]
    users = default_catalog().map_users(map_id)
    if args.json:
        json.dump({**record_json(record, c), "iterator_unavailable": reason, **users.to_json()}, sys.stdout)
        sys.stdout.write("\n")
        return 0
    i = record.info
    lines = [
        f"{i.id}: {i.type_name}  name {i.name or '-'}  flags {i.flags:#x}",
        f"\tkey {i.key_size}B  value {i.value_size}B  max_entries {i.max_entries}"
        f"  memlock {i.memlock}B ({human_bytes(i.memlock)})",
    ]
    how = {"iterator": "counted by the kernel (BPF iterator)", "max_entries": "every slot exists",
           "read": "counted by reading the map", "backlog": "ring backlog", "none": "cannot be counted"}
    count = f"\tentries {c.entries_text()}  fill {c.fill_text()}  ({how.get(c.method, c.method)})"
    if c.backlog is not None:
        count += f"  backlog {c.backlog}B"
    lines.append(count)
    if i.type_name in LRU_TYPES:
        lines.append("\tLRU: when full, evicts the least recently used entries instead of failing")
    if reason:
        lines.append(f"\titerator unavailable: {reason}")
    if i.btf_id or i.btf_vmlinux_value_type_id:
        codec = map_codec(i)
        lines.append(f"\tbtf_id {i.btf_id}")
        for label, ctext in (("key", codec.key_c), ("value", codec.value_c)):
            if ctext:
                body = ctext.splitlines()
                lines.append(f"\t{label}: {body[0]}")
                lines.extend(f"\t{' ' * len(label)}  {line}" for line in body[1:])
    if i.frozen:
        lines.append("\tfrozen")
    for path in record.pinned:
        lines.append(f"\tpinned {path}")
    for o in record.owners:
        lines.append(f"\tpid {o.pid} ({o.comm})")
    for p in record.progs:
        lines.append(f"\tprog {p.id} {p.name} ({p.type})")
    if users.writers:
        names = ", ".join(r.name + ("" if a.write else " (probably)") for r, a in users.writers)
        lines.append(f"\twritten by {names}")
    if users.readers:
        lines.append(f"\tread by {', '.join(r.name for r, _ in users.readers)}")
    for r, why in users.unknown:
        lines.append(f"\tprog {r.id} {r.name}: reads/writes unknown ({why})")
    print("\n".join(lines))
    return 0
