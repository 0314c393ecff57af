"""``mapexplorer list``: every map with its facts, entry counts and fill, owners, programs and pins;
``--by owner|pin-dir|name``: memory by owner instead (maps grouped, with counts and memlock totals).
"""

from __future__ import annotations

import argparse
import json
import sys

from mapexplorer.codec import register_kernel_enum_names
from mapexplorer.commands import require_root
from mapexplorer.doctor import read_inner_maps
from mapexplorer.kernel.health import Counter, EntryCount
from mapexplorer.kernel.inventory import MapRecord, collect
from mapexplorer.memory import group_maps
from mapexplorer.units import human_bytes

# A one-shot command may read the maps the iterator cannot count for this long in total.
CLI_READ_BUDGET_S = 1.0

COLUMNS = (
    "ID",
    "TYPE",
    "NAME",
    "KEY",
    "VALUE",
    "MAX",
    "ENTRIES",
    "FILL",
    "FLAGS",
    "MEMLOCK",
    "BTF",
    "OWNERS",
    "PROGS",
    "PINNED",
)


def table_row(r: MapRecord, c: EntryCount) -> tuple[str, ...]:
    i = r.info
    return (
        str(i.id),
        i.type_name,
        i.name,
        str(i.key_size),
        str(i.value_size),
        str(i.max_entries),
        c.entries_text(),
        c.fill_text(),
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


def record_json(r: MapRecord, c: EntryCount) -> dict:
    """``list --json`` / ``show --json``: the inventory record plus entries, fill and how they were
    counted."""
    return {**r.to_json(), **c.to_json()}


def count_records(records: list[MapRecord]) -> tuple[dict[int, EntryCount], str | None]:
    """Entry counts for ``records`` and, when the iterator is unavailable, why."""
    counter = Counter(read_budget_s=CLI_READ_BUDGET_S)
    return counter.count([r.info for r in records]), counter.reason


def run_groups(records: list[MapRecord], counts: dict[int, EntryCount], by: str, as_json: bool) -> int:
    groups = group_maps(records, by, counts, read_inner_maps(records))
    if as_json:
        json.dump([g.to_json() for g in groups], sys.stdout)
        sys.stdout.write("\n")
        return 0
    rows = [(g.key, str(len(g.map_ids)), str(g.entries), human_bytes(g.memlock),
             ",".join(map(str, g.map_ids))) for g in groups]
    print(format_table(rows, (by.upper(), "MAPS", "ENTRIES", "MEMLOCK", "IDS")))
    return 0


def run(args: argparse.Namespace) -> int:
    require_root()
    register_kernel_enum_names()
    records = collect()
    counts, _reason = count_records(records)
    if getattr(args, "by", None):
        return run_groups(records, counts, args.by, args.json)
    if args.json:
        json.dump([record_json(r, counts[r.info.id]) for r in records], sys.stdout)
        sys.stdout.write("\n")
    else:
        print(format_table([table_row(r, counts[r.info.id]) for r in records], COLUMNS))
    return 0
