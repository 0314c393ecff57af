"""Time `mapexplorer dump ID --json` against `bpftool -j map dump id ID` on the same 1,000,000-entry maps.

Two hash maps with BTF: u32 -> u64, and u32 -> a 24-byte struct. Each pair of runs alternates the two
tools (output to /dev/null); the median ratio ours/bpftool is printed per map. Run as root:

    sudo .venv/bin/python bench/dump_vs_bpftool.py [--entries N] [--pairs P]
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import time

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id

MAPEXPLORER = [sys.executable, "-m", "mapexplorer"]


def build_btf() -> tuple[int, int, int, int]:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    val = b.struct(
        "flow_stats", 24, [("packets", u64, 0), ("cpu", u32, 64), ("flags", u32, 96), ("bytes", u64, 128)]
    )
    return load_btf(b.blob()), u32, u64, val


def fill(m: maps.Map, n: int, value_of) -> None:
    step = 100_000
    for start in range(0, n, step):
        idx = range(start, min(n, start + step))
        keys = b"".join(struct.pack("<I", i) for i in idx)
        values = b"".join(value_of(i) for i in idx)
        m.update_batch(keys, values, len(idx))


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    with open(os.devnull, "w") as null:
        subprocess.run(cmd, stdout=null, check=True)
    return time.perf_counter() - t


def compare(label: str, map_id: int, pairs: int) -> float:
    ours, ref = [], []
    for _ in range(pairs):
        ours.append(timed([*MAPEXPLORER, "dump", str(map_id), "--json"]))
        ref.append(timed(["bpftool", "-j", "map", "dump", "id", str(map_id)]))
    ratios = [o / r for o, r in zip(ours, ref, strict=True)]
    ratio = statistics.median(ratios)
    runs = f"ours {[round(x, 2) for x in ours]}, bpftool {[round(x, 2) for x in ref]}"
    print(
        f"{label}: mapexplorer median {statistics.median(ours):.2f}s,"
        f" bpftool median {statistics.median(ref):.2f}s, median ratio {ratio:.2f}  ({runs})"
    )
    return ratio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    btf_fd, u32, u64, val = build_btf()
    made: list[maps.Map] = []
    try:
        n = args.entries
        h64 = maps.Map(
            maps.create_map(
                map_type_id("hash"),
                4,
                8,
                n,
                name="bench_u64",
                btf_fd=btf_fd,
                btf_key_type_id=u32,
                btf_value_type_id=u64,
            )
        )
        made.append(h64)
        fill(h64, n, lambda i: struct.pack("<Q", i * 3))
        hst = maps.Map(
            maps.create_map(
                map_type_id("hash"),
                4,
                24,
                n,
                name="bench_struct",
                btf_fd=btf_fd,
                btf_key_type_id=u32,
                btf_value_type_id=val,
            )
        )
        made.append(hst)
        fill(hst, n, lambda i: struct.pack("<QIIQ", i, i % 2, 0x10, i * 1500))
        print(f"{n} entries each; {args.pairs} alternating pairs; output to /dev/null")
        worst = max(
            compare("hash u32 -> u64", h64.info.id, args.pairs),
            compare("hash u32 -> struct flow_stats (24 B)", hst.info.id, args.pairs),
        )
        print(f"worst median ratio: {worst:.2f} (target <= 0.5)")
        return 0
    finally:
        for m in made:
            m.close()
        os.close(btf_fd)


if __name__ == "__main__":
    sys.exit(main())
