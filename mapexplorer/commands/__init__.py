"""One module per CLI subcommand, each with ``run(args) -> int``, and the helpers they share."""

from __future__ import annotations

import os

from mapexplorer.errors import UserError
from mapexplorer.kernel import maps


def require_root() -> None:
    """Fail early with the one-line message when the bpf() syscall cannot work for us."""
    if os.geteuid() != 0:
        raise PermissionError


def resolve_map(ref: str) -> int:
    """A map id from the user's text: a number, or a name matching exactly one map.

    Raises:
        UserError: no map with that id or name, or the name is ambiguous.
    """
    if ref.isdigit():
        map_id = int(ref)
        try:
            os.close(maps.open_map(map_id))
        except FileNotFoundError:
            raise UserError(f"no map with id {map_id}") from None
        return map_id
    found = []
    for mid in maps.map_ids():
        try:
            if maps.map_info_by_id(mid).name == ref:
                found.append(mid)
        except FileNotFoundError:
            continue
    if not found:
        raise UserError(f"no map named {ref!r}")
    if len(found) > 1:
        ids = ", ".join(map(str, found))
        raise UserError(f"{len(found)} maps are named {ref!r} (ids {ids}): give an id")
    return found[0]
