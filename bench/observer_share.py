"""How much of the demo's traffic the explorer itself makes: the demo records every ``openat`` on the box
(pid, comm, filename) into ``demo_perf_evts``; this script runs the demo in its own process, counts those
events by pid while the explorer is closed and while it is open on a screen (a real terminal: tmux), and
prints the explorer's events per second and its share of all the demo's events.

    sudo .venv/bin/python bench/observer_share.py [--seconds 30] [--settle 10] [--scenes list view]

The count is exact, not a rate difference: the events are read through the demo's own perf reader (an
in-process share, :mod:`mapexplorer.kernel.tee`), and each carries the opening process's pid, so the
explorer's events are told apart from the rest of the box's. The explorer's share depends on what else
runs: other processes' opens are the denominator, and how many maps (and map fds in other processes) the
box holds sets how much the explorer reads. Both are printed. Not a test.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import psutil

from mapexplorer.demo_bpf import DemoSession
from mapexplorer.kernel import maps, tee

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "mapexplorer"

PID_AT = 8  # struct demo_event { u64 ts_ns; u32 pid; ... }: pid is the tgid (bpf_get_current_pid_tgid >> 32)


def explorer_pid(session: str) -> int:
    out = subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"], capture_output=True,
                         text=True, check=True).stdout.split()
    shell = psutil.Process(int(out[0]))
    for _ in range(100):
        for p in [shell, *shell.children(recursive=True)]:
            if "mapexplorer" in " ".join(p.cmdline()):
                return p.pid
        time.sleep(0.1)
    raise RuntimeError("mapexplorer did not start")


def count(reader: tee.TeeReader, seconds: float) -> tuple[collections.Counter[int], int, float]:
    """Events per pid over ``seconds`` (what was queued before is dropped first), lost, elapsed."""
    reader.read()
    lost0 = reader.lost
    by_pid: collections.Counter[int] = collections.Counter()
    t0 = time.monotonic()
    end = t0 + seconds
    while (now := time.monotonic()) < end:
        reader.wait(min(0.2, end - now))
        for _cpu, raw in reader.read():
            if len(raw) >= PID_AT + 4:
                by_pid[struct.unpack_from("<I", raw, PID_AT)[0]] += 1
    return by_pid, reader.lost - lost0, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="counting time per scene (30)")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds after opening a screen (10)")
    ap.add_argument("--scenes", nargs="+", default=["list", "view"], choices=["list", "view", "events"],
                    help="explorer screens: the map list, a hash map view, the ringbuf event view")
    ap.add_argument("--types", nargs="*", default=None, help="demo types (default: all)")
    ap.add_argument("--explorer", default=str(EXE),
                    help="the explorer's command (default: this checkout's .venv/bin/mapexplorer); e.g. "
                    "'env PYTHONPATH=/tmp/old .venv/bin/python -m mapexplorer' to measure an older version")
    a = ap.parse_args()
    if shutil.which("tmux") is None or os.geteuid() != 0:
        print("needs root and tmux", file=sys.stderr)
        return 1
    types = a.types or None
    if types is not None and "perf_event_array" not in types:
        types.append("perf_event_array")
    session = DemoSession(types=types)
    try:
        print("starting the demo (compiles BCC)...", file=sys.stderr, flush=True)
        session.start(progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
        ids = {s.type: s.map_id for s in session.summary if s.ok}
        perf_id = ids.get("perf_event_array")
        shared = tee.shared(perf_id) if perf_id else None
        if shared is None:
            print("the perf_event_array demo did not start", file=sys.stderr)
            return 1
        reader = shared.subscribe(capacity=1 << 20)
        nmaps = len(list(maps.map_ids()))
        print(f"demo: {session.headline}; {nmaps} maps in the kernel; counting {a.seconds:g} s per scene",
              flush=True)
        print(f"{'scene':<30}{'demo events/s':>14}{'explorer/s':>12}{'share':>8}{'demo lost':>11}")
        me = os.getpid()
        time.sleep(a.settle)
        by_pid, lost, dt = count(reader, a.seconds)
        total = sum(by_pid.values())
        print(f"{'explorer closed':<30}{total / dt:>14,.0f}{'-':>12}{'-':>8}{lost:>11,}", flush=True)
        hash_id = ids.get("hash")
        scenes = {
            "list": ("map list", []),
            "view": (f"map view (hash {hash_id})", ["--map", str(hash_id)] if hash_id else None),
            "events": (f"ringbuf event view ({ids.get('ringbuf')})",
                       ["--map", str(ids.get("ringbuf"))] if ids.get("ringbuf") else None),
        }
        for key in a.scenes:
            name, args = scenes[key]
            if args is None:
                print(f"{name:<30}  (that demo did not start)")
                continue
            tmux = f"dsx_share_{me}"
            cmd = " ".join([a.explorer, *args])
            subprocess.run(["tmux", "new", "-d", "-s", tmux, "-x", "160", "-y", "45", cmd], check=True)
            try:
                pid = explorer_pid(tmux)
                time.sleep(2.0)
                if key == "events":
                    subprocess.run(["tmux", "send-keys", "-t", tmux, "w"], check=True)
                time.sleep(a.settle)
                by_pid, lost, dt = count(reader, a.seconds)
            finally:
                subprocess.run(["tmux", "kill-session", "-t", tmux], capture_output=True)
            total = sum(by_pid.values())
            ours = by_pid.get(pid, 0)
            share = ours / total * 100 if total else 0.0
            print(f"{name:<30}{total / dt:>14,.0f}{ours / dt:>12,.1f}{share:>7.1f}%{lost:>11,}", flush=True)
            top = ", ".join(f"{p}:{n / dt:,.0f}/s" for p, n in by_pid.most_common(3))
            print(f"{'':<30}busiest pids: {top} (explorer {pid}, this script {me})", flush=True)
            time.sleep(2.0)
        reader.close()
    finally:
        session.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
