"""Idle cost of the explorer: % of one core it uses on a screen left alone, with the demo running.

Each scene starts ``mapexplorer`` in a tmux session (a real terminal), opens its screen, waits for it to
settle, then samples the process's CPU time (user + system, psutil) over ``--seconds`` and prints
``cpu% of one core`` and RSS next to the issue's targets. Scenes: the map list, a per-CPU map view, the
ringbuf event view (``w``), and the perf event view when a perf_event_array is given.

    sudo .venv/bin/mapexplorer demo ringbuf percpu_array perf_event_array &   # the load
    sudo .venv/bin/python bench/idle_cpu.py --percpu ID --ringbuf ID [--perf ID] [--seconds 60]

Not a test: figures depend on the machine and on what else runs (other maps in the kernel count).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "mapexplorer"
TARGETS = {"map list": 2.0, "per-CPU map view": 3.0, "ringbuf event view": 8.0, "perf event view": 25.0}


def _explorer_pid(session: str) -> int:
    out = subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"], capture_output=True,
                         text=True, check=True).stdout.split()
    shell = psutil.Process(int(out[0]))
    for _ in range(50):
        for p in [shell, *shell.children(recursive=True)]:
            if "mapexplorer" in " ".join(p.cmdline()):
                return p.pid
        time.sleep(0.1)
    raise RuntimeError("mapexplorer did not start")


def measure(name: str, args: list[str], keys: list[str], seconds: float,
            settle: float) -> tuple[float, float]:
    session = f"ky_idle_{os.getpid()}"
    cmd = " ".join([str(EXE), *args])
    subprocess.run(["tmux", "new", "-d", "-s", session, "-x", "160", "-y", "45", cmd], check=True)
    try:
        proc = psutil.Process(_explorer_pid(session))
        time.sleep(settle)
        for k in keys:
            subprocess.run(["tmux", "send-keys", "-t", session, k], check=True)
            time.sleep(1.0)
        time.sleep(settle)
        t0, c0 = time.monotonic(), proc.cpu_times()
        time.sleep(seconds)
        t1, c1 = time.monotonic(), proc.cpu_times()
        cpu = ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0) * 100
        return cpu, proc.memory_info().rss / 2**20
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--percpu", type=int, help="id of a per-CPU map (the demo's demo_pcpu_evts)")
    ap.add_argument("--ringbuf", type=int, help="id of a ringbuf with traffic (the demo's demo_ringbuf)")
    ap.add_argument("--perf", type=int, help="id of a perf_event_array with traffic")
    ap.add_argument("--seconds", type=float, default=60.0, help="sampling time per scene (60)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds before sampling (5)")
    a = ap.parse_args()
    if shutil.which("tmux") is None or os.geteuid() != 0:
        print("needs root and tmux", file=sys.stderr)
        return 1
    scenes: list[tuple[str, list[str], list[str]]] = [("map list", [], [])]
    if a.percpu:
        scenes.append(("per-CPU map view", ["--map", str(a.percpu)], []))
    if a.ringbuf:
        scenes.append(("ringbuf event view", ["--map", str(a.ringbuf)], ["w"]))
    if a.perf:
        scenes.append(("perf event view", ["--map", str(a.perf)], ["w", "y"]))
    print(f"{'scene':<22}{'cpu % of one core':>18}{'target':>9}{'RSS MiB':>9}   over {a.seconds:g} s")
    for name, args, keys in scenes:
        cpu, rss = measure(name, args, keys, a.seconds, a.settle)
        ok = "ok" if cpu < TARGETS[name] else "OVER"
        print(f"{name:<22}{cpu:>17.1f}%{TARGETS[name]:>8.0f}%{rss:>9.0f}   {ok}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
