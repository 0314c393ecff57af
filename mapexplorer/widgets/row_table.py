"""RowTable: a virtual table of short text rows (the programs screen), drawn with the Line API.

A DataTable measures every cell of every row with Rich whenever rows are added: with 500 programs whose
order changes at every refresh (sorting by CPU%), rebuilding it took ~0.6 s a second. This table keeps the
rows as plain strings, sizes columns from string lengths and renders only the lines on screen, so a refresh
costs the same whether 10 or 10,000 rows exist. The header stays at the top; ← → scroll horizontally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
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
    """One row: a key (kept under the cursor across updates), one text per column, and per-column styles
    (``"bold"``, ``"cyan"``, ``"yellow"``...; "" for the default)."""

    key: str
    cells: tuple[str, ...]
    styles: tuple[str, ...] = ()
    lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lengths", tuple(len(c) for c in self.cells))


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
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: tuple[Column, ...] = tuple(columns)
        self.rows: tuple[Row, ...] = ()
        self._widths: list[int] = [len(c.label) for c in self.columns]
        self._index: dict[str, int] = {}
        self._styles: dict[tuple[Style, str], Style] = {}

    # -- data --------------------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Show these rows (in this order); the cursor stays on the same key when it is still there."""
        current = self.current_key()
        old_rows, old_widths = self.rows, self._widths
        self.rows = tuple(rows)
        self._index = {r.key: i for i, r in enumerate(self.rows)}
        widths = [len(c.label) for c in self.columns]
        if self.rows:
            widest = [max(col) for col in zip(*(r.lengths for r in self.rows), strict=True)]
            widths = [max(a, b) for a, b in zip(widths, widest, strict=True)]
        self._widths = [min(w, c.max_width) for w, c in zip(widths, self.columns, strict=True)]
        same_layout = self._widths == old_widths and len(old_rows) == len(self.rows)
        size = Size(self._total_width(), len(self.rows) + 1)
        if size != self.virtual_size:
            self.virtual_size = size
        cursor = self.cursor_row
        if current is not None and current in self._index:
            self.cursor_row = self._index[current]
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

    def current_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row].key
        return None

    def move_to_key(self, key: str) -> None:
        if key in self._index:
            self.cursor_row = self._index[key]

    def cell(self, key: str, column: str) -> str:
        """The text of one cell (tests and the screen's own checks)."""
        j = [c.key for c in self.columns].index(column)
        return self.rows[self._index[key]].cells[j]

    def _total_width(self) -> int:
        return sum(self._widths) + 2 * len(self._widths)

    # -- rendering ---------------------------------------------------------------------------------------

    def _style(self, base: Style, name: str) -> Style:
        key = (base, name)
        style = self._styles.get(key)
        if style is None:
            if len(self._styles) > 256:
                self._styles.clear()
            style = self._styles[key] = base + Style.parse(name)
        return style

    def _line(self, cells: Sequence[str], styles: Sequence[str], base: Style) -> list[Segment]:
        segs: list[Segment] = []
        for j, (col, width) in enumerate(zip(self.columns, self._widths, strict=True)):
            text = cells[j] if j < len(cells) else ""
            if len(text) > width:
                text = text[: max(width - 1, 0)] + "…"
            text = text.rjust(width) if col.numeric else text.ljust(width)
            name = styles[j] if j < len(styles) else ""
            style = self._style(base, name) if name else base
            segs.append(Segment(" " + text + " ", style))
        return segs

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            base = self.get_component_rich_style("row-table--header")
            segs = self._line([c.label for c in self.columns], (), base)
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
            segs = self._line(row.cells, row.styles if i != self.cursor_row else (), base)
        return Strip(segs).crop(scroll_x, scroll_x + width).extend_cell_length(width, base)

    # -- cursor ------------------------------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh()
        height = max(self.size.height - 1, 1)
        top = self.scroll_offset.y
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False)

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
