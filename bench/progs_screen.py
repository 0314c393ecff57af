"""The programs screen with many programs loaded: the explorer's CPU at 1 s refresh, and the cost of one
refresh in the source.

Setup: ``--progs`` (500) socket-filter programs named ``pg_bench_N`` (two instructions each), of which every
tenth uses one of ``--maps`` (10) small hash maps (so names, map columns and the read/write analysis have
work to do). ``--busy`` (20) of them are attached as socket filters to a UDP socket this process keeps
sending to, so that run counts and rates change at every refresh. Everything is freed when the bench exits
(this process holds the fds).

Measured:

- ``refresh_ms``: one :meth:`mapexplorer.prog_source.KernelPrograms.list_programs` (median of ``--repeat``),
  with run statistics on; ``first_ms``: the first one (kallsyms, full names, instruction analysis).
- ``tui``: ``python -m mapexplorer --refresh 1`` in a tmux pane, ``P`` pressed, for ``--tui-seconds`` (60):
  the process's CPU% of one core (user + system over wall time) and RSS; the target is under 2 %.
  ``tui_map_list`` is the same process on the map list, for comparison.

bpftool has no live view (``bpftool prog show`` is one-shot: ``bpftool_show_ms`` is one run of it, for
scale); bpftop is not packaged here.

Run as root: ``.venv/bin/python bench/progs_screen.py``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import psutil

from mapexplorer.kernel import maps, progs
from mapexplorer.kernel.names import map_type_id
from mapexplorer.prog_source import KernelPrograms

ROOT = Path(__file__).resolve().parent.parent
SESSION = f"pg_bench_{os.getpid()}"
SOCKET_FILTER = 1
SO_ATTACH_BPF = 50


def load(stack: ExitStack, n: int, nmaps: int) -> list[int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + nmaps + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + nmaps + 1024), hard))
    map_fds = []
    for i in range(nmaps):
        fd = maps.create_map(map_type_id("hash"), 4, 8, 16, name=f"pg_bench_m{i}")
        stack.callback(os.close, fd)
        map_fds.append(fd)
    ret0 = progs.insn(0xB7, dst=0, imm=0) + progs.insn(0x95)
    fds = []
    for i in range(n):
        if i % 10 == 0 and map_fds:
            # r1 = map; r2 = fp - 4 (key 0 stored there); call map_lookup_elem; r0 = 0; exit
            insns = (
                progs.insn(0x62, dst=10, off=-4, imm=0)
                + progs.insn(0x18, dst=1, src=1, imm=map_fds[(i // 10) % len(map_fds)])
                + progs.insn(0)
                + progs.insn(0xBF, dst=2, src=10)
                + progs.insn(0x07, dst=2, imm=-4)
                + progs.insn(0x85, imm=1)
                + ret0
            )
        else:
            insns = ret0
        fd = progs.load_prog(insns, SOCKET_FILTER, name=f"pg_bench_{i}")
        stack.callback(os.close, fd)
        fds.append(fd)
    return fds


def start_traffic(stack: ExitStack, prog_fds: list[int]) -> None:
    """UDP to ourselves through sockets that run the given programs, from a thread, until the bench ends."""
    stop = threading.Event()
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # a socket filter runs on every packet its socket receives: one socket per program, each sent to
    targets = []
    for fd in prog_fds:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, fd)
        s.setblocking(False)
        stack.callback(s.close)
        targets.append(s)

    def run() -> None:
        while not stop.is_set():
            for s in targets:
                tx.sendto(b"x", s.getsockname())
                with suppress(BlockingIOError):
                    s.recv(16)
            time.sleep(0.01)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    stack.callback(tx.close)
    stack.callback(t.join)
    stack.callback(stop.set)


def time_refresh(repeat: int) -> dict:
    kp = KernelPrograms(always_stats=True)
    try:
        t0 = time.perf_counter()
        kp.list_programs()
        first = time.perf_counter() - t0
        times = []
        cpu0 = time.process_time()
        for _ in range(repeat):
            t0 = time.perf_counter()
            snap = kp.list_programs()
            times.append(time.perf_counter() - t0)
        cpu = (time.process_time() - cpu0) / repeat
        return {
            "programs": len(snap.rows),
            "first_ms": round(first * 1000, 1),
            "refresh_ms": round(statistics.median(times) * 1000, 2),
            "refresh_cpu_ms": round(cpu * 1000, 2),
        }
    finally:
        kp.close()


def bpftool_show_ms() -> float | None:
    if shutil.which("bpftool") is None:
        return None
    t0 = time.perf_counter()
    subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, check=True)
    return round((time.perf_counter() - t0) * 1000, 1)


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def tui_cpu(seconds: float, keys: list[str], wait_for: str, label: str) -> dict:
    """CPU% and RSS of the explorer in a tmux pane over ``seconds``, after ``keys``."""
    cmd = f"cd {ROOT} && exec {sys.executable} -m mapexplorer --refresh 1"
    session = f"{SESSION}_{len(keys)}"
    tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "45", cmd)
    try:
        pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip())
        proc = psutil.Process(pid)
        deadline = time.monotonic() + 60
        while " maps" not in tmux("capture-pane", "-p", "-t", session) and time.monotonic() < deadline:
            time.sleep(0.5)
        for key in keys:
            tmux("send-keys", "-t", session, key)
        deadline = time.monotonic() + 60
        while wait_for not in tmux("capture-pane", "-p", "-t", session) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(8)  # start-up, the first analysis of every program, the first owner walk
        c0, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc.cpu_times(), time.monotonic()
        busy = (c1.user - c0.user) + (c1.system - c0.system)
        pct = 100 * busy / (t1 - t0)
        return {
            "screen": label,
            "seconds": round(t1 - t0, 1),
            "cpu_percent": round(pct, 2),
            "rss_mb": round(proc.memory_info().rss / 2**20, 1),
            "target_under_2pct": pct < 2,
            "screen_head": tmux("capture-pane", "-p", "-t", session).splitlines()[1:4],
            "screen_tail": tmux("capture-pane", "-p", "-t", session).rstrip().splitlines()[-2:],
        }
    finally:
        tmux("kill-session", "-t", session)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--progs", type=int, default=500)
    ap.add_argument("--maps", type=int, default=10)
    ap.add_argument("--busy", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--tui-seconds", type=float, default=60.0)
    ap.add_argument("--no-tui", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root", file=sys.stderr)
        return 1
    out: dict = {"progs_loaded": args.progs}
    with ExitStack() as stack:
        fds = load(stack, args.progs, args.maps)
        start_traffic(stack, fds[1 : 1 + args.busy])
        out["source"] = time_refresh(args.repeat)
        out["bpftool_show_ms"] = bpftool_show_ms()
        if not args.no_tui and shutil.which("tmux"):
            out["tui_programs"] = tui_cpu(args.tui_seconds, ["P"], "run statistics", "programs (P)")
            out["tui_map_list"] = tui_cpu(args.tui_seconds, [], " maps", "map list")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
