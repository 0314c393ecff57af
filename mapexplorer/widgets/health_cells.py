"""Map-health cells for the map list: entries, fill with colour bands (80 % / 95 %), the LRU note (plain
text and style names: the list draws them with the Line API), the summary line, and the memory-by-owner
table. UI only: the numbers come in the rows the source sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.widgets import DataTable

from mapexplorer.fill import INDEXED_TYPES, LRU_TYPES, WARN_FILL, fill_band
from mapexplorer.memory import GROUPINGS, Group, Member, group_maps
from mapexplorer.model import MapRow
from mapexplorer.units import human_bytes

DASH = "\u2013"
BAND_STYLE = {"crit": "bold red", "warn": "yellow", "": ""}


@dataclass(frozen=True, slots=True)
class Cell:
    """A map-list cell as plain text: the text, its style, and a dim note drawn after it (``" evicts"``)."""

    text: str
    style: str = ""
    note: str = ""


def entries_cell(r: MapRow) -> Cell:
    """``1,234``, ``~1,234`` (from an earlier read), ``counting``, ``peek`` or a dash."""
    c = r.count
    if c is None:
        return Cell("…", "dim")
    if c.entries is not None:
        return Cell(f"{'~' if c.approx else ''}{c.entries:,}", "dim" if c.approx else "")
    if c.pending:
        return Cell("counting", "dim italic")
    return Cell("peek" if r.type_name in ("queue", "stack") else DASH, "dim")


def fill_cell(r: MapRow) -> Cell:
    """Fill in per cent, coloured at 80 % and 95 % (index-keyed maps such as arrays stay dim); ringbufs
    show their backlog; LRU maps say they evict instead of failing once full."""
    c = r.count
    if c is None or c.fill is None:
        return Cell("counting" if c is not None and c.pending else DASH, "dim")
    pct = f"{'~' if c.approx else ''}{c.fill * 100:.1f}%"
    if r.type_name in INDEXED_TYPES:
        return Cell(pct, "dim")
    note = ""
    if r.type_name in LRU_TYPES and c.fill >= WARN_FILL:
        note = " evicts"
    elif c.backlog is not None:
        note = " backlog"
    return Cell(pct, BAND_STYLE[fill_band(c.fill, r.type_name)], note)


def fill_sort_value(r: MapRow) -> float:
    """Fill for sorting (index-keyed maps after every other map at the same fill; unknown last)."""
    c = r.count
    if c is None or c.fill is None:
        return -1.0
    return c.fill - (0.001 if r.type_name in INDEXED_TYPES else 0.0)


def summary(rows: Sequence[MapRow]) -> str:
    """``N maps · X memlock · K above 80 %`` (index-keyed maps such as arrays are not counted)."""
    above = memlock = 0
    unread = False
    for r in rows:  # one pass (20,000 maps at every refresh)
        if r.memlock >= 0:
            memlock += r.memlock
        else:
            unread = True  # a quick first listing
        c = r.count
        if c is not None and c.fill is not None and c.fill >= WARN_FILL and r.type_name not in INDEXED_TYPES:
            above += 1
    mem = human_bytes(memlock) + ("+" if unread else "") if memlock or not unread else "…"
    return f"{len(rows)} maps · {mem} memlock · {above} above 80 %"


def members(rows: Sequence[MapRow]) -> list[Member]:
    return [Member(r.id, r.name, r.memlock, r.owners, r.pinned, r.count.entries if r.count else None)
            for r in rows]


class GroupTable(DataTable):
    """Memory by owner: the maps grouped by owning process, bpffs directory or name, with totals."""

    DEFAULT_CSS: ClassVar[str] = "GroupTable { height: 1fr; }"

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self.by = GROUPINGS[0]
        self.groups: list[Group] = []

    def show(self, rows: Sequence[MapRow], inner: Mapping[int, Sequence[int]], by: str) -> None:
        """Fill the table with the groups of ``rows`` by ``by`` (largest memlock first)."""
        groups = group_maps(members(rows), by, inner)
        if by == self.by and groups == self.groups and self.columns:
            return
        cursor = self.cursor_row
        self.by, self.groups = by, groups
        self.clear(columns=True)
        labels = {"owner": "Owner", "pin-dir": "Pin directory", "name": "Name"}
        self.add_column(labels[by], key="group")
        self.add_column("Maps", key="maps")
        self.add_column("Entries", key="entries")
        self.add_column("Memlock", key="memlock")
        self.add_column("Map ids", key="ids")
        for g in groups:
            self.add_row(
                g.key,
                Text(str(len(g.map_ids)), justify="right"),
                Text(f"{g.entries:,}", justify="right"),
                Text(human_bytes(g.memlock), justify="right"),
                ", ".join(map(str, g.map_ids)),
                key=g.key,
            )
        if groups:
            self.move_cursor(row=min(max(cursor, 0), len(groups) - 1), animate=False)

    def current_group(self) -> Group | None:
        if 0 <= self.cursor_row < len(self.groups):
            return self.groups[self.cursor_row]
        return None
