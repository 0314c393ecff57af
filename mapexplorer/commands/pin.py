"""``mapexplorer pin MAP PATH`` and ``freeze MAP``: both change the map for good, so on a terminal they ask
first (``--yes`` skips the question; without a terminal they do what was asked, like bpftool)."""

from __future__ import annotations

import argparse
import errno
import os
import sys

from mapexplorer.commands import require_root, resolve_map_items, split_items
from mapexplorer.edit import errno_words
from mapexplorer.errors import UserError
from mapexplorer.kernel import maps


def confirm(question: str, yes: bool) -> bool:
    """True when ``--yes`` was given, stdin is not a terminal, or the user answers y."""
    if yes or not sys.stdin.isatty():
        return True
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _pin(map_id: int, info: maps.MapInfo, path: str, yes: bool) -> int:
    if not confirm(f"Pin map {map_id} ({info.name or info.type_name}) at {path}? It then outlives every "
                   "process until the file is removed.", yes):
        print("not pinned", file=sys.stderr)
        return 1
    with maps.Map.open(map_id) as m:
        try:
            m.pin(path)
        except FileExistsError:
            raise UserError(f"{path} already exists") from None
        except FileNotFoundError:
            raise UserError(f"the directory of {path} does not exist") from None
        except PermissionError:
            raise UserError(f"cannot pin at {path}: not on a bpffs mount (mount -t bpf bpf /sys/fs/bpf)") \
                from None
        except OSError as exc:
            raise UserError(f"cannot pin at {path}: {errno_words(exc, info)}") from None
    print(f"pinned map {map_id} at {path}")
    return 0


def _freeze(map_id: int, info: maps.MapInfo, yes: bool) -> int:
    if info.frozen:
        raise UserError(f"map {map_id} is already frozen")
    if not confirm(f"Freeze map {map_id} ({info.name or info.type_name})? User space can never write it "
                   "again (its programs still can); this cannot be undone.", yes):
        print("not frozen", file=sys.stderr)
        return 1
    try:
        m = maps.Map.open(map_id, write=True)
    except PermissionError:
        raise UserError(f"map {map_id} cannot be opened for writing (EPERM)") from None
    with m:
        try:
            m.freeze()
        except OSError as exc:
            words = "already frozen" if exc.errno == errno.EBUSY and maps.map_info(m.fd).frozen else \
                errno_words(exc, info)
            raise UserError(f"cannot freeze map {map_id}: {words}") from None
    print(f"froze map {map_id}: user space can no longer write it")
    return 0


def run(args: argparse.Namespace) -> int:
    require_root()
    map_id, items = resolve_map_items(args.map, list(getattr(args, "items", None) or []))
    try:
        info = maps.map_info_by_id(map_id)
    except FileNotFoundError:
        raise UserError(f"map {map_id} is gone") from None
    if args.command == "freeze":
        split_items(items, [], [])
        return _freeze(map_id, info, args.yes)
    (path,) = split_items(items, [0], ["PATH"])
    return _pin(map_id, info, os.path.abspath(path), args.yes)
