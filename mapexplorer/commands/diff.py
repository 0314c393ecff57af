"""``mapexplorer diff A B [--json] [--map MAP]``: what changed between two states of a map.

A and B are each a live map (id or name; needs root), a recording (``FILE``: its last frame; ``FILE@T``:
the last frame taken at most T seconds after the start; ``FILE@frameN``: frame N, from 0), or a file of
``mapexplorer dump --json`` output. A recording holding several maps compares map by map (``--map``
picks one). Exit 0 when equal, 1 when different, 2 on trouble (like diff(1)).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from mapexplorer.diffing import MapDiff, Table, diff_tables, format_text
from mapexplorer.errors import UserError
from mapexplorer.kernel.maps import PERCPU_TYPES
from mapexplorer.recording import FORMAT, Recording, RecordingError, read


def _split(spec: str) -> tuple[str, str | None]:
    """``FILE@SEL`` -> (FILE, SEL) when FILE exists; else (spec, None)."""
    if os.path.exists(spec):
        return spec, None
    path, at, sel = spec.rpartition("@")
    if at and os.path.exists(path):
        return path, sel
    return spec, None


def _is_recording(path: str) -> bool:
    import gzip

    with open(path, "rb") as f:
        head = f.read(2)
    opener: Any = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as f:
            first = f.read(200)
    except (OSError, EOFError):
        return head == b"\x1f\x8b"
    return first.lstrip().startswith(b"{") and FORMAT.encode() in first


_READ: dict[str, Recording] = {}


def _read_once(path: str) -> Recording:
    """The recording at ``path``, read once even when both sides are frames of it."""
    key = os.path.realpath(path)
    if key not in _READ:
        try:
            rec = read(path)
        except RecordingError as exc:
            raise UserError(str(exc)) from None
        if rec.error is not None:
            print(f"mapexplorer: {rec.error} (using the frames before it)", file=sys.stderr)
        _READ[key] = rec
    return _READ[key]


def _recording_tables(path: str, sel: str | None, want: str | None) -> list[Table]:
    from mapexplorer.codec import codec_for_map_line

    rec = _read_once(path)
    frame_no: int | None = None
    t: float | None = None
    if sel is not None:
        try:
            if sel.startswith("frame"):
                frame_no = int(sel[5:])
            else:
                t = float(sel.removesuffix("s"))
        except ValueError:
            raise UserError(f"{path}@{sel}: pick a frame as @frameN or a time as @SECONDS") from None
    tables: list[Table] = []
    ids = sorted(rec.maps)
    if want is not None:
        ids = [i for i in ids if str(i) == want or rec.maps[i].name == want]
        if not ids:
            raise UserError(f"{path} has no map {want!r}")
    for map_id in ids:
        m = rec.maps[map_id]
        frames = rec.frames.get(map_id, [])
        if m.kind == "unlisted" or not frames:
            continue
        if frame_no is not None:
            if not 0 <= frame_no < len(frames):
                if want is None and len(ids) > 1:
                    continue
                raise UserError(f"{path}: map {map_id} ({m.name}) has frames 0..{len(frames) - 1}, "
                                f"not {frame_no}")
            f = frames[frame_no]
        else:
            picked = rec.frame_at(map_id, t)
            if picked is None:
                continue
            f = picked
        label = f"{path}@frame{f.index} ({f.t - rec.header.mono:.1f} s)"
        codec = codec_for_map_line(m, rec.header.possible_cpus)
        tables.append(Table(label, m.name, map_id, f.keys, f.values, f.count, f.key_size, f.stride, codec,
                            gone=f.gone, percpu=m.type_name in PERCPU_TYPES))
    if not tables:
        raise UserError(f"{path}: no frame of a listable map at {sel or 'the end'}")
    return tables


def _dump_table(path: str) -> Table:
    try:
        data = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: neither a recording nor mapexplorer dump --json output ({exc})") from None
    if not isinstance(data, list) or not all(isinstance(e, dict) and "key" in e for e in data):
        raise UserError(f"{path}: expected a JSON array of {{\"key\", \"value\"}} entries (dump --json)")
    entries = []
    percpu = False
    for e in data:
        if "values" in e:
            entries.append((e["key"], [c.get("value") for c in e["values"]]))
            percpu = True
        else:
            entries.append((e["key"], e.get("value")))
    return Table(path, Path(path).name, None, decoded=entries, percpu=percpu)


def _live_table(ref: str) -> Table:
    from mapexplorer.codec import map_codec
    from mapexplorer.commands import open_map_arg, require_root

    require_root()
    with open_map_arg(ref) as m:
        info = m.info
        map_id = info.id
        if not info.iterable:
            raise UserError(f"map {map_id} is a {info.type_name}: its entries cannot be listed to compare")
        chunks = list(m.read_chunks())
        codec = map_codec(info)
    keys = b"".join(c.keys for c in chunks)
    values = b"".join(c.values for c in chunks)
    stride = chunks[0].stride if chunks else info.value_stride
    return Table(f"map {map_id} (live)", info.name, map_id, keys, values, sum(c.count for c in chunks),
                 info.key_size, stride, codec, percpu=info.percpu)


def load_side(spec: str, want: str | None) -> list[Table]:
    """The tables (map states) one argument names."""
    path, sel = _split(spec)
    if os.path.isfile(path):
        if _is_recording(path):
            return _recording_tables(path, sel, want)
        if sel is not None:
            raise UserError(f"{path} is not a recording: @{sel} picks a frame of a recording only")
        return [_dump_table(path)]
    if os.sep in spec or spec.endswith((".json", ".jsonl", ".gz")):
        raise UserError(f"{spec}: no such file")
    return [_live_table(spec)]


def pair(a: list[Table], b: list[Table]) -> tuple[list[tuple[Table, Table]], list[Table], list[Table]]:
    """Which tables to compare: one against one; else by map id, then by a unique name."""
    if len(a) == 1 and len(b) == 1:
        return [(a[0], b[0])], [], []
    pairs = []
    rest_b = list(b)
    only_a = []
    for ta in a:
        match = next((tb for tb in rest_b if ta.map_id is not None and tb.map_id == ta.map_id), None)
        if match is None:
            named = [tb for tb in rest_b if tb.name and tb.name == ta.name]
            match = named[0] if len(named) == 1 else None
        if match is None:
            only_a.append(ta)
        else:
            rest_b.remove(match)
            pairs.append((ta, match))
    if len(a) == 1 or len(b) == 1:
        # one map against a recording of many: only the counterpart matters
        return pairs, [], []
    return pairs, only_a, rest_b


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (UserError, OSError) as exc:
        msg = str(exc) if isinstance(exc, UserError) else f"{getattr(exc, 'filename', '') or ''}: " \
            f"{exc.strerror or exc}".lstrip(": ")
        if isinstance(exc, PermissionError) and not getattr(exc, "filename", None):
            from mapexplorer import caps

            missing = caps.missing_caps()
            if missing:
                msg = caps.permission_message(missing)
        print(f"mapexplorer: {msg}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    ta = load_side(args.a, args.map)
    tb = load_side(args.b, args.map)
    pairs, only_a, only_b = pair(ta, tb)
    if not pairs and not only_a and not only_b:
        names = ", ".join(t.name or t.label for t in ta)
        raise UserError(f"nothing to compare: {args.b} has no map matching {names} (pick one with --map)")
    diffs: list[MapDiff] = [diff_tables(x, y) for x, y in pairs]
    equal = all(d.equal for d in diffs) and not only_a and not only_b
    if args.json:
        out = {"equal": equal, "maps": [d.to_json() for d in diffs],
               "only_in_a": [{"map": t.name, "id": t.map_id} for t in only_a],
               "only_in_b": [{"map": t.name, "id": t.map_id} for t in only_b]}
        sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    else:
        lines: list[str] = []
        for d in diffs:
            if not d.equal:
                lines.extend(format_text(d))
        lines.extend(f"only in {args.a}: {t.name} (id {t.map_id})" for t in only_a)
        lines.extend(f"only in {args.b}: {t.name} (id {t.map_id})" for t in only_b)
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
    return 0 if equal else 1

