"""One module per CLI subcommand, each with ``run(args) -> int``, and the helpers they share."""

from __future__ import annotations

import os

from mapexplorer import caps
from mapexplorer.errors import NoPermission, UserError
from mapexplorer.kernel import maps


def require_caps() -> None:
    """Fail early, naming the missing capabilities, when the bpf() calls cannot work for us.

    The effective capabilities decide, not the user id (container root may lack them; a non-root user
    may have them).

    Raises:
        NoPermission: CAP_SYS_ADMIN (or CAP_BPF and CAP_SYS_ADMIN) missing.
    """
    missing = caps.missing_caps()
    if missing:
        raise NoPermission(caps.permission_message(missing))


require_root = require_caps  # the name the subcommands use


def resolve_map(ref: str) -> int:
    """A map id from the user's text (an id, or a name matching exactly one map).

    Raises:
        UserError: no map with that id or name, or the name is ambiguous.
    """
    try:
        return maps.find_map(ref)
    except LookupError as exc:
        raise UserError(str(exc)) from None


def open_map_arg(ref: str) -> maps.Map:
    """Resolve the user's map reference (see :func:`resolve_map`) and open the map read-only.

    Raises:
        UserError: no such map, an ambiguous name, or the map went away between the two steps.
    """
    map_id = resolve_map(ref)
    try:
        return maps.Map.open(map_id)
    except FileNotFoundError:
        raise UserError(f"map {map_id} is gone") from None


def resolve_map_items(ref: str, items: list[str]) -> tuple[int, list[str]]:
    """The map id and the remaining positional items; ``pinned PATH`` takes the first item as the path.

    Raises:
        UserError: no such map / pin, or the name is ambiguous.
    """
    if ref != "pinned":
        return resolve_map(ref), items
    if not items:
        raise UserError("pinned: give the bpffs path of the map (pinned /sys/fs/bpf/NAME)")
    path, rest = items[0], items[1:]
    try:
        fd = maps.obj_get(path)
    except FileNotFoundError:
        raise UserError(f"nothing is pinned at {path}") from None
    except PermissionError:
        raise UserError(f"{path} is not a pinned BPF object (or not on a bpffs mount)") from None
    try:
        return maps.map_info(fd).id, rest
    except OSError:
        raise UserError(f"{path} is not a pinned map") from None
    finally:
        os.close(fd)


def _is_hex_byte(token: str) -> bool:
    t = token[2:] if token.lower().startswith("0x") else token
    return 1 <= len(t) <= 2 and all(c in "0123456789abcdefABCDEF" for c in t)


def split_items(tokens: list[str], sizes: list[int], names: list[str]) -> list[str]:
    """Group command-line tokens into the KEY / VALUE texts a command takes.

    An item is one token (JSON, a number, a quoted ``"hex 01 02"``), or ``hex`` followed by as many byte
    tokens as the item's size (bpftool's ``key hex 01 00 00 00``).

    Raises:
        UserError: too few or too many items (the message names them).
    """
    out: list[str] = []
    i = 0
    for size, name in zip(sizes, names, strict=True):
        if i >= len(tokens):
            raise UserError(f"missing {name} ({'/'.join(names)})")
        if tokens[i] == "hex":
            j = i + 1
            while j < len(tokens) and j - i - 1 < size and _is_hex_byte(tokens[j]):
                j += 1
            out.append(" ".join(tokens[i:j]))
            i = j
        else:
            out.append(tokens[i])
            i += 1
    if i < len(tokens):
        raise UserError(f"unexpected {tokens[i]!r} after {' '.join(names)} (quote JSON that has spaces)")
    return out
