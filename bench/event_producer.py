"""A load source for the event-view benchmarks: events at a controlled rate into a ringbuf and/or a
perf_event_array of its own, so a figure does not depend on the demo (or on whatever else runs).

A BCC program on ``sys_enter_getppid`` (ringbuf) and ``sys_enter_getpgrp`` (perf_event_array), for this
process only, writes one ``struct evx_bench_event`` per call: the demo's event layout (a ``ts_ns``
timestamp, ids, ``comm``, a 64-byte ``filename``), so the explorer decodes and formats what it would for the
demo. This process then calls ``getppid()`` / ``getpgrp()`` at the asked rates, paced every few ms.

    sudo .venv/bin/python bench/event_producer.py --rate 1000 --perf-rate 20000

prints ``{"ringbuf": ID, "perf": ID}`` once the maps exist (map names ``evx_bench_rb`` and
``evx_bench_pf``), then runs until stdin closes or SIGTERM/SIGINT, and prints how many events it emitted
per second over its life on stderr. This process also consumes its ringbuf (BCC ``ring_buffer_consume``
after each burst), as a program's own reader does: a ringbuf nobody consumes fills up and then takes no
more records, so the explorer's tap (which never moves the consumer position) would see nothing new.
Nobody reads the perf_event_array: the explorer installs its perf events into the empty slots.

Used by bench/idle_cpu.py (``--rate``, ``--perf-rate``), runnable alone for manual checks.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import threading
import time
from typing import Any

PROG = r"""
struct evx_bench_event {
    u64 ts_ns;
    u32 pid;
    u32 tid;
    u32 uid;
    u32 kind;
    s32 kernel_stack_id;
    s32 user_stack_id;
    char comm[16];
    char filename[64];
};
BPF_RINGBUF_OUTPUT(evx_bench_rb, RB_PAGES);
BPF_PERF_OUTPUT(evx_bench_pf);
BPF_ARRAY(evx_bench_last, struct evx_bench_event, 1);  /* puts the struct into the programs' BTF */

static __always_inline void fill(struct evx_bench_event *e, u32 kind) {
    u64 id = bpf_get_current_pid_tgid();
    e->ts_ns = bpf_ktime_get_ns();
    e->pid = id >> 32;
    e->tid = (u32)id;
    e->uid = (u32)bpf_get_current_uid_gid();
    e->kind = kind;
    e->kernel_stack_id = -1;
    e->user_stack_id = -1;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    __builtin_memcpy(&e->filename, "/bench/evx/idle_cpu", 20);
    u32 zero = 0;
    evx_bench_last.update(&zero, e);  /* the programs use the map of the struct, as the demo's do */
}

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET_TGID)
        return 0;
    struct evx_bench_event e = {};
    fill(&e, 1);
    evx_bench_rb.ringbuf_output(&e, sizeof(e), 0);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_getpgrp) {
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET_TGID)
        return 0;
    struct evx_bench_event e = {};
    fill(&e, 2);
    evx_bench_pf.perf_submit(args, &e, sizeof(e));
    return 0;
}
"""

TICK_S = 0.005
"""Pacing step: events due since the start are emitted every this many seconds (bursts of rate/200)."""


def import_bcc() -> Any:
    """The distro's BCC bindings (never PyPI's unrelated ``bcc``)."""
    try:
        import bcc
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import bcc
    return bcc


def map_id(bpf: Any, name: str) -> int:
    from mapexplorer.kernel import maps

    table = bpf[name.encode()]
    fd = table.get_fd() if hasattr(table, "get_fd") else table.map_fd
    return maps.map_info(fd).id


def pace(rate: float, call: Any, stop: threading.Event, counts: dict[str, int], key: str,
         after: Any = None) -> None:
    """Call ``call`` ``rate`` times a second until ``stop`` is set (catching up after a late tick), and
    ``after()`` (if any) after each burst."""
    start = time.monotonic()
    done = 0
    while not stop.is_set():
        due = int(rate * (time.monotonic() - start)) - done
        for _ in range(due):
            call()
        done += max(due, 0)
        counts[key] = done
        if after is not None:
            after()
        stop.wait(TICK_S)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=0.0, help="ringbuf events per second (0: none)")
    ap.add_argument("--perf-rate", type=float, default=0.0, help="perf events per second (0: none)")
    ap.add_argument("--rb-pages", type=int, default=64, help="ringbuf size in pages (a power of two)")
    a = ap.parse_args()
    bcc = import_bcc()
    text = PROG.replace("TARGET_TGID", str(os.getpid())).replace("RB_PAGES", str(a.rb_pages))
    bpf = bcc.BPF(text=text.encode())
    stop = threading.Event()
    counts = {"ringbuf": 0, "perf": 0}
    try:
        print(json.dumps({"ringbuf": map_id(bpf, "evx_bench_rb"), "perf": map_id(bpf, "evx_bench_pf")}),
              flush=True)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        bpf[b"evx_bench_rb"].open_ring_buffer(lambda _ctx, _data, _size: 0)
        plans = ((a.rate, os.getppid, "ringbuf", bpf.ring_buffer_consume),
                 (a.perf_rate, os.getpgrp, "perf", None))
        threads = [threading.Thread(target=pace, args=(rate, fn, stop, counts, key, after), daemon=True)
                   for rate, fn, key, after in plans if rate > 0]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while not stop.is_set():  # stdin closed (the parent went away) ends us too
            ready, _, _ = select.select([sys.stdin], [], [], 0.5)
            if ready and not sys.stdin.readline():
                break
        stop.set()
        for t in threads:
            t.join()
        span = max(time.monotonic() - t0, 1e-9)
        print(f"event_producer: {counts['ringbuf'] / span:,.0f} ringbuf/s, "
              f"{counts['perf'] / span:,.0f} perf/s over {span:.0f} s", file=sys.stderr)
    finally:
        bpf.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
