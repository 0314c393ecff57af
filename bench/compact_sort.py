"""numpy or the standard library for sorting and filtering big maps' columns: which one pays.

The map view keeps a big map's keys and values as two contiguous byte buffers (one batch read each) and
sorts / filters by a column without decoding every entry into Python objects. This bench times, on
synthetic entries like a big hash's (``--entries`` 1,000,000 by default: u32 key, a 16-byte value struct
``{u64 bytes; u32 pkts; u32 flags}``), each way of doing the three steps:

- extract: one integer field of every value (``pkts`` at offset 8) -- ``numpy.ndarray`` over the buffer with
  a stride (no copy) vs ``struct.iter_unpack`` vs ``memoryview.cast`` and a slice;
- sort: a stable order of the rows by that field (both directions) -- ``numpy.argsort(kind="stable")`` vs
  ``sorted(range(n), key=list.__getitem__)``;
- filter: the rows whose decimal text contains a digit string (what the entry filter matches on an integer
  cell) -- one text blob per column (``\\x00``-separated, built once per snapshot) searched with numpy
  vs ``re.finditer`` + ``bisect`` vs ``needle in str(v)`` per row; the blob's build time is shown apart
  (it is cached, a second keystroke only searches).

Prints one JSON object with every time (median of ``--repeat``), and the RSS growth of each representation.
No kernel, no root: ``.venv/bin/python bench/compact_sort.py [--entries N]``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import re
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 4), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--needle", default="123")
    args = ap.parse_args()
    n, rep, needle = args.entries, args.repeat, args.needle
    rnd = random.Random(1)
    values = b"".join(
        struct.pack("<QII", rnd.getrandbits(40), rnd.getrandbits(24), rnd.getrandbits(3)) for _ in range(n)
    )
    stride, off = 16, 8
    out: dict[str, Any] = {"entries": n, "numpy": np.__version__, "python": sys.version.split()[0]}

    # -- extract --------------------------------------------------------------------------------------
    t_np, col_np = timed(lambda: np.ndarray((n,), "<u4", values, off, (stride,)), rep)
    fmt = struct.Struct(f"<{off}xI{stride - off - 4}x")
    t_st, col_st = timed(lambda: [v for (v,) in fmt.iter_unpack(values)], rep)
    t_mv, col_mv = timed(lambda: memoryview(values).cast("I")[off // 4 :: stride // 4].tolist(), rep)
    assert col_np.tolist() == col_st == col_mv
    out["extract_s"] = {"numpy_view": t_np, "struct_iter_unpack": t_st, "memoryview_cast": t_mv}

    # -- sort -----------------------------------------------------------------------------------------
    def np_sort(desc: bool) -> Any:
        if not desc:
            return np.argsort(col_np, kind="stable")
        return (n - 1 - np.argsort(col_np[::-1], kind="stable"))[::-1]

    t_np_a, o_np_a = timed(lambda: np_sort(False), rep)
    t_np_d, o_np_d = timed(lambda: np_sort(True), rep)
    t_py_a, o_py_a = timed(lambda: sorted(range(n), key=col_mv.__getitem__), rep)
    t_py_d, o_py_d = timed(lambda: sorted(range(n), key=col_mv.__getitem__, reverse=True), rep)
    assert o_np_a.tolist() == o_py_a and o_np_d.tolist() == o_py_d
    out["sort_s"] = {
        "numpy_argsort_stable": t_np_a,
        "numpy_argsort_stable_desc": t_np_d,
        "python_sorted": t_py_a,
        "python_sorted_desc": t_py_d,
    }

    # -- filter ---------------------------------------------------------------------------------------
    t_blob, blob = timed(lambda: "\x00".join(map(str, col_mv)).encode() + b"\x00", rep)
    t_seps, seps = timed(lambda: np.flatnonzero(np.frombuffer(blob, np.uint8) == 0), rep)
    nb = needle.encode()

    def np_search() -> Any:
        buf = np.frombuffer(blob, np.uint8)
        pos = np.flatnonzero(buf[: len(buf) - len(nb) + 1] == nb[0])
        for k in range(1, len(nb)):
            pos = pos[buf[pos + k] == nb[k]]
        return np.unique(np.searchsorted(seps, pos))

    seps_list = seps.tolist()

    def re_search() -> list[int]:
        rows: list[int] = []
        last = -1
        for m in re.finditer(re.escape(nb), blob):
            r = bisect.bisect_left(seps_list, m.start())
            if r != last:
                rows.append(r)
                last = r
        return rows

    t_np_f, r_np = timed(np_search, rep)
    t_re_f, r_re = timed(re_search, rep)
    t_row_f, r_row = timed(lambda: [i for i, v in enumerate(col_mv) if needle in str(v)], rep)
    assert r_np.tolist() == r_re == r_row
    out["filter_s"] = {
        "blob_build_once": t_blob,
        "blob_separators_once": t_seps,
        "numpy_search": t_np_f,
        "re_finditer_bisect": t_re_f,
        "per_row_str_in": t_row_f,
        "matches": len(r_row),
        "blob_mb": round(len(blob) / 2**20, 1),
    }
    out["bytes_per_entry"] = {
        "numpy_column": col_np.itemsize,
        "python_int_list": round((sys.getsizeof(col_mv) + sum(sys.getsizeof(v) for v in col_mv[:1000]) * n
                                  / 1000) / n, 1),
        "order_numpy_int32": 4,
        "order_python_list": 8 + 28,
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
