"""KeyedTable: a DataTable kept in step with a keyed, ordered list by touching only what changed.

The map list shows 20,000 maps and refreshes every second. Clearing the table and adding every row again at
each refresh cost ~40 % of a core at idle (each added row is measured cell by cell). :meth:`KeyedTable.sync`
instead removes the rows that went away (in one pass), adds the new ones, updates the cells that changed and
reorders by rewriting the row order once (what ``DataTable.sort`` does): an idle refresh touches nothing,
and a sort or a narrowing filter re-creates no row. The cursor stays on its key.

Relies on DataTable's row bookkeeping (``_row_locations``, ``_data``, ``rows``) as in textual 8.2.8 (pinned in
pyproject): ``remove_row`` rebuilds the whole row index per call, O(n) each, 20 s for 1,000 rows of 20,000.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, RowKey


class KeyedTable(DataTable):
    """A DataTable whose rows are identified by string keys and updated with :meth:`sync`."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None,
                 cursor_type: str = "row", zebra_stripes: bool = True) -> None:
        super().__init__(name=name, id=id, classes=classes, cursor_type=cursor_type,  # type: ignore[arg-type]
                         zebra_stripes=zebra_stripes)
        self.order: list[str] = []
        """The keys of the rows shown, in display order."""

    def current_key(self) -> str | None:
        """The key of the row under the cursor."""
        if 0 <= self.cursor_row < len(self.order):
            return self.order[self.cursor_row]
        return None

    def sync(self, order: Sequence[str], cells: Callable[[str], Sequence[object]],
             changed: Collection[str] = ()) -> None:
        """Show exactly the rows ``order``, in that order.

        ``cells(key)`` gives a row's cells, called for new rows and for the keys in ``changed`` (of those only
        the cells that differ are updated). Rows neither new nor changed are left alone. The cursor stays on
        its key while that row is shown; otherwise it stays at its index (within the table).
        """
        order = list(order)
        if order == self.order and not changed:
            return
        cur_key, cur_index = self.current_key(), self.cursor_row
        wanted = set(order)
        gone = [k for k in self.order if k not in wanted]
        if gone:
            self._remove_rows(gone)
        columns = [c.key for c in self.ordered_columns]
        for key in changed:
            data = self._data.get(RowKey(key))
            if data is None or key not in wanted:
                continue
            for column, value in zip(columns, cells(key), strict=True):
                if data.get(column) != value:
                    self.update_cell(key, column, value, update_width=True)
        present = self._data
        for key in order:
            if RowKey(key) not in present:
                self.add_row(*cells(key), key=key)
        self._set_order(order)
        if cur_key is not None and cur_key in wanted:
            self.move_cursor(row=order.index(cur_key), animate=False)
        elif order:
            self.move_cursor(row=min(max(cur_index, 0), len(order) - 1), animate=False)

    def _remove_rows(self, keys: Sequence[str]) -> None:
        """Remove these rows with one rebuild of the row index (``remove_row`` rebuilds it per row)."""
        gone = set(keys)
        for key in keys:
            rk = RowKey(key)
            for column in self._data.get(rk, {}):
                self._updated_cells.discard(CellKey(rk, column))
            self._new_rows.discard(rk)
            self.rows.pop(rk, None)
            self._data.pop(rk, None)
        self.order = [k for k in self.order if k not in gone]
        self._row_locations = TwoWayDict({RowKey(k): i for i, k in enumerate(self.order)})
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate  # clamped to the rows left
        self.refresh(layout=True)

    def _set_order(self, order: list[str]) -> None:
        """Display the rows in this order (all of them present): one index rewrite, like ``sort``."""
        if order != self.order or len(self._row_locations._forward) != len(order):
            self._row_locations = TwoWayDict({RowKey(k): i for i, k in enumerate(order)})
            self._update_count += 1
            self.refresh()
        self.order = order

    def clear(self, columns: bool = False) -> KeyedTable:
        self.order = []
        super().clear(columns)
        return self
