"""``mapexplorer watch ID``: stream a ringbuf's or perf_event_array's events, one readable line or one
JSON object per event, until ``--count`` events, ``--timeout`` seconds, the map going away, or Ctrl-C.

How the map is read (tap / consume / perf slots) and decoded is :func:`mapexplorer.streams.open_stream`'s
choice; its notices (tap mode, slots taken over, tap overtaken) go to stderr, events to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time

from mapexplorer.commands import require_root, resolve_map
from mapexplorer.errors import UserError
from mapexplorer.streams import EventStream, JsonLines, StreamEnded, StreamError, TextLines, open_stream

POLL_S = 0.2  # the longest one wait lasts, so --timeout and Ctrl-C are honoured promptly
BATCH_MAX = 1 << 16  # records per read: a backlog of millions is written in bounded slices
PIPE_FLUSH_S = 0.2  # into a pipe, output is written in blocks but at most this late (or when idle)
LINGER_S = 0.01  # after the first event, gather for this long: one write per batch, few kernel wakeups


def _note(msg: str) -> None:
    print(f"mapexplorer: {msg}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    require_root()
    if args.count is not None and args.count <= 0:
        raise UserError("--count must be a positive number of events")
    if args.timeout is not None and args.timeout < 0:
        raise UserError("--timeout must be zero or more seconds")
    map_id = resolve_map(args.map)
    try:
        stream = open_stream(map_id, type_name=args.type, type_force=getattr(args, "type_force", False),
                             consume=args.consume, takeover=args.takeover)
    except StreamError as exc:
        raise UserError(str(exc)) from None
    except FileNotFoundError:
        raise UserError(f"no map with id {map_id}") from None
    try:
        return _watch(stream, args)
    except StreamError as exc:  # a record that does not fit --type
        sys.stdout.flush()
        raise UserError(str(exc)) from None
    finally:
        stream.close()


def _watch(stream: EventStream, args: argparse.Namespace) -> int:
    as_json = args.json
    remaining = args.count
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    out = sys.stdout
    for msg in stream.take_notices():
        _note(msg)
    forced = " (forced: whatever the record size)" if getattr(args, "type_force", False) else ""
    kind = f", decoded as {args.type}{forced}" if args.type else ""
    _note(f"watching {stream.describe()}{kind}; Ctrl-C to stop")
    seen = 0
    interrupted = False
    json_lines = JsonLines(stream)
    text_lines = TextLines(stream)  # runs of one record type in bulk, times against one clock per batch
    tty = out.isatty()
    flushed = time.monotonic()
    pending = False  # written since the last flush
    try:
        while True:
            wait = POLL_S
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            try:
                # Records in runs of one CPU and size, not events: each run is formatted in bulk by a
                # formatter generated for its type (no object per record for the garbage collector).
                batch = BATCH_MAX if remaining is None else min(remaining, BATCH_MAX)
                cut = stream.read_runs(wait, batch, linger=min(LINGER_S, max(wait, 0.0)))
            except StreamEnded as exc:
                out.flush()
                _note(str(exc))
                return 0
            for msg in stream.take_notices():
                _note(msg)
            if not cut:
                if pending:  # a quiet moment: what is written reaches the pipe now
                    out.flush()
                    pending = False
                continue
            out.write(json_lines.text_runs(cut) if as_json else text_lines.text_runs(cut))
            got = sum(len(run) for _, _, run in cut)
            now = time.monotonic()
            pending = True
            if tty or now - flushed >= PIPE_FLUSH_S:
                out.flush()  # a pipe gets whole blocks, yet never waits more than PIPE_FLUSH_S
                flushed, pending = now, False
            seen += got
            if remaining is not None:
                remaining -= got
                if remaining <= 0:
                    break
    except KeyboardInterrupt:
        interrupted = True  # Ctrl-C: stop reading, report, close (the caller's finally) and exit 130
    out.flush()
    if seen == 0 and args.timeout is not None and not interrupted:
        _note(f"no events in {args.timeout:g} s")
    if stream.lost or stream.dropped:
        _note(f"{stream.lost} events lost by the kernel, {stream.dropped} dropped by the reader")
    return 130 if interrupted else 0
