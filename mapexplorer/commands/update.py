"""``mapexplorer update / delete / push / pop``: explicit writes, typed with the map's BTF.

Each prints the entry before and after (or what was removed); ``--dry-run`` prints that and writes
nothing (the map is then opened read-only). A value that does not fit its field is a one-line error naming
the field, before anything is written; a write the kernel refuses names its errno in words.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mapexplorer.codec import EncodeError
from mapexplorer.commands import split_items
from mapexplorer.commands.lookup import dumps, open_editor
from mapexplorer.edit import Change, MapEditor, WriteError, WritePlan, WriteResult
from mapexplorer.errors import UserError
from mapexplorer.kernel import syscall as sc


def _value_lines(label: str, value: Any, percpu: bool) -> list[str]:
    if value is None:
        return [f"{label}: (absent)"]
    if percpu:
        return [f"{label}:"] + [f"  cpu{c}: {dumps(v)}" for c, v in enumerate(value)]
    return [f"{label}: {dumps(value)}"]


def _changes_lines(changes: tuple[Change, ...]) -> list[str]:
    if not changes:
        return ["changed: nothing (the value is the same)"]
    if len(changes) == 1 and changes[0].before is None and changes[0].path in ("value", "cpu"):
        return ["changed: a new entry"]
    return ["changed: " + "; ".join(f"{c.path} {dumps(c.before)} -> {dumps(c.after)}" for c in changes)]


def _report(plan: WritePlan, result: WriteResult | None, as_json: bool) -> None:
    dry = result is None
    if as_json:
        out: dict[str, Any] = {"op": plan.op, "map_id": plan.map_id, "written": not dry}
        if plan.key is not None:
            out["key"] = plan.key_json
        if plan.op in ("update", "push"):
            out["before"] = plan.before_json if dry or plan.op == "push" else result.before_json
            out["after"] = plan.after_json if dry else result.after_json
            changes = plan.changes if dry else result.changes
            out["changed"] = [{"path": c.path, "before": c.before, "after": c.after} for c in changes]
        else:
            out["removed"] = plan.before_json if dry else result.removed_json
            if plan.op == "pop":
                out["head"] = None if dry else result.after_json
        if plan.cpu is not None:
            out["cpu"] = plan.cpu
        note = plan.note if dry else result.note
        if note:
            out["note"] = note
        print(json.dumps(out))
        return
    lines = [plan.title + (" (dry run: nothing written)" if dry else "")]
    if plan.op == "update":
        lines += _value_lines("before", plan.before_json if dry else result.before_json, plan.percpu)
        lines += _value_lines("after", plan.after_json if dry else result.after_json, plan.percpu)
        lines += _changes_lines(plan.changes if dry else result.changes)
    elif plan.op == "push":
        lines.append(f"value: {dumps(plan.after_json)}")
        if not dry and plan.type_name != "bloom_filter":
            lines.append(f"head now: {dumps(result.after_json)}")
    else:
        removed = plan.before_json if dry else result.removed_json
        lines += _value_lines("would remove" if dry else "removed", removed, plan.percpu)
        if plan.op == "pop" and not dry:
            lines.append("head now: " + ("(empty)" if result.after is None else dumps(result.after_json)))
    note = plan.note if dry else result.note
    if note:
        lines.append(f"note: {note}")
    print("\n".join(lines))


def _plan(ed: MapEditor, args: argparse.Namespace, items: list[str]) -> WritePlan:
    info = ed.info
    if args.command == "update":
        key_text, value_text = split_items(items, [info.key_size, info.value_size], ["KEY", "VALUE"])
        mode = sc.BPF_NOEXIST if args.noexist else sc.BPF_EXIST if args.exist else sc.BPF_ANY
        return ed.plan_update(ed.key(key_text), value_text, cpu=args.cpu, all_cpus=args.all_cpus, mode=mode)
    if args.command == "delete":
        (key_text,) = split_items(items, [info.key_size], ["KEY"])
        return ed.plan_delete(ed.key(key_text))
    if args.command == "push":
        (value_text,) = split_items(items, [info.value_size], ["VALUE"])
        return ed.plan_push(value_text)
    split_items(items, [], [])
    return ed.plan_pop()


def run(args: argparse.Namespace) -> int:
    ed, items = open_editor(args, write=not args.dry_run)
    try:
        with ed:
            plan = _plan(ed, args, items)
            result = None if args.dry_run else ed.apply(plan)
            _report(plan, result, args.json)
    except (EncodeError, WriteError) as exc:
        raise UserError(str(exc)) from None
    return 0
