"""Idle cost of the explorer: % of one core it uses on a screen left alone, with the demo running.

Each scene starts ``mapexplorer`` in a tmux session (a real terminal), opens its screen, waits for it to
settle, then samples the process's CPU time (user + system, psutil) over ``--seconds`` and prints
``cpu% of one core`` and RSS next to the issue's targets. Scenes: the map list, a per-CPU map view, the
ringbuf event view (``w``), and the perf event view when a perf_event_array is given.

The event views need a load at a known rate. ``--rate N`` / ``--perf-rate N`` start bench/event_producer.py
for that scene (its own ``evx_bench_rb`` / ``evx_bench_pf`` maps, the demo's event layout, N events a
second, removed when the scene ends), so the figure does not depend on the demo; ``--ringbuf ID`` /
``--perf ID`` watch an existing map instead (the demo's, whatever its rate is).

    sudo .venv/bin/python bench/idle_cpu.py --rate 1000 --perf-rate 20000 [--seconds 60]
    sudo .venv/bin/mapexplorer demo ringbuf percpu_array perf_event_array &   # or: the demo as the load
    sudo .venv/bin/python bench/idle_cpu.py --percpu ID --ringbuf ID [--perf ID] [--seconds 60]

Each line ends with the load average (1 min) before and after the scene and the producer's measured rate:
the figures are % of one core of this process only, but a busy machine slows everything down.
Not a test: figures depend on the machine and on what else runs (other maps in the kernel count).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from mapexplorer.kernel import maps

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".venv" / "bin" / "mapexplorer"
QUIET_PCT = 20.0
PRODUCER = Path(__file__).resolve().parent / "event_producer.py"
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


@contextlib.contextmanager
def producer(rate: float, perf_rate: float) -> Iterator[dict[str, int]]:
    """bench/event_producer.py running at these rates: yields its map ids; stopped (its maps freed) after."""
    cmd = [sys.executable, str(PRODUCER), "--rate", str(rate), "--perf-rate", str(perf_rate)]
    with tempfile.TemporaryFile("w+") as err:  # BCC's compiler warnings: too many for an unread pipe
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                proc.wait()
                err.seek(0)
                raise RuntimeError(f"event producer failed: {err.read()[-2000:]}")
            yield json.loads(line)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            err.seek(0)
            said = [x for x in err.read().splitlines() if x.startswith("event_producer:")]
            if said:
                print("    " + said[-1], flush=True)


def _screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                          check=True).stdout


def _wait_for_text(session: str, text: str, timeout: float = 120.0) -> None:
    """Wait until ``text`` is on the screen (a question that takes a while to come)."""
    end = time.monotonic() + timeout
    while text not in _screen(session):
        if time.monotonic() > end:
            raise RuntimeError(f"{text!r} never came on screen:\n{_screen(session)}")
        time.sleep(0.2)


def _wait_quiet(proc: psutil.Process, below: float = QUIET_PCT, timeout: float = 120.0) -> float:
    """Wait until the explorer used less than ``below`` % of a core over a second (its first load of the
    map list done: with tens of thousands of maps in the kernel it takes many seconds, and it would be
    counted against the scene); seconds waited."""
    t0 = time.monotonic()
    c0 = proc.cpu_times()
    while time.monotonic() - t0 < timeout:
        time.sleep(1.0)
        c1 = proc.cpu_times()
        if (c1.user - c0.user) + (c1.system - c0.system) < below / 100:
            break
        c0 = c1
    return time.monotonic() - t0


def measure(name: str, args: list[str], keys: list[str], seconds: float,
            settle: float, show: bool = False, exe: str = str(EXE)) -> tuple[float, float]:
    session = f"ky_idle_{os.getpid()}"
    cmd = " ".join([exe, *args])
    subprocess.run(["tmux", "new", "-d", "-s", session, "-x", "160", "-y", "45", cmd], check=True)
    try:
        proc = psutil.Process(_explorer_pid(session))
        time.sleep(settle)
        _wait_quiet(proc)
        for k in keys:
            key, _, wait_text = k.partition("@")  # "y@Yes (y)": press y once "Yes (y)" is on screen
            if wait_text:
                _wait_for_text(session, wait_text)
            subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
            time.sleep(1.0)
        time.sleep(settle)
        t0, c0 = time.monotonic(), proc.cpu_times()
        time.sleep(seconds)
        t1, c1 = time.monotonic(), proc.cpu_times()
        cpu = ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0) * 100
        if show:  # what was measured, as a person would have seen it
            screen = _screen(session)
            print("\n".join("    | " + line.rstrip() for line in screen.rstrip().splitlines()), flush=True)
        return cpu, proc.memory_info().rss / 2**20
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--percpu", type=int, help="id of a per-CPU map (the demo's demo_pcpu_evts)")
    ap.add_argument("--ringbuf", type=int, help="id of a ringbuf with traffic (the demo's demo_ringbuf)")
    ap.add_argument("--perf", type=int, help="id of a perf_event_array with traffic")
    ap.add_argument("--rate", type=float, help="ringbuf scene on our own producer of this many events/s")
    ap.add_argument("--perf-rate", type=float, help="perf scene on our own producer of this many events/s")
    ap.add_argument("--scenes", default="", help="comma-separated subset: list,percpu,ringbuf,perf")
    ap.add_argument("--exe", default=str(EXE),
                    help="command that starts the explorer (another checkout's, for a before/after)")
    ap.add_argument("--show", action="store_true", help="print each scene's screen after sampling")
    ap.add_argument("--seconds", type=float, default=60.0, help="sampling time per scene (60)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds before sampling (5)")
    a = ap.parse_args()
    if shutil.which("tmux") is None or os.geteuid() != 0:
        print("needs root and tmux", file=sys.stderr)
        return 1
    # (name, short name, map id or producer key, producer rates, keys to press)
    Scene = tuple[str, str, "int | str | None", tuple[float, float], list[str]]
    scenes: list[Scene] = [("map list", "list", None, (0, 0), [])]
    if a.percpu:
        scenes.append(("per-CPU map view", "percpu", a.percpu, (0, 0), []))
    if a.rate or a.ringbuf:
        scenes.append(("ringbuf event view", "ringbuf", a.ringbuf or "ringbuf", (a.rate or 0, 0), ["w"]))
    if a.perf_rate or a.perf:
        keys = ["w", "y@Yes (y)"]  # y: install into the empty slots of a map another process holds
        scenes.append(("perf event view", "perf", a.perf or "perf", (0, a.perf_rate or 0), keys))
    wanted = {x.strip() for x in a.scenes.split(",") if x.strip()}
    scenes = [sc for sc in scenes if not wanted or sc[1] in wanted]
    print(f"{sum(1 for _ in maps.map_ids()):,} maps in the kernel, load average {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'scene':<22}{'cpu % of one core':>18}{'target':>9}{'RSS MiB':>9}        load avg 1 min   "
          f"over {a.seconds:g} s")
    for name, _short, target, rates, keys in scenes:
        with contextlib.ExitStack() as stack:
            if isinstance(target, str):
                target = stack.enter_context(producer(*rates))[target]
            args = ["--map", str(target)] if target is not None else []
            load0 = os.getloadavg()[0]
            cpu, rss = measure(name, args, keys, a.seconds, a.settle, a.show, a.exe)
            load1 = os.getloadavg()[0]
            ok = "ok" if cpu < TARGETS[name] else "OVER"
            print(f"{name:<22}{cpu:>17.1f}%{TARGETS[name]:>8.0f}%{rss:>9.0f}   {ok:<4}  "
                  f"{load0:.2f} -> {load1:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
