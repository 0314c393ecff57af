"""``mapexplorer export`` under load: scrape latency and the exporter's CPU.

Setup: ``--maps`` maps (default 2,000 small hashes named ``eb_m*``) plus one hash ``eb_values`` of
``--keys`` (100,000) u32 -> u64 entries with BTF, exported with
``--values 'eb_values as eb_value_total counter by key=slot'``. Every map is freed when the bench exits
(this process holds their fds).

Measured, with the exporter at ``--interval`` (15 s) on a loopback port:

- ``first_snapshot_s``: from start until /metrics answers with the value series (one full kernel read).
- ``snapshot_s``: what the exporter says one kernel read took (``bpf_export_snapshot_duration_seconds``).
- ``scrape_ms`` p50 / p95 / max over ``--scrapes`` sequential scrapes spread over ``--seconds`` (60): a
  scrape renders the latest snapshot (100,000+ series), it never reads the kernel.
- ``cpu_pct``: the exporter's CPU (user + system) over those seconds, as % of one core, scrapes included,
  and the same without scrapes (``idle_cpu_pct``, one interval's reads only). RSS at the end.
- ``bpftool_show_s``: ``bpftool -j map show`` of the same box, for scale (bpftool has no exporter).

Run as root: ``.venv/bin/python bench/export_scrape.py``. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack

import psutil

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id


def make_maps(stack: ExitStack, n: int, keys: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    hash_t = map_type_id("hash")
    for i in range(n):
        fd = maps.create_map(hash_t, 4, 8, 64, name=f"eb_m{i}")
        stack.callback(os.close, fd)
    b = BtfBuilder()
    u32, u64 = b.int("u32", 4), b.int("u64", 8)
    btf_fd = load_btf(b.blob())
    stack.callback(os.close, btf_fd)
    fd = maps.create_map(
        hash_t, 4, 8, keys, name="eb_values", btf_fd=btf_fd, btf_key_type_id=u32, btf_value_type_id=u64
    )
    m = maps.Map(fd)
    stack.callback(m.close)
    step = 10_000
    for start in range(0, keys, step):
        count = min(step, keys - start)
        ks = b"".join(struct.pack("<I", k) for k in range(start, start + count))
        vs = b"".join(struct.pack("<Q", k * 3) for k in range(start, start + count))
        m.update_batch(ks, vs, count)


def scrape(url: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as r:
        body = r.read()
    return time.perf_counter() - t0, body


def metric(body: bytes, name: str) -> float:
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise LookupError(name)


def cpu_seconds(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", type=int, default=2000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--interval", type=float, default=15.0)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--scrapes", type=int, default=120)
    args = ap.parse_args()

    with ExitStack() as stack:
        make_maps(stack, args.maps, args.keys)
        t0 = time.perf_counter()
        subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True, check=True)
        bpftool_s = time.perf_counter() - t0

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        url = f"http://127.0.0.1:{port}/metrics"
        started = time.perf_counter()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mapexplorer",
                "export",
                "--listen",
                f"127.0.0.1:{port}",
                "--interval",
                str(args.interval),
                "--max-series",
                str(2 * args.keys),
                "--values",
                "eb_values as eb_value_total counter by key=slot",
            ],
            stderr=subprocess.DEVNULL,
        )
        stack.callback(lambda: (proc.send_signal(signal.SIGTERM), proc.wait(timeout=30)))
        while True:
            try:
                _, body = scrape(url)
                if b"eb_value_total{" in body:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        first_s = time.perf_counter() - started
        p = psutil.Process(proc.pid)

        # idle: one interval with no scrapes
        c0, w0 = cpu_seconds(p), time.perf_counter()
        time.sleep(args.interval * 2)
        idle_pct = 100 * (cpu_seconds(p) - c0) / (time.perf_counter() - w0)

        lat: list[float] = []
        c0, w0 = cpu_seconds(p), time.perf_counter()
        gap = args.seconds / args.scrapes
        for i in range(args.scrapes):
            dt, body = scrape(url)
            lat.append(dt)
            time.sleep(max(0.0, w0 + (i + 1) * gap - time.perf_counter()))
        wall = time.perf_counter() - w0
        cpu_pct = 100 * (cpu_seconds(p) - c0) / wall
        lat.sort()
        out = {
            "maps": args.maps + 1,
            "value_keys": args.keys,
            "interval_s": args.interval,
            "first_snapshot_s": round(first_s, 2),
            "snapshot_s": round(metric(body, "bpf_export_snapshot_duration_seconds"), 3),
            "series_in_scrape": body.count(b"\n"),
            "scrape_ms": {
                "p50": round(1000 * statistics.median(lat), 1),
                "p95": round(1000 * lat[int(0.95 * (len(lat) - 1))], 1),
                "max": round(1000 * lat[-1], 1),
            },
            "cpu_pct": round(cpu_pct, 2),
            "idle_cpu_pct": round(idle_pct, 2),
            "rss_mb": round(p.memory_info().rss / 2**20, 1),
            "bpftool_show_s": round(bpftool_s, 3),
        }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
