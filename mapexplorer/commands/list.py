"""``mapexplorer list``: every map with its facts, entry counts and fill, owners, programs and pins;
``--by owner|pin-dir|name``: memory by owner instead (maps grouped, with counts and memlock totals).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from mapexplorer.codec import register_kernel_enum_names
from mapexplorer.commands import require_root
from mapexplorer.commands.list_json import records_text
from mapexplorer.doctor import read_inner_maps
from mapexplorer.kernel.health import Counter, EntryCount
from mapexplorer.kernel.inventory import MapRecord, collect
from mapexplorer.memory import group_maps, members_from_records
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


LIST_COLUMNS = ("OWNERS", "PROGS", "PINNED")
"""Columns holding lists: shortened to their first items and ``+N`` when the table is wider than the
terminal."""


def first_items(items: list[str], n: int) -> str:
    """``a,b`` then ``+3`` for the rest; ``-`` for none."""
    if not items:
        return "-"
    more = len(items) - n
    return ",".join(items[:n]) + (f",+{more}" if more > 0 else "")


def table_row(r: MapRecord, c: EntryCount, keep: int | None = None) -> tuple[str, ...]:
    """One line's cells; ``keep``: at most this many owners / programs / pins, then ``+N``."""
    i = r.info
    k = 1 << 30 if keep is None else keep
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
        first_items([f"{o.comm}[{o.pid}]" for o in r.owners], k),
        first_items([p.name or str(p.id) for p in r.progs], k),
        first_items(list(r.pinned), k),
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
    groups = group_maps(members_from_records(records, counts), by, read_inner_maps(records))
    if as_json:
        json.dump([g.to_json() for g in groups], sys.stdout)
        sys.stdout.write("\n")
        return 0
    rows = [(g.key, str(len(g.map_ids)), str(g.entries), human_bytes(g.memlock),
             ",".join(map(str, g.map_ids))) for g in groups]
    print(format_table(rows, (by.upper(), "MAPS", "ENTRIES", "MEMLOCK", "IDS")))
    return 0


def terminal_width() -> int | None:
    """The terminal's width when stdout is one (or $COLUMNS is set); None for a pipe (full lines)."""
    if "COLUMNS" in os.environ or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def fitted_table(records: list[MapRecord], counts: dict[int, EntryCount], width: int | None) -> str:
    """The table, its list columns shortened (3, 2, then 1 item and ``+N``) until it fits ``width``;
    lines still too wide end with ``…``."""
    text = format_table([table_row(r, counts[r.info.id]) for r in records], COLUMNS)
    if width is None:
        return text
    for keep in (3, 2, 1):
        if max(map(len, text.splitlines())) <= width:
            return text
        text = format_table([table_row(r, counts[r.info.id], keep) for r in records], COLUMNS)
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in text.splitlines())


def run(args: argparse.Namespace) -> int:
    require_root()
    register_kernel_enum_names()
    records = collect()
    counts, _reason = count_records(records)
    if getattr(args, "by", None):
        return run_groups(records, counts, args.by, args.json)
    if args.json:
        # the text json.dumps would print for record_json's dicts, written per map from one template
        sys.stdout.write(records_text((r, counts[r.info.id]) for r in records) + "\n")
    else:
        print(fitted_table(records, counts, terminal_width()))
    return 0
