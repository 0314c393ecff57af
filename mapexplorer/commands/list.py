"""``mapexplorer list``: every map with its facts, owners, programs and pins."""

from __future__ import annotations

import argparse
import json
import sys

from mapexplorer.codec import register_kernel_enum_names
from mapexplorer.commands import require_root
from mapexplorer.kernel.inventory import MapRecord, collect
from mapexplorer.units import human_bytes

COLUMNS = (
    "ID",
    "TYPE",
    "NAME",
    "KEY",
    "VALUE",
    "MAX",
    "FLAGS",
    "MEMLOCK",
    "BTF",
    "OWNERS",
    "PROGS",
    "PINNED",
)


def table_row(r: MapRecord) -> tuple[str, ...]:
    i = r.info
    return (
        str(i.id),
        i.type_name,
        i.name,
        str(i.key_size),
        str(i.value_size),
        str(i.max_entries),
        hex(i.flags),
        human_bytes(i.memlock),
        str(i.btf_id) if i.btf_id else "-",
        ",".join(f"{o.comm}[{o.pid}]" for o in r.owners) or "-",
        ",".join(p.name or str(p.id) for p in r.progs) or "-",
        ",".join(r.pinned) or "-",
    )


def format_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(h), *(len(row[c]) for row in rows)) if rows else len(h) for c, h in enumerate(header)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    require_root()
    register_kernel_enum_names()
    records = collect()
    if args.json:
        json.dump([r.to_json() for r in records], sys.stdout)
        sys.stdout.write("\n")
    else:
        print(format_table([table_row(r) for r in records], COLUMNS))
    return 0
