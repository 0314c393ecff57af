"""``mapexplorer demo [TYPE ...] [--list] [--duration S]``: load the demo BPF programs that populate
every map type, drive traffic, print a summary, and clean everything up on Ctrl-C, SIGTERM or the end
of ``--duration`` (or SIGHUP, when an SSH session drops).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType

from mapexplorer.commands import require_root
from mapexplorer.demo_bpf import BY_TYPE, CATALOG, DemoSession
from mapexplorer.demo_bpf.catalog import host_support, kernel_map_types
from mapexplorer.demo_bpf.loader import BccUnavailable, import_bcc
from mapexplorer.errors import UserError


def _list(types: list[str]) -> int:
    try:
        import_bcc()
        bcc_ok = True
    except BccUnavailable:
        bcc_ok = False
    kernel_types = kernel_map_types()
    rows = []
    for spec in CATALOG:
        if types and spec.type not in types:
            continue
        ok, reason = host_support(spec, bcc_ok=bcc_ok, kernel_types=kernel_types)
        rows.append((spec.type, spec.map_name, "yes" if ok else f"no: {reason}", spec.how))
    w0 = max(len("TYPE"), *(len(r[0]) for r in rows))
    w1 = max(len("MAP"), *(len(r[1]) for r in rows))
    w2 = max(len("SUPPORTED"), *(len(r[2]) for r in rows))
    print(f"{'TYPE':<{w0}}  {'MAP':<{w1}}  {'SUPPORTED':<{w2}}  FILLED BY")
    for r in rows:
        print(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<{w2}}  {r[3]}")
    return 0


def run(args: argparse.Namespace) -> int:
    types: list[str] = list(args.types or [])
    unknown = [t for t in types if t not in BY_TYPE]
    if unknown:
        raise UserError(f"unknown map type(s): {', '.join(unknown)} (see mapexplorer demo --list)")
    if args.list:
        return _list(types)
    require_root()
    if args.duration is not None and args.duration < 0:
        raise UserError("--duration must be a positive number of seconds")

    done = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        done.set()

    # SIGHUP too: an SSH session that drops must still clean up.
    handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    session = DemoSession(types or None)
    try:
        session.start(progress=lambda msg: print(f"… {msg}", file=sys.stderr, flush=True))
        _print_summary(session)
        if not any(s.ok for s in session.summary):
            raise UserError("no demo could run on this host")
        limit = f" for {args.duration:g} s" if args.duration is not None else ""
        print(f"demo running{limit}: Ctrl-C to stop and clean up", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while not done.is_set():
            timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            if done.wait(timeout) or (deadline is not None and time.monotonic() >= deadline):
                break
    finally:
        session.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("demo stopped: programs, maps, links, veth, netns and cgroup removed", flush=True)
    return 0


def _print_summary(session: DemoSession) -> None:
    rows = session.summary
    w0 = max(len(s.type) for s in rows)
    w1 = max(len(s.map_name) for s in rows)
    print(f"{'TYPE':<{w0}}  {'MAP':<{w1}}  {'ID':>6}  STATUS")
    for s in rows:
        status = f"ok: {s.how}" if s.ok else f"skipped: {s.reason}"
        print(f"{s.type:<{w0}}  {s.map_name:<{w1}}  {s.map_id or '-':>6}  {status}")
    ok = sum(s.ok for s in rows)
    print(f"{ok}/{len(rows)} demos running, loaded in {session.load_seconds:.1f} s", flush=True)
