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
    """A map id from the user's text (an id, or a name matching exactly one map).

    Raises:
        UserError: no map with that id or name, or the name is ambiguous.
    """
    try:
        return maps.find_map(ref)
    except LookupError as exc:
        raise UserError(str(exc)) from None
