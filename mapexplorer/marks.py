""""What changed since the mark" for the map view: from a marked snapshot and the current one, a snapshot
holding only the keys added (``+``), removed (``-``, with their marked value) or changed (``~``), and the
snapshot to compare it with so that the changed fields are highlighted and the Δ/rate columns count since
the mark. Pure: no kernel, no textual.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from mapexplorer.diffing import raw_changes
from mapexplorer.model import MapSnapshot


@dataclass(frozen=True, slots=True)
class SinceMark:
    view: MapSnapshot
    """Added, then changed, then removed entries; keys decode with their sign in front."""
    marked: MapSnapshot
    """The same rows with the marked values (added/removed rows: their own values: nothing highlighted)."""
    added: int
    removed: int
    changed: int


class SignedKeys:
    """A decoder showing each key with ``+``/``-``/``~`` in front (values decode as the map's decoder)."""

    def __init__(self, base: Any, signs: dict[bytes, str]) -> None:
        self.base = base
        self.signs = signs

    def decode_key(self, b: bytes) -> Any:
        key = self.base.decode_key(b)
        text = key if isinstance(key, str) else json.dumps(key)
        return f"{self.signs.get(b, ' ')} {text}"

    def decode_value(self, b: bytes) -> Any:
        return self.base.decode_value(b)

    def decode_percpu(self, b: bytes) -> list[Any]:
        return self.base.decode_percpu(b)


def comparable(mark: MapSnapshot, snap: MapSnapshot) -> bool:
    return (mark.kind == snap.kind == "entries" and mark.key_size == snap.key_size
            and mark.stride == snap.stride and mark.map_id == snap.map_id)


def since_mark(mark: MapSnapshot, snap: MapSnapshot) -> SinceMark:
    """Only what differs between ``mark`` and ``snap`` (see the module docstring). Both must be
    :func:`comparable`."""
    ks, st = snap.key_size, snap.stride
    added, removed, changed = raw_changes(mark.keys, mark.values, mark.count, snap.keys, snap.values,
                                          snap.count, ks, st)
    rows: list[tuple[str, bytes, bytes, bytes]] = []  # (sign, key, value now, value at the mark)
    rows.extend(("+", snap.key_raw(j), snap.value_raw(j), snap.value_raw(j)) for j in added)
    rows.extend(("~", snap.key_raw(j), snap.value_raw(j), mark.value_raw(i)) for i, j in changed)
    rows.extend(("-", mark.key_raw(i), mark.value_raw(i), mark.value_raw(i)) for i in removed)
    signs = {k: sign for sign, k, _, _ in rows}
    keys = [k for _, k, _, _ in rows]
    values = [v for _, _, v, _ in rows]
    before = [b for _, _, _, b in rows]
    decoder = SignedKeys(snap.decoder, signs)
    view = replace(snap, keys=b"".join(keys), values=b"".join(values), count=len(keys), decoder=decoder)
    marked = replace(mark, keys=view.keys, values=b"".join(before), count=len(keys), decoder=decoder)
    return SinceMark(view, marked, len(added), len(removed), len(changed))
