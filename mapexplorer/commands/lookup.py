"""``mapexplorer lookup MAP KEY``, ``getnext MAP [KEY]`` and ``peek MAP``: single-entry reads (the map is
opened read-only). Keys are typed as ``dump --json`` prints them, or ``hex 01 02 ..``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mapexplorer.codec import EncodeError
from mapexplorer.commands import require_root, resolve_map_items, split_items
from mapexplorer.edit import MapEditor, WriteError
from mapexplorer.errors import UserError


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "))


def open_editor(args: argparse.Namespace, *, write: bool) -> tuple[MapEditor, list[str]]:
    """The editor of the map the arguments name, and the remaining item tokens."""
    require_root()
    map_id, items = resolve_map_items(args.map, list(getattr(args, "items", None) or []))
    try:
        return MapEditor(map_id, write=write), items
    except WriteError as exc:
        raise UserError(str(exc)) from None


def entry_text(ed: MapEditor, key_json: Any, value: bytes) -> str:
    """``key: K  value: V`` (per-CPU: one ``cpuN: V`` line per CPU), like ``dump`` prints entries."""
    if ed.info.percpu:
        lines = [f"key: {dumps(key_json)}"]
        lines += [f"  cpu{c}: {dumps(v)}" for c, v in enumerate(ed.codec.decode_percpu(value))]
        return "\n".join(lines)
    return f"key: {dumps(key_json)}  value: {dumps(ed.codec.decode_value(value))}"


def _lookup(args: argparse.Namespace) -> int:
    ed, items = open_editor(args, write=False)
    with ed:
        (key_text,) = split_items(items, [ed.info.key_size], ["KEY"])
        key = ed.key(key_text)
        value = ed.read(key)
        key_json = ed.decode_key(key)
        if value is None:
            raise UserError(f"map {ed.info.id}: no entry with key {dumps(key_json)}")
        if args.json:
            print(dumps(ed.codec.entry_json(key, value)))
        else:
            print(entry_text(ed, key_json, value))
    return 0


def _getnext(args: argparse.Namespace) -> int:
    ed, items = open_editor(args, write=False)
    with ed:
        key = None
        if items:
            (key_text,) = split_items(items, [ed.info.key_size], ["KEY"])
            key = ed.key(key_text)
        nxt = ed.next_key(key)
        if nxt is None:
            where = "is empty" if key is None else f"has no key after {dumps(ed.decode_key(key))}"
            raise UserError(f"map {ed.info.id} {where}")
        if args.json:
            print(dumps({"key": None if key is None else ed.decode_key(key), "next_key": ed.decode_key(nxt)}))
        else:
            if key is not None:
                print(f"key: {dumps(ed.decode_key(key))}")
            print(f"next key: {dumps(ed.decode_key(nxt))}")
    return 0


def _peek(args: argparse.Namespace) -> int:
    ed, _ = open_editor(args, write=False)
    with ed:
        if ed.info.type_name not in ("queue", "stack"):
            raise UserError(f"map {ed.info.id} is a {ed.info.type_name}: peek works on queue and stack maps "
                            "(use lookup)")
        head = ed.read(None)
        value = ed.decode_value(head)
        if args.json:
            print(dumps({"value": value}))
        else:
            print("(empty)" if head is None else f"value: {dumps(value)}")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return {"lookup": _lookup, "getnext": _getnext, "peek": _peek}[args.command](args)
    except (EncodeError, WriteError) as exc:
        raise UserError(str(exc)) from None
