"""ListIndex: the map list's rows by id with what sorting and filtering need, kept between refreshes.

A refresh of 20,000 maps usually changes a handful of them. The index compares the new rows with the last
ones (the same object, or equal), drops the cached sort values, search texts and rendered cells of the maps
that changed or went away, and reports which maps are new, gone or changed, so the table touches only those.
Sorting by a column uses one cached value per map and column (computed once per map); filtering tests a
cached lower-case search text. A source that says which maps changed since the rows the index last took
(``ListSnapshot.changed``/``base``) is taken at its word: only those maps are looked at, and the changes
say which sort columns moved, so a caller can patch its table in place. Pure: no textual here (the cells
are whatever the caller's ``render`` makes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mapexplorer.model import MapRow

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Changes:
    """What one :meth:`ListIndex.update` found: ids of maps that appeared, went away or changed."""

    new: frozenset[int]
    gone: frozenset[int]
    changed: frozenset[int]
    moved: frozenset[str] | None = None
    """The sort columns (and ``"text"``, the search text) whose value changed for a changed map, when
    known (None: any may have): a change outside these keeps every map in its place."""

    def __bool__(self) -> bool:
        return bool(self.new or self.gone or self.changed)


class ListIndex(Generic[C]):
    """Rows by id (in the source's order), per-column sort values, search texts and rendered cells."""

    def __init__(self, sort_value: Callable[[MapRow, str], Any], render: Callable[[MapRow], C]) -> None:
        self._sort_value = sort_value
        self._render = render
        self.rows: dict[int, MapRow] = {}
        """The current rows by id, in the order the source gave them (by id)."""
        self._keys: dict[str, dict[int, Any]] = {}
        self._text: dict[int, str] = {}
        self._cells: dict[int, C] = {}
        self._last: Iterable[MapRow] | None = None
        self._pos: dict[int, int] = {}
        """Map id -> position in the source's last rows (for a source that says what changed)."""

    def update(self, rows: Iterable[MapRow], changed_ids: Iterable[int] | None = None,
               base: Sequence[MapRow] | None = None) -> Changes:
        """Take a refresh's rows; forget what was cached about maps that changed or went away. The same
        sequence object as last time (a source that found nothing changed) is taken as unchanged.

        ``changed_ids``: the source's word that only these maps changed since its rows ``base`` (the same
        maps, in the same order). When ``base`` are the rows this index last took, only those maps are
        looked at, and the changes say which sort columns moved.
        """
        if isinstance(rows, tuple) and rows is self._last:
            return Changes(frozenset(), frozenset(), frozenset(), frozenset())
        last, self._last = self._last, rows
        if (changed_ids is not None and base is not None and base is last and isinstance(rows, tuple)
                and len(rows) == len(base) and self._pos):
            return self._patch(rows, changed_ids)
        fresh = {r.id: r for r in rows}
        old = self.rows
        new = frozenset(fresh.keys() - old.keys())
        gone = frozenset(old.keys() - fresh.keys())
        changed = frozenset(
            i for i, r in fresh.items() if (o := old.get(i)) is not None and o is not r and o != r
        )
        for i in gone | changed:
            for col in self._keys.values():
                col.pop(i, None)
            self._text.pop(i, None)
            self._cells.pop(i, None)
        self.rows = fresh
        self._pos = {i: n for n, i in enumerate(fresh)} if isinstance(rows, tuple) else {}
        return Changes(new, gone, changed)

    def _patch(self, rows: tuple[MapRow, ...], changed_ids: Iterable[int]) -> Changes:
        """:meth:`update` for a source that says which maps changed: O(changes)."""
        changed, moved = set(), set()
        for i in changed_ids:
            r = rows[self._pos[i]]
            o = self.rows.get(i)
            if o is None or o is r or o == r:
                continue
            changed.add(i)
            self.rows[i] = r
            for key, col in self._keys.items():
                value = self._sort_value(r, key)
                if col.get(i) != value:
                    moved.add(key)
                col[i] = value
            if i in self._text:
                text = r.search_text()
                if text != self._text[i]:
                    moved.add("text")
                self._text[i] = text
            self._cells.pop(i, None)
        return Changes(frozenset(), frozenset(), frozenset(changed), frozenset(moved))

    def invalidate(self, ids: Iterable[int] | None = None) -> None:
        """Forget the cached values of these maps (all when None): what they depend on changed."""
        if ids is None:
            self._keys.clear()
            self._text.clear()
            self._cells.clear()
            return
        for i in ids:
            for col in self._keys.values():
                col.pop(i, None)
            self._text.pop(i, None)
            self._cells.pop(i, None)

    def cells(self, map_id: int) -> C:
        """The rendered cells of one map (rendered once until it changes)."""
        c = self._cells.get(map_id)
        if c is None:
            c = self._cells[map_id] = self._render(self.rows[map_id])
        return c

    def search_text(self, map_id: int) -> str:
        t = self._text.get(map_id)
        if t is None:
            t = self._text[map_id] = self.rows[map_id].search_text()
        return t

    def order(self, sort_key: str, reverse: bool = False, needle: str = "") -> list[int]:
        """Ids of the rows containing ``needle`` (lower case) in their search text, sorted by ``sort_key``
        (ties in the source's order, reversed with ``reverse`` like ``list.sort``)."""
        col = self._keys.setdefault(sort_key, {})
        rows = self.rows
        if len(col) != len(rows):
            value = self._sort_value
            for i, r in rows.items():
                if i not in col:
                    col[i] = value(r, sort_key)
        if needle:
            text = self.search_text
            ids: Sequence[int] = [i for i in rows if needle in text(i)]
        else:
            ids = list(rows)
        return sorted(ids, key=col.__getitem__, reverse=reverse)
