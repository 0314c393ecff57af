"""Counting every map's entries: the BPF iterator vs reading every entry, and the explorer's idle CPU.

Setup: ``--maps`` maps (default 2,000) of which ``--big`` (10) are hashes holding ``--big-entries``
(1,000,000) u32 -> u64 entries each; the others are small hash / lru_hash / array maps with 0..100
entries. All are named ``hl_bc_*`` and freed when the bench exits (this process holds their fds).

Measured:

- ``iterator_ms``: one :func:`mapexplorer.kernel.counts.entry_counts` read (median of ``--repeat``), the
  program already loaded; ``iterator_load_ms``: the first call (BTF lookup + BPF_PROG_LOAD + link).
- ``counter_ms``: :class:`mapexplorer.kernel.health.Counter` for every map (iterator + arrays + the
  budgeted reads), what the map list pays per refresh.
- ``full_read_s``: reading every entry of every map (BPF_MAP_LOOKUP_BATCH, GET_NEXT_KEY fallback), what
  the map list did before the iterator; ``ratio`` = full read / iterator.
- ``tui``: the explorer in a tmux pane (``python -m mapexplorer --refresh 1``) on the map list for
  ``--tui-seconds`` (60): the process's CPU% of one core (user + system time over wall time) and RSS.
  ``--scenario maps`` measures it with the maps above; ``demo`` with ``mapexplorer demo`` running (and
  the bench's maps freed first); ``both`` does both.

bpftool has no entry count (``map show`` prints max_entries only), so there is nothing to compare it with.

Run as root: ``.venv/bin/python bench/count_entries.py [--scenario maps|demo|both|none]``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import psutil

from mapexplorer.kernel import counts, health, maps
from mapexplorer.kernel.names import map_type_id

ROOT = Path(__file__).resolve().parent.parent
SESSION = f"hl_bench_{os.getpid()}"


def make_maps(stack: ExitStack, n: int, big: int, big_entries: int) -> list[maps.Map]:
    """Create the maps; each is closed (and freed) when ``stack`` unwinds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    out: list[maps.Map] = []
    value = struct.pack("<Q", 7)
    for i in range(big):
        fd = maps.create_map(map_type_id("hash"), 4, 8, big_entries, name=f"hl_bc_big{i}")
        m = maps.Map(fd)
        stack.callback(m.close)
        step = 100_000
        for lo in range(0, big_entries, step):
            hi = min(big_entries, lo + step)
            keys = b"".join(struct.pack("<I", k) for k in range(lo, hi))
            m.update_batch(keys, value * (hi - lo), hi - lo)
        out.append(m)
    kinds = ("hash", "lru_hash", "array")
    for i in range(n - big):
        kind = kinds[i % len(kinds)]
        fd = maps.create_map(map_type_id(kind), 4, 8, 128, name=f"hl_bc_{i}")
        m = maps.Map(fd)
        stack.callback(m.close)
        if kind != "array":
            for k in range(i % 101):
                m.update(struct.pack("<I", k), value)
        out.append(m)
    return out


def time_counting(ms: list[maps.Map], repeat: int) -> dict:
    t0 = time.perf_counter()
    first = counts.entry_counts()
    load_ms = (time.perf_counter() - t0) * 1000
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        got = counts.entry_counts()
        runs.append((time.perf_counter() - t0) * 1000)
    infos = [m.info for m in ms]
    counter = health.Counter()
    counter.count(infos)
    counter_runs = []
    for _ in range(max(3, repeat // 4)):
        t0 = time.perf_counter()
        counter.count(infos)
        counter_runs.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    by_reading = {m.info.id: sum(c.count for c in m.read_chunks()) for m in ms}
    full_s = time.perf_counter() - t0
    hashes = [m.info.id for m in ms if m.info.type_name in counts.KFUNC_COUNTED]
    mismatches = [i for i in hashes if got.get(i) != by_reading[i]]
    it_ms = statistics.median(runs)
    return {
        "maps": len(ms),
        "maps_in_kernel": len(first),
        "entries": sum(by_reading.values()),
        "iterator_load_ms": round(load_ms, 1),
        "iterator_ms": round(it_ms, 2),
        "iterator_ms_max": round(max(runs), 2),
        "counter_ms": round(statistics.median(counter_runs), 2),
        "full_read_s": round(full_s, 3),
        "ratio": round(full_s * 1000 / it_ms, 1),
        "count_mismatches": mismatches,
        "target_under_50ms": it_ms < 50,
    }


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def tui_cpu(seconds: float, label: str) -> dict:
    """CPU% and RSS of the explorer on its map list in a tmux pane over ``seconds``."""
    cmd = f"cd {ROOT} && exec {sys.executable} -m mapexplorer --refresh 1"
    tmux("new-session", "-d", "-s", SESSION, "-x", "160", "-y", "45", cmd)
    try:
        pid = int(tmux("display-message", "-p", "-t", SESSION, "#{pane_pid}").strip())
        proc = psutil.Process(pid)
        deadline = time.monotonic() + 60
        while "maps" not in tmux("capture-pane", "-p", "-t", SESSION) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(5)  # start-up and the first rounds are not idle
        c0, t0 = proc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = proc.cpu_times(), time.monotonic()
        busy = (c1.user - c0.user) + (c1.system - c0.system)
        return {
            "scenario": label,
            "seconds": round(t1 - t0, 1),
            "cpu_percent": round(100 * busy / (t1 - t0), 2),
            "rss_mb": round(proc.memory_info().rss / 2**20, 1),
            "target_under_2pct": 100 * busy / (t1 - t0) < 2,
            "screen_tail": tmux("capture-pane", "-p", "-t", SESSION).rstrip().splitlines()[-2:],
        }
    finally:
        tmux("kill-session", "-t", SESSION)


def with_demo(seconds: float) -> dict:
    """The TUI's CPU% while ``mapexplorer demo`` runs in another process."""
    demo = subprocess.Popen([sys.executable, "-m", "mapexplorer", "demo"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and demo.poll() is None:
            names = {maps.map_info_by_id(i).name for i in maps.map_ids()}
            if sum(n.startswith("demo_") for n in names) >= 20:
                break
            time.sleep(2)
        if demo.poll() is not None:
            return {"scenario": "demo", "error": f"demo exited: {demo.stderr.read()[-300:]}"}
        time.sleep(5)
        return tui_cpu(seconds, "demo running")
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", type=int, default=2000)
    ap.add_argument("--big", type=int, default=10)
    ap.add_argument("--big-entries", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--tui-seconds", type=float, default=60.0)
    ap.add_argument("--scenario", choices=("maps", "demo", "both", "none"), default="both")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 1
    if args.scenario != "none" and shutil.which("tmux") is None:
        print("needs tmux", file=sys.stderr)
        return 1
    out: dict = {}
    with ExitStack() as stack:
        t0 = time.perf_counter()
        ms = make_maps(stack, args.maps, args.big, args.big_entries)
        out["setup_s"] = round(time.perf_counter() - t0, 1)
        out["counting"] = time_counting(ms, args.repeat)
        if args.scenario in ("maps", "both"):
            out["tui_with_bench_maps"] = tui_cpu(args.tui_seconds, f"{args.maps} maps")
    if args.scenario in ("demo", "both"):
        out["tui_with_demo"] = with_demo(args.tui_seconds)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
