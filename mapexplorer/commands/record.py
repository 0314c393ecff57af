"""``mapexplorer record [MAP ...] -o FILE``: record maps (and, with ``--events``, stream maps) into a
recording (docs/recording.md) every ``--interval`` seconds, for ``--duration`` seconds, ``--frames``
rounds, or until Ctrl-C, which closes the file cleanly.

On a terminal a progress line on stderr shows frames, maps, bytes written and the write rate.
"""

from __future__ import annotations

import argparse
import sys
import time

from mapexplorer.commands import require_root, resolve_map
from mapexplorer.errors import UserError
from mapexplorer.recorder import Recorder
from mapexplorer.recording import Writer


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _check(args: argparse.Namespace) -> None:
    if args.interval <= 0:
        raise UserError("--interval must be a positive number of seconds")
    if args.duration is not None and args.duration < 0:
        raise UserError("--duration must be zero or more seconds")
    if args.frames is not None and args.frames <= 0:
        raise UserError("--frames must be a positive number")
    if not args.maps and not args.all and not args.events:
        raise UserError("name the maps to record (ids or names), or --all for every map")
    if args.maps and args.all:
        raise UserError("either MAP arguments or --all, not both")


def run(args: argparse.Namespace) -> int:
    _check(args)
    require_root()
    ids = None if args.all else [resolve_map(r) for r in args.maps]
    stream_ids = [resolve_map(r) for r in args.events or ()]
    try:
        writer = Writer(args.output)
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    rec = Recorder(writer, ids)
    tty = sys.stderr.isatty()
    started = time.monotonic()
    interrupted = False
    try:
        rec.start()
        for map_id in stream_ids:
            from mapexplorer.streams import StreamError

            try:
                how = rec.add_stream(map_id)
            except StreamError as exc:
                raise UserError(str(exc)) from None
            print(f"mapexplorer: recording the events of {how}", file=sys.stderr)
        try:
            _loop(rec, args, tty, started)
        except KeyboardInterrupt:
            interrupted = True
    finally:
        rec.close()
        writer.close()
    if tty:
        sys.stderr.write("\r\033[K")
    for msg in rec.notices:
        print(f"mapexplorer: {msg}", file=sys.stderr)
    stopped = " (stopped by Ctrl-C)" if interrupted else ""
    print(f"mapexplorer: recorded {rec.frames} frame{'s' if rec.frames != 1 else ''} of {rec.maps_seen} "
          f"map{'s' if rec.maps_seen != 1 else ''}, {writer.events} events, to {args.output} "
          f"({human_bytes(writer.bytes_written)}){stopped}", file=sys.stderr)
    return 0


def _loop(rec: Recorder, args: argparse.Namespace, tty: bool, started: float) -> None:
    interval = args.interval
    k = 0
    while True:
        rec.frame()
        k += 1
        if tty:
            elapsed = max(time.monotonic() - started, 1e-6)
            w = rec.writer
            sys.stderr.write(
                f"\r\033[Krecording {args.output}: {rec.frames} frames · {rec.maps_seen} maps · "
                f"{w.events} events · {human_bytes(w.bytes_written)} · "
                f"{human_bytes(w.bytes_written / elapsed)}/s · Ctrl-C stops")
            sys.stderr.flush()
        if args.frames is not None and k >= args.frames:
            return
        next_at = started + k * interval
        # a round slower than the interval delays the next one; --duration bounds the wall time either way
        if args.duration is not None and max(next_at, time.monotonic()) - started > args.duration + 1e-6:
            return
        rec.pump_events(next_at - time.monotonic())
