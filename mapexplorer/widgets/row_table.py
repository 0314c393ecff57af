"""RowTable: a virtual table of short text rows (the programs screen), drawn with the Line API.

A DataTable measures every cell of every row with Rich whenever rows are added: with 500 programs whose
order changes at every refresh (sorting by CPU%), rebuilding it took ~0.6 s a second. This table keeps the
rows as plain strings, sizes columns from string lengths and renders only the lines on screen, so a refresh
costs the same whether 10 or 10,000 rows exist. The header stays at the top; ← → scroll horizontally.

The map list (20,000 maps) uses it too: a cell may end in a differently styled tail (``Row.spans``: the
``evicts`` note after a fill), the header can show the sort arrow and underline the column under a column
cursor (``sort_arrows``, :meth:`RowTable.set_header`), and rows identical to the shown ones repaint nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its key (for sorting and cell styles), header label, alignment and widest width."""

    key: str
    label: str
    numeric: bool = False
    max_width: int = 48


@dataclass(frozen=True, slots=True)
class Row:
    """One row: a key (kept under the cursor across updates), one text per column, per-column styles
    (``"bold"``, ``"cyan"``, ``"yellow"``...; "" for the default) and ``spans``: (column, offset, style),
    the cell's text from ``offset`` on drawn with ``style`` added to the cell's (a dim note after a value)."""

    key: str
    cells: tuple[str, ...]
    styles: tuple[str, ...] = ()
    spans: tuple[tuple[int, int, str], ...] = ()
    lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lengths", tuple(map(len, self.cells)))


class RowTable(ScrollView, can_focus=True):
    """A keyboard-driven table of :class:`Row` values; Enter posts :class:`RowTable.Selected`."""

    DEFAULT_CSS = """
    RowTable {
        height: 1fr;
        background: $surface;
    }
    RowTable > .row-table--header { color: $text; text-style: bold; background: $panel; }
    RowTable > .row-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground;
                                    text-style: bold; }
    RowTable > .row-table--odd { background: $surface-darken-1; }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {"row-table--header", "row-table--cursor", "row-table--odd"}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("left", "scroll_left", "Left", show=False),
        Binding("right", "scroll_right", "Right", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    cursor_row: reactive[int] = reactive(0)
    """Index of the highlighted row (in display order)."""

    class Selected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RowTable:
            return self.table

    class HeaderClicked(Message):
        """A click on a column header."""

        def __init__(self, table: RowTable, column: str) -> None:
            super().__init__()
            self.table = table
            self.column = column

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        sort_arrows: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: tuple[Column, ...] = tuple(columns)
        self.rows: tuple[Row, ...] = ()
        self.sort_arrows = sort_arrows
        """The header keeps two cells after each label for the sort arrow (▲ ▼) of :meth:`set_header`."""
        self.sort_key: str | None = None
        self.sort_reverse = False
        self.cursor_column: int | None = None
        """Index of the column under the column cursor (underlined in the header), or None."""
        self._widths: list[int] = [self._label_width(c) for c in self.columns]
        self._widest_cells: list[int] = list(self._widths)
        self._labels = list(self._widths)
        self._lengths: list[dict[int, int]] = []
        """Per column: cell length -> how many rows have it (the widths follow the rows incrementally)."""
        self._index: dict[str, int] | None = {}
        self._styles: dict[tuple[Style, str], Style] = {}

    # -- data --------------------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def _label_width(self, column: Column) -> int:
        return len(column.label) + (2 if self.sort_arrows else 0)

    def _widest(self, new: tuple[Row, ...], old: tuple[Row, ...]) -> list[int]:
        """Each column's widest cell (labels included, before ``max_width``) over ``new``.

        The table keeps, per column, how many rows have each cell length. Rows that stayed (the same
        objects, in any order: a sort, a refresh where a few maps changed) are not looked at again; only
        the rows that came and went update the counts, unless most rows changed (then all are counted)."""
        moved = self._moved(new, old) if old and self._lengths else None
        if moved is None:
            lengths = zip(*[r.lengths for r in new], strict=True) if new else ()
            self._lengths = [Counter(col) for col in lengths]
        else:
            for rows, step in zip(moved, (1, -1), strict=True):
                for r in rows:
                    for counts, n in zip(self._lengths, r.lengths, strict=True):
                        left = counts.get(n, 0) + step
                        if left:
                            counts[n] = left
                        else:
                            del counts[n]
        if not self._lengths:
            return list(self._labels)
        return [max(w, max(counts, default=0)) for w, counts in zip(self._labels, self._lengths, strict=True)]

    @staticmethod
    def _moved(new: tuple[Row, ...], old: tuple[Row, ...]) -> tuple[list[Row], list[Row]] | None:
        """(rows that came, rows that went) between ``old`` and ``new``, or None when most rows did."""
        if len(new) == len(old):  # a refresh in the same order: a few rows replaced in place
            diff = [i for i, (a, b) in enumerate(zip(new, old, strict=True)) if a is not b]
            if len(diff) <= 1024:
                return [new[i] for i in diff], [old[i] for i in diff]
        kept = set(map(id, old))
        came = [r for r in new if id(r) not in kept]
        if len(came) > max(1024, len(new) // 4):
            return None
        now = set(map(id, new))
        return came, [r for r in old if id(r) not in now]

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Show these rows (in this order); the cursor stays on the same key when it is still there.
        Rows equal to the ones shown (the same objects, usually) change nothing and repaint nothing."""
        new_rows = tuple(rows)
        if new_rows == self.rows:
            return
        current = self.current_key()
        old_rows, old_widths = self.rows, self._widths
        self.rows = new_rows
        self._index = None
        self._widest_cells = self._widest(new_rows, old_rows)
        self._widths = [min(w, c.max_width) for w, c in zip(self._widest_cells, self.columns, strict=True)]
        same_layout = self._widths == old_widths and len(old_rows) == len(self.rows)
        size = Size(self._total_width(), len(self.rows) + 1)
        if size != self.virtual_size:
            self.virtual_size = size
        cursor = self.cursor_row
        if current is not None and cursor < len(new_rows) and new_rows[cursor].key == current:
            pass  # still under the cursor
        elif current is not None and current in self.index:
            self.cursor_row = self.index[current]
        else:
            self.cursor_row = min(self.cursor_row, max(len(self.rows) - 1, 0))
        if same_layout and self.cursor_row == cursor:
            # repaint only the rows on screen that changed (most programs are idle between refreshes)
            top = self.scroll_offset.y
            for i in range(top, min(top + self.size.height, len(self.rows))):
                if self.rows[i] is not old_rows[i]:
                    self.refresh_lines(i + 1)
        else:
            self.refresh()

    @property
    def index(self) -> dict[str, int]:
        """Row key -> position (made when first asked after the rows changed)."""
        if self._index is None:
            self._index = {r.key: i for i, r in enumerate(self.rows)}
        return self._index

    def current_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row].key
        return None

    def move_to_key(self, key: str) -> None:
        if key in self.index:
            self.cursor_row = self.index[key]

    def cell(self, key: str, column: str) -> str:
        """The text of one cell (tests and the screen's own checks)."""
        j = [c.key for c in self.columns].index(column)
        return self.rows[self.index[key]].cells[j]

    def _total_width(self) -> int:
        return sum(self._widths) + 2 * len(self._widths)

    def set_header(self, sort_key: str | None, reverse: bool = False,
                   cursor_column: int | None = None) -> None:
        """The sorted column (an arrow after its label, with ``sort_arrows``) and the column under the column
        cursor (underlined); repaints the header line only when something changed."""
        state = (sort_key, reverse, cursor_column)
        if state == (self.sort_key, self.sort_reverse, self.cursor_column):
            return
        self.sort_key, self.sort_reverse, self.cursor_column = state
        self.refresh(Region(0, 0, self.size.width, 1))

    def column_span(self, index: int) -> tuple[int, int]:
        """(x, width) of column ``index`` in the table's virtual width (its padding included)."""
        x = sum(w + 2 for w in self._widths[:index])
        return x, self._widths[index] + 2

    def show_column(self, index: int) -> None:
        """Scroll sideways as little as needed to show column ``index`` whole."""
        x, width = self.column_span(index)
        view = self.scrollable_content_region.width
        if x < self.scroll_x:
            self.scroll_to(x=x, animate=False, force=True)
        elif x + width > self.scroll_x + view:
            self.scroll_to(x=min(x, x + width - view), animate=False, force=True)

    # -- rendering ---------------------------------------------------------------------------------------

    def _style(self, base: Style, name: str) -> Style:
        key = (base, name)
        style = self._styles.get(key)
        if style is None:
            if len(self._styles) > 256:
                self._styles.clear()
            style = self._styles[key] = base + Style.parse(name)
        return style

    def _line(self, cells: Sequence[str], styles: Sequence[str], base: Style,
              spans: Sequence[tuple[int, int, str]] = ()) -> list[Segment]:
        segs: list[Segment] = []
        tails = {j: (offset, name) for j, offset, name in spans}
        for j, (col, width) in enumerate(zip(self.columns, self._widths, strict=True)):
            text = cells[j] if j < len(cells) else ""
            length = len(text)
            if length > width:
                text = text[: max(width - 1, 0)] + "…"
            padded = text.rjust(width) if col.numeric else text.ljust(width)
            name = styles[j] if j < len(styles) else ""
            style = self._style(base, name) if name else base
            tail = tails.get(j)
            if tail is None or tail[0] >= len(text):
                segs.append(Segment(" " + padded + " ", style))
                continue
            cut = (width - len(text) if col.numeric else 0) + tail[0]  # where the tail starts in `padded`
            segs.append(Segment(" " + padded[:cut], style))
            segs.append(Segment(padded[cut:] + " ", self._style(style, tail[1])))
        return segs

    def _header_line(self, base: Style) -> list[Segment]:
        """The labels, the sort arrow after the sorted one's, the one under the column cursor underlined."""
        segs: list[Segment] = []
        for j, (col, width) in enumerate(zip(self.columns, self._widths, strict=True)):
            label = col.label
            if self.sort_arrows and col.key == self.sort_key:
                label += " ▼" if self.sort_reverse else " ▲"
            label = label[:width]
            pad = " " * (width - len(label))
            left, right = (pad, "") if col.numeric else ("", pad)
            if j == self.cursor_column:
                segs += [Segment(" " + left, base), Segment(label, self._style(base, "underline")),
                         Segment(right + " ", base)]
            else:
                segs.append(Segment(" " + left + label + right + " ", base))
        return segs

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            base = self.get_component_rich_style("row-table--header")
            segs = self._header_line(base)
        else:
            i = scroll_y + y - 1
            if i >= len(self.rows):
                return Strip.blank(width, self.rich_style)
            row = self.rows[i]
            if i == self.cursor_row:
                base = self.get_component_rich_style("row-table--cursor")
            elif i % 2:
                base = self.get_component_rich_style("row-table--odd")
            else:
                base = self.rich_style
            if i == self.cursor_row:
                segs = self._line(row.cells, (), base)
            else:
                segs = self._line(row.cells, row.styles, base, row.spans)
        return Strip(segs).crop(scroll_x, scroll_x + width).extend_cell_length(width, base)

    # -- cursor ------------------------------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh()
        height = max(self.size.height - 1, 1)
        top = self.scroll_offset.y
        if new < top:
            self.scroll_to(y=new, animate=False, force=True)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False, force=True)

    def _move(self, delta: int) -> None:
        if self.rows:
            self.cursor_row = max(0, min(len(self.rows) - 1, self.cursor_row + delta))

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_page_up(self) -> None:
        self._move(-max(self.size.height - 2, 1))

    def action_page_down(self) -> None:
        self._move(max(self.size.height - 2, 1))

    def action_first(self) -> None:
        self._move(-len(self.rows))

    def action_last(self) -> None:
        self._move(len(self.rows))

    def action_select(self) -> None:
        key = self.current_key()
        if key is not None:
            self.post_message(self.Selected(self, key))

    def _column_at(self, x: int) -> str | None:
        pos = self.scroll_offset.x + x
        for col, width in zip(self.columns, self._widths, strict=True):
            if pos < width + 2:
                return col.key
            pos -= width + 2
        return None

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.post_message(self.HeaderClicked(self, column))
            return
        i = self.scroll_offset.y + event.y - 1
        if 0 <= i < len(self.rows):
            self.cursor_row = i
            if event.chain >= 2:
                self.action_select()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
