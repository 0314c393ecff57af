"""BTF figures: indexing /sys/kernel/btf/vmlinux, name lookup, full validation, the enum fast path used at
CLI start, compiling decoding plans, and decode / JSON-text throughput for a 24-byte struct.

    .venv/bin/python bench/btf_index.py [--repeat N] [--entries N]

Medians of N runs (each in this process; the first index run includes reading the file).
"""

from __future__ import annotations

import argparse
import statistics
import struct
import sys
import time
from collections.abc import Callable

from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.btf.decode import compile_decoder, compile_entry_texts, compile_json_texts, compile_plan
from mapexplorer.btf.types import find_enum_fast

VMLINUX = "/sys/kernel/btf/vmlinux"


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def flow_stats() -> tuple[Btf, int, int]:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    val = b.struct(
        "flow_stats", 24, [("packets", u64, 0), ("cpu", u32, 64), ("flags", u32, 96), ("bytes", u64, 128)]
    )
    return Btf.parse(b.blob()), u32, val


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--entries", type=int, default=1_000_000)
    args = ap.parse_args()
    r = args.repeat

    def read() -> bytes:
        with open(VMLINUX, "rb") as f:
            return f.read()

    data = read()
    print(f"vmlinux BTF: {len(data) / 1e6:.1f} MB")
    print(f"  read file:                      {median_time(read, r) * 1e3:7.1f} ms")
    t_index = median_time(lambda: Btf.parse(data), r)
    btf = Btf.parse(data)
    print(f"  parse + index ({btf.count - 1} types): {t_index * 1e3:7.1f} ms   (target < 500 ms)")

    def first_find() -> None:
        Btf.parse(data).find("task_struct", "struct")

    print(f"  parse + first find by name:     {median_time(first_find, r) * 1e3:7.1f} ms")
    t_enum = median_time(
        lambda: (find_enum_fast(data, "bpf_map_type"), find_enum_fast(data, "bpf_prog_type")), r
    )
    print(f"  map/prog type enums, fast path: {t_enum * 1e3:7.1f} ms (plus the file read)")
    fresh = Btf.parse(data)
    t = time.perf_counter()
    fresh.validate()
    print(f"  validate every record (lazy otherwise): {(time.perf_counter() - t) * 1e3:7.1f} ms")
    task = btf.find("task_struct", "struct")
    assert task is not None

    plan_times = []
    for _ in range(r):
        b2 = Btf.parse(data)
        t = time.perf_counter()
        compile_plan(b2, task)
        plan_times.append(time.perf_counter() - t)
    print(f"  compile plan for struct task_struct (fresh Btf): {statistics.median(plan_times) * 1e3:7.1f} ms")
    lazy = Btf.parse(data)
    compile_plan(lazy, task)
    print(f"  records decoded for that plan: {lazy.decoded_count()} of {lazy.count - 1} (lazy)")

    fbtf, u32, val = flow_stats()
    n = args.entries
    values = b"".join(struct.pack("<QIIQ", i, i % 2, 0x10, i * 1500) for i in range(n))
    keys = b"".join(struct.pack("<I", i) for i in range(n))
    dec = compile_decoder(fbtf, val)
    sample = values[: 24 * 100_000]
    t_dec = median_time(lambda: [dec(sample[i : i + 24]) for i in range(0, len(sample), 24)], r)
    print(f"struct flow_stats (24 B), {n} entries:")
    print(f"  decode to Python objects:       {t_dec / 100_000 * 1e6:7.2f} us/entry")
    texts = compile_json_texts(fbtf, val)
    t_txt = median_time(lambda: texts(values), r)
    print(f"  value JSON texts:               {t_txt:7.3f} s  ({t_txt / n * 1e6:.2f} us/entry)")
    entries = compile_entry_texts((fbtf, u32), (fbtf, val), 4, 24)
    t_ent = median_time(lambda: entries(keys, values), r)
    print(f"  {{key, value}} entry JSON texts:  {t_ent:7.3f} s  ({t_ent / n * 1e6:.2f} us/entry)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
