"""Every message that crosses widgets or comes back from a worker, as dataclasses.

Workers post these with immutable payloads (snapshots from :mod:`mapexplorer.model`); "latest value"
messages implement ``can_replace`` so that a slow UI drops stale frames instead of queueing them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from textual.message import Message

from mapexplorer.histogram import HistSet
from mapexplorer.model import ListSnapshot, MapSnapshot
from mapexplorer.progmodel import ProgListSnapshot


@dataclass
class MapListReady(Message):
    """A new list of every map."""

    snapshot: ListSnapshot
    cost: float = 0.0
    """CPU seconds the worker spent reading it (the refresh budget counts them)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MapListReady)


@dataclass
class MapFrame(Message):
    """A new snapshot of the open map, with the previous one and the rows to show in view order."""

    snapshot: MapSnapshot
    previous: MapSnapshot | None
    prev_index: dict[bytes, int] | None
    """Key -> row in ``previous`` when the key order changed (None: same order, or too big to index)."""
    order: Sequence[int] | np.ndarray | None
    """Rows of ``snapshot`` to show (filtered/sorted), None for all in map order."""
    read: MapSnapshot | None = None
    """What was read, when ``snapshot`` is a view made from it (only the changes since the mark)."""
    since: tuple[int, int, int] | None = None
    """(added, removed, changed) since the mark, when ``snapshot`` shows only those."""
    ordered: int = 0
    """The sort/filter request (the map view's count of them) whose order this frame carries."""
    cost: float = 0.0
    """CPU seconds the worker spent on it (the refresh budget counts them)."""
    full: bool = False
    """``snapshot`` is a new read of every entry (not the same one with the rows on screen looked up)."""
    paced: bool = True
    """A refresh (its cost counts in the budget); False for a sort/filter asked for, or the first rows."""

    def can_replace(self, message: Message) -> bool:
        # a frame never drops a queued one carrying a newer sort/filter result
        return (isinstance(message, MapFrame) and message.snapshot.map_id == self.snapshot.map_id
                and message.ordered <= self.ordered)


@dataclass
class OrderProgress(Message):
    """How far a sort/filter of a map's entries has got (a worker's progress report)."""

    map_id: int
    ordered: int
    """The sort/filter request it works for."""
    fraction: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, OrderProgress) and message.map_id == self.map_id


@dataclass
class EntryFrame(Message):
    """A fresh read of one entry (drill-down)."""

    snapshot: MapSnapshot


@dataclass
class MapVanished(Message):
    """The map being viewed no longer exists."""

    map_id: int
    reason: str


@dataclass
class SourceFailed(Message):
    """A read failed for a reason the user should see (permission, unsupported operation, ...)."""

    what: str
    reason: str


@dataclass
class NoPermission(Message):
    """The kernel refused a read with EPERM: the explorer cannot work here (``explanation`` says why)."""

    explanation: str


@dataclass
class OpenMap(Message):
    """Ask the app to open the map view of ``map_id``."""

    map_id: int


@dataclass
class HistFrame(Message):
    """A fresh read of a histogram map: every histogram in it, and when it was read."""

    hists: HistSet
    taken_at: float

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HistFrame)


@dataclass
class ProgListReady(Message):
    """A new list of every program (with run counters)."""

    snapshot: ProgListSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgListReady)
