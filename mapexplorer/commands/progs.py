"""``mapexplorer progs``: every BPF program with its full name, type, attach points, owners, load time,
sizes, memlock and the maps it reads and writes (``--json``: one object per program, ordered by id)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from mapexplorer.codec import register_kernel_enum_names
from mapexplorer.commands import require_root
from mapexplorer.commands.list import format_table
from mapexplorer.kernel.programs import ProgRecord, default_catalog
from mapexplorer.units import human_bytes

COLUMNS = ("ID", "TYPE", "NAME", "ATTACH", "OWNERS", "LOADED", "INSNS", "JITED", "MEMLOCK", "MAPS")


def table_row(r: ProgRecord) -> tuple[str, ...]:
    i = r.info
    return (
        str(i.id),
        i.type_name,
        r.name,
        "; ".join(r.attach) or "-",
        ",".join(f"{o.comm}[{o.pid}]" for o in r.owners) or "-",
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(i.loaded_at())),
        str(i.verified_insns),
        human_bytes(i.jited_len),
        human_bytes(r.memlock),
        ",".join(f"{a.map_id}:{a.mode}" for a in r.maps.maps) or "-",
    )


def run(args: argparse.Namespace) -> int:
    require_root()
    register_kernel_enum_names()
    records = default_catalog().collect()
    if args.json:
        json.dump([r.to_json() for r in records], sys.stdout)
        sys.stdout.write("\n")
        return 0
    print(format_table([table_row(r) for r in records], COLUMNS))
    hidden = [r for r in records if r.maps.hidden]
    for r in hidden:
        print(f"prog {r.id}: reads/writes unknown: {r.maps.hidden}")
    return 0
