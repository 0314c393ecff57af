"""Key-press-to-render latency and memory of the explorer with a 1,000,000-entry map open and refreshing.

Two measurements (Pilot's press cannot measure this: its idle detection has an ~80 ms floor):

- in process: the app runs headless over the real kernel (refresh 1 s by default); each cursor key is handed
  to the driver and the latency is the time until the screen has composited the update that shows the moved
  cursor (the moment a terminal would be written to).
- end to end in a real terminal: the app runs in a tmux pane (``mapexplorer --map ID --refresh 1``), the bench
  sends keys with ``tmux send-keys`` and polls ``tmux capture-pane`` until the status line shows the new row.
  This includes tmux's own cost; the floor of that method (echo through ``cat``) is measured and reported too.

Also reported: the time from Enter on the map's row to its first rendered rows (in process), the time from
launch to the first rows (tmux: Python start-up, imports, the map list, then the map), the RSS of the app
process while it refreshes, and the source-level read time of the map.

Run as root: ``.venv/bin/python bench/tui_latency.py [--entries N] [--moves N]``. Needs tmux. Prints one JSON
object. The map it creates (``bench_tui_1m``) is freed when the bench exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id
from mapexplorer.kernel_source import KernelSource

ROOT = Path(__file__).resolve().parent.parent
SESSION = f"bench_tui_{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(pattern: str, timeout: float) -> tuple[float, re.Match[str]]:
    """Poll the pane until ``pattern`` matches; returns (seconds waited, match)."""
    rx = re.compile(pattern)
    t0 = time.perf_counter()
    while True:
        m = rx.search(screen())
        if m:
            return time.perf_counter() - t0, m
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{pattern!r} not on screen after {timeout}s:\n{screen()}")
        time.sleep(0.002)  # leave the 2 cores to the app and the tmux server


def make_map(n: int) -> maps.Map:
    fd = maps.create_map(map_type_id("hash"), 4, 8, n, name="bench_tui_1m")
    m = maps.Map(fd)
    step = 65536
    for start in range(0, n, step):
        count = min(step, n - start)
        keys = b"".join(i.to_bytes(4, "little") for i in range(start, start + count))
        values = b"".join((i * 3).to_bytes(8, "little") for i in range(start, start + count))
        m.update_batch(keys, values, count)
    return m


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def tmux_floor(samples: int = 30) -> dict[str, float]:
    """Latency of the tmux method itself: a key echoed by ``cat``."""
    name = f"{SESSION}_floor"
    tmux("new-session", "-d", "-s", name, "-x", "80", "-y", "24", "cat")
    lat = []
    try:
        for i in range(samples):
            t = time.perf_counter()
            tmux("send-keys", "-t", name, "x")
            while "x" * (i + 1) not in tmux("capture-pane", "-p", "-t", name):
                time.sleep(0.002)
            lat.append((time.perf_counter() - t) * 1000)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False, capture_output=True)
    return {"p50": round(statistics.median(lat), 1), "p95": round(pct(lat, 0.95), 1)}


async def inprocess(map_id: int, entries: int, moves: int, refresh: float) -> dict[str, object]:
    """Key-to-composited-update latency inside the app (headless, real kernel, refresh 1 s)."""
    from textual import events

    from mapexplorer.app import make_app
    from mapexplorer.messages import OpenMap
    from mapexplorer.screens.map_list import MapListScreen
    from mapexplorer.screens.map_view import MapViewScreen
    from mapexplorer.widgets.entry_table import EntryTable

    app = make_app(refresh=refresh)
    displays: list[float] = []
    original = app._display

    def spy(screen: object, renderable: object) -> None:
        original(screen, renderable)  # type: ignore[arg-type]
        if renderable is not None:
            displays.append(time.perf_counter())

    app._display = spy  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)):
        while not (isinstance(app.screen, MapListScreen) and app.screen.snapshot is not None):
            await asyncio.sleep(0.005)
        await app.workers.wait_for_complete()  # the first round of entry counting too
        t0 = time.perf_counter()
        app.post_message(OpenMap(map_id))  # what Enter on the map's row does
        while True:
            screen = app.screen
            if isinstance(screen, MapViewScreen) and screen.query_one(EntryTable).row_count == entries:
                break
            await asyncio.sleep(0.005)
        open_s = time.perf_counter() - t0
        table = app.screen.query_one(EntryTable)
        await asyncio.sleep(0.5)
        lat = []
        for i in range(moves):
            key = "down" if i % 20 < 15 else "up"
            target = table.cursor_row + (1 if key == "down" else -1)
            t = time.perf_counter()
            event = events.Key(key, None)
            event.set_sender(app)
            app._driver.send_message(event)
            while table.cursor_row != target:
                await asyncio.sleep(0.0002)
            moved = time.perf_counter()
            while not displays or displays[-1] < moved:
                await asyncio.sleep(0.0002)
            lat.append((displays[-1] - t) * 1000)
            await asyncio.sleep(0.03)
    return {
        "enter_to_rows_s": round(open_s, 2),
        "n": len(lat),
        "p50": round(statistics.median(lat), 1),
        "p95": round(pct(lat, 0.95), 1),
        "max": round(max(lat), 1),
    }


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--refresh", type=float, default=1.0, help="the app's refresh interval (0: none)")
    args = ap.parse_args()
    if not shutil.which("tmux"):
        sys.stderr.write("tmux is needed\n")
        return 1
    t = time.perf_counter()
    m = make_map(args.entries)
    fill_s = time.perf_counter() - t
    source = KernelSource()
    t = time.perf_counter()
    snap = source.read_map(m.info.id)
    read_s = time.perf_counter() - t
    assert snap.count == args.entries, snap.count
    del snap
    in_process = asyncio.run(inprocess(m.info.id, args.entries, args.moves, args.refresh))
    floor = tmux_floor()
    exe = ROOT / ".venv" / "bin" / "mapexplorer"
    try:
        t0 = time.perf_counter()
        tmux(
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "120",
            "-y",
            "36",
            f"exec {exe} --map {m.info.id} --refresh {args.refresh:g}",
        )
        pid = int(tmux("list-panes", "-t", SESSION, "-F", "#{pane_pid}").split()[0])
        wait_for(rf"{args.entries:,} entries", 60)
        open_s = time.perf_counter() - t0
        wait_for(r"row 1\b", 10)
        latencies = []
        rss = []
        for i in range(args.moves):
            key = "Down" if i % 20 < 15 else "Up"
            before = re.search(r"row ([\d,]+)", screen())
            row = int(before.group(1).replace(",", "")) if before else 1
            target = row + (1 if key == "Down" else -1)
            t = time.perf_counter()
            tmux("send-keys", "-t", SESSION, key)
            _dt, _ = wait_for(rf"row {target:,}\b", 10)
            latencies.append((time.perf_counter() - t) * 1000)
            if i % 10 == 0:
                rss.append(rss_mb(pid))
            time.sleep(0.05)  # a person's key repeat is ~30/s; refreshes keep running underneath
        time.sleep(3)  # three more refreshes of the 1M map
        rss.append(rss_mb(pid))
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], check=False, capture_output=True)
        m.close()
    out = {
        "entries": args.entries,
        "refresh_s": args.refresh,
        "fill_s": round(fill_s, 2),
        "source_read_s": round(read_s, 3),
        "launch_to_first_rows_s": round(open_s, 2),
        "in_process_key_to_render_ms": in_process,
        "tmux_method_floor_ms": floor,
        "tmux_key_to_screen_ms": {
            "n": len(latencies),
            "p50": round(statistics.median(latencies), 1),
            "p95": round(pct(latencies, 0.95), 1),
            "max": round(max(latencies), 1),
        },
        "rss_mb": {"max": round(max(rss), 1), "last": round(rss[-1], 1)},
        "note": "tmux figures include send-keys, the terminal emulation and capture-pane polling",
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
