"""Time `mapexplorer diff` of two 1,000,000-entry frames of a recording (target: under 2 s, under 500 MB RSS).

The recording is written here (no root needed): a hash of u32 -> 24-byte struct with BTF, two frames.
Case "hash": frame 1 has 1 % of the values changed, 1,000 keys deleted and 1,000 added (the key lists
differ: the general path). Case "same keys": 1 % changed, same keys in the same order (an array, or a hash
read twice without inserts: the block-compare path). Reference: GNU diff of the two frames as one entry per
line of `dump --json` text (what people do by hand today), which names lines, not fields.

    .venv/bin/python bench/diff_1m.py [--entries N] [--runs R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.codec import codec_for_map_line
from mapexplorer.kernel.maps import EntryChunk
from mapexplorer.recording import Writer, read

MAPEXPLORER = [sys.executable, "-m", "mapexplorer"]


def btf() -> tuple[bytes, int, int]:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    val = b.struct("flow_stats", 24, [("packets", u64, 0), ("cpu", u32, 64), ("flags", u32, 96),
                                      ("bytes", u64, 128)])
    return b.blob(), u32, val


def frame_bytes(keys: list[int], bump: set[int]) -> tuple[bytes, bytes]:
    pack = struct.Struct("<QIIQ").pack
    kb = b"".join(struct.pack("<I", k) for k in keys)
    vb = b"".join(pack(k, k % 2, 0, k * 64 + (100 if k in bump else 0)) for k in keys)
    return kb, vb


def write(path: Path, n: int, same_keys: bool) -> None:
    blob, key_id, value_id = btf()
    keys0 = list(range(n))
    bump = set(range(0, n, 100))  # 1 % of the values change
    if same_keys:
        keys1 = keys0
    else:
        gone = set(range(5, n, n // 1000))
        keys1 = [k for k in keys0 if k not in gone] + list(range(n, n + 1000))
    with Writer(path) as w:
        w.header(kernel="bench", possible_cpus=2, hostname="bench", wall=0.0, mono=0.0)
        facts = {"id": 1, "name": "flows", "type": "hash", "map_type": 1, "key_size": 4, "value_size": 24,
                 "max_entries": n + 1000, "btf_id": 1}
        w.map(facts, btf=blob, key_type_id=key_id, value_type_id=value_id)
        for f, (keys, b) in enumerate(((keys0, set()), (keys1, bump))):
            kb, vb = frame_bytes(keys, b)
            w.frame(1, t=float(f), wall=float(f), keys=kb, values=vb, count=len(keys), key_size=4, stride=24)


def dump_lines(path: Path, frame: int, out: Path) -> None:
    rec = read(path)
    f = rec.frames[1][frame]
    codec = codec_for_map_line(rec.maps[1], 2)
    lines = codec.chunk_json(EntryChunk(f.keys, f.values, f.count, f.key_size, f.stride))
    out.write_text("\n".join(lines) + "\n")


def run(cmd: list[str]) -> tuple[float, float, float, int]:
    """(wall s, cpu s, max RSS MB, exit code) of one run with stdout to /dev/null."""
    t = time.perf_counter()
    with open(os.devnull, "w") as null:
        proc = subprocess.Popen(cmd, stdout=null)
        _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="rc_bench_") as tmp:
        for case, same in (("hash", False), ("same keys", True)):
            path = Path(tmp) / "flows.jsonl.gz"
            t = time.perf_counter()
            write(path, args.entries, same)
            size = path.stat().st_size / 1e6
            print(f"[{case}] recording: {size:.1f} MB gzip, written in {time.perf_counter() - t:.1f} s")
            cmd = [*MAPEXPLORER, "diff", f"{path}@frame0", f"{path}@frame1", "--json"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            d = json.loads(out.stdout)["maps"][0]
            print(f"[{case}] diff finds {len(d['added'])} added, {len(d['removed'])} removed, "
                  f"{len(d['changed'])} changed")
            ours = [run(cmd) for _ in range(args.runs)]
            a, b = Path(tmp) / "a.txt", Path(tmp) / "b.txt"
            dump_lines(path, 0, a)
            dump_lines(path, 1, b)
            gnu = [run(["diff", str(a), str(b)]) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in ours)
            gwall = statistics.median(r[0] for r in gnu)
            print(f"[{case}] mapexplorer diff --json: {wall:.2f} s wall, "
                  f"{statistics.median(r[1] for r in ours):.2f} s CPU, {max(r[2] for r in ours):.0f} MB RSS "
                  f"(exit {ours[0][3]})")
            print(f"[{case}] GNU diff of two dump --json texts ({a.stat().st_size / 1e6:.0f} MB each): "
                  f"{gwall:.2f} s wall, {max(r[2] for r in gnu):.0f} MB RSS; ratio ours/GNU diff "
                  f"{wall / gwall:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
