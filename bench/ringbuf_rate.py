"""Ringbuf consumer throughput: our mmap reader in consume mode against BCC's ring_buffer_poll, same
producer, same run.

Producer: a BCC tracepoint on sys_enter_getppid that writes a 16-byte event with bpf_ringbuf_output for
one process only, counting attempts and failures (ring full = dropped) in a per-CPU array; that process
is a tight ``syscall(SYS_getppid)`` loop in C (built with cc; ``--python-producer``: an ``os.getppid()``
loop) pinned to the first CPU. Consumer (pinned to the last CPU), alternating per round:

* ``ours``: mapexplorer.kernel.ringbuf.RingBufReader(consume=True).read_when_ready(): epoll wait, a
  pause of at most 2 ms for a batch to gather, read() of the raw records;
* ``stream``: mapexplorer.streams.EventStream.read_batch(linger=0.01) (records as Event objects, as
  ``mapexplorer watch`` reads them; fields are decoded lazily, so decoding is not counted);
* ``bcc``: BCC's ``open_ring_buffer`` + ``ring_buffer_poll`` with a Python callback that counts.

For each run: events produced per second (attempts), consumed per second, and the dropped share
(failed attempts / attempts). Medians over the rounds. Run as root:

    sudo .venv/bin/python bench/ringbuf_rate.py [--seconds S] [--rounds R] [--pages P]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mapexplorer import streams
from mapexplorer.kernel import maps, ringbuf
from mapexplorer.kernel import syscall as sc

PROG = r"""
struct bench_ev { u64 seq; u32 pid; u32 cpu; };
BPF_RINGBUF_OUTPUT(bench_rb, RB_PAGES);
BPF_ARRAY(bench_target, u32, 1);
BPF_PERCPU_ARRAY(bench_stats, u64, 2);   /* [0] attempts, [1] failed (ring full) */

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    int zero = 0, one = 1;
    u32 *target = bench_target.lookup(&zero);
    if (!target || (bpf_get_current_pid_tgid() >> 32) != *target)
        return 0;
    u64 *att = bench_stats.lookup(&zero);
    u64 *fail = bench_stats.lookup(&one);
    if (!att || !fail)
        return 0;
    struct bench_ev e = {};
    e.seq = *att;
    e.pid = *target;
    e.cpu = bpf_get_smp_processor_id();
    *att += 1;
    if (bench_rb.ringbuf_output(&e, sizeof(e), 0) != 0)
        *fail += 1;
    return 0;
}

/* --producer testrun: BPF_PROG_TEST_RUN of this XDP program (repeat=N) writes 64 events per run, with
   no syscall tracepoint in the way (other programs attached to raw_syscalls slow the getppid loop). */
int bench_burst(struct xdp_md *ctx) {
    int zero = 0, one = 1;
    u64 *att = bench_stats.lookup(&zero);
    u64 *fail = bench_stats.lookup(&one);
    if (!att || !fail)
        return XDP_PASS;
    struct bench_ev e = {};
    e.cpu = bpf_get_smp_processor_id();
    for (int i = 0; i < 64; i++) {
        e.seq = *att;
        *att += 1;
        if (bench_rb.ringbuf_output(&e, sizeof(e), 0) != 0)
            *fail += 1;
    }
    return XDP_PASS;
}
"""

C_PRODUCER = r"""
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    double seconds = atof(argv[1]);
    cpu_set_t set; CPU_ZERO(&set); CPU_SET(atoi(argv[2]), &set);
    sched_setaffinity(0, sizeof(set), &set);
    printf("%d\n", getpid()); fflush(stdout);
    char line[16]; if (!fgets(line, sizeof line, stdin)) return 1;
    struct timespec t0, t; clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        for (int i = 0; i < 20000; i++) syscall(SYS_getppid);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) return 0;
    }
}
"""

PRODUCER = r"""
import os, sys, time
os.sched_setaffinity(0, {int(sys.argv[2])})
print(os.getpid(), flush=True)
sys.stdin.readline()
end = time.monotonic() + float(sys.argv[1])
g = os.getppid
while time.monotonic() < end:
    for _ in range(20000):
        g()
"""


def import_bcc() -> Any:
    try:
        import bcc
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import bcc
    return bcc


class TestRunProducer(threading.Thread):
    """Runs the XDP burst program with BPF_PROG_TEST_RUN from a thread pinned to ``cpu`` (ctypes drops
    the GIL during the syscall) until ``seconds`` have passed."""

    REPEAT = 256

    def __init__(self, prog_fd: int, seconds: float, cpu: int) -> None:
        super().__init__(daemon=True)
        self.prog_fd, self.seconds, self.cpu = prog_fd, seconds, cpu
        self.error: OSError | None = None

    def run(self) -> None:
        os.sched_setaffinity(0, {self.cpu})  # this thread only
        packet = ctypes.create_string_buffer(64)
        end = time.monotonic() + self.seconds
        try:
            while time.monotonic() < end:
                attr = sc.TestRunAttr(prog_fd=self.prog_fd, data_in=ctypes.addressof(packet),
                                      data_size_in=64, repeat=self.REPEAT)
                sc.bpf(sc.BPF_PROG_TEST_RUN, attr)
        except OSError as exc:
            self.error = exc

    def poll(self) -> int | None:
        return None if self.is_alive() else 0


class Bench:
    def __init__(self, pages: int, producer: list[str]) -> None:
        self.producer = producer
        self.bcc = import_bcc()
        self.b = self.bcc.BPF(text=PROG.replace("RB_PAGES", str(pages)))
        table = self.b[b"bench_rb"]
        fd = table.map_fd if hasattr(table, "map_fd") else table.get_fd()
        self.info = maps.map_info(fd)
        self.bcc_count = 0

        def on_event(_ctx: Any, _data: Any, _size: int) -> None:
            self.bcc_count += 1

        self.b[b"bench_rb"].open_ring_buffer(on_event)
        self.burst_fd = -1
        if producer == ["testrun"]:
            self.burst_fd = self.b.load_func(b"bench_burst", self.bcc.BPF.XDP).fd

    def stats(self) -> tuple[int, int]:
        t = self.b[b"bench_stats"]
        return sum(t[ctypes.c_int(0)]), sum(t[ctypes.c_int(1)])

    def reset(self) -> None:
        t = self.b[b"bench_stats"]
        t.clear()

    def drain(self) -> int:
        """Consume whatever an earlier run left in the ring."""
        fd = maps.open_map(self.info.id, write=True)
        try:
            with ringbuf.RingBufReader(fd, self.info.max_entries, consume=True) as r:
                return len(r.read())
        finally:
            os.close(fd)

    def run(self, consumer: str, seconds: float, producer_cpu: int) -> dict[str, float]:
        self.drain()
        self.reset()
        prod: Any
        if self.burst_fd >= 0:
            prod = TestRunProducer(self.burst_fd, seconds, producer_cpu)
        else:
            prod = subprocess.Popen(
                [*self.producer, str(seconds), str(producer_cpu)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            pid = int(prod.stdout.readline())
            self.b[b"bench_target"][ctypes.c_int(0)] = ctypes.c_uint32(pid)
        step, finish = self._consumer(consumer)
        try:
            if self.burst_fd >= 0:
                prod.start()
            else:
                prod.stdin.write("go\n")
                prod.stdin.flush()
            t0 = time.perf_counter()
            c0 = time.process_time()
            received = 0
            while prod.poll() is None:
                received += step()
            t1 = time.perf_counter()
            c1 = time.process_time()
            received += finish()
        finally:
            if self.burst_fd >= 0:
                prod.join()
                if prod.error is not None:
                    raise prod.error
            else:
                if prod.poll() is None:
                    prod.kill()
                prod.wait()
            self.b[b"bench_target"][ctypes.c_int(0)] = ctypes.c_uint32(0)
        attempts, failed = self.stats()
        elapsed = t1 - t0
        return {
            "produced_per_s": attempts / elapsed,
            "consumed_per_s": received / elapsed,
            "dropped_pct": 100.0 * failed / attempts if attempts else 0.0,
            "consumer_cpu_pct": 100.0 * (c1 - c0) / elapsed,
            "received": received,
            "attempts": attempts,
            "failed": failed,
            "check": received + failed - attempts,  # 0 when every event is accounted for
        }

    def _consumer(self, kind: str) -> tuple[Callable[[], int], Callable[[], int]]:
        if kind == "none":  # the producer alone: its rate once the ring is full (failures are cheap)
            return (lambda: time.sleep(0.05) or 0), (lambda: 0)
        if kind == "bcc":
            def step() -> int:
                before = self.bcc_count
                self.b.ring_buffer_poll(100)
                return self.bcc_count - before

            def finish() -> int:
                before = self.bcc_count
                self.b.ring_buffer_consume()
                return self.bcc_count - before

            return step, finish
        if kind == "ours":
            fd = maps.open_map(self.info.id, write=True)
            reader = ringbuf.RingBufReader(fd, self.info.max_entries, consume=True)

            def step() -> int:
                return len(reader.read_when_ready(0.1))  # epoll wait, ≤2 ms gather, read

            def finish() -> int:
                n = len(reader.read())
                reader.close()
                os.close(fd)
                return n

            return step, finish
        stream = streams.open_stream(self.info.id, consume=True)

        def step() -> int:
            return len(stream.read_batch(0.1, linger=0.01))

        def finish() -> int:
            n = len(stream.read_batch(0))
            stream.close()
            return n

        return step, finish

    def drain_capacity(self, kind: str) -> tuple[int, float, float]:
        """Fill the ring from this process (no consumer running), then time ``kind`` draining it.

        Returns (records, wall seconds, CPU seconds): a consumer's capacity, independent of how fast a
        producer happens to run on a loaded machine.
        """
        self.drain()
        self.reset()
        self.b[b"bench_target"][ctypes.c_int(0)] = ctypes.c_uint32(os.getpid())
        getppid = os.getppid
        for _ in range(self.info.max_entries // 24 + 16):  # 16-byte event + 8-byte header
            getppid()
        self.b[b"bench_target"][ctypes.c_int(0)] = ctypes.c_uint32(0)
        fd = maps.open_map(self.info.id, write=True)
        reader = ringbuf.RingBufReader(fd, self.info.max_entries, consume=True)
        stream = streams.open_stream(self.info.id, consume=True) if kind.startswith("stream") else None
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            if kind == "bcc":
                before = self.bcc_count
                self.b.ring_buffer_consume()
                n = self.bcc_count - before
            elif kind == "ours":
                n = len(reader.read())
            else:
                n = len(stream.read_batch(0))
            return n, time.perf_counter() - t0, time.process_time() - c0
        finally:
            if stream is not None:
                stream.close()
            reader.close()
            os.close(fd)

    def close(self) -> None:
        self.b.cleanup()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="producer run length per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; each runs every consumer once")
    ap.add_argument("--pages", type=int, default=1024, help="ringbuf size in pages (1024 = 4 MiB)")
    ap.add_argument("--consumers", default="ours,bcc,stream", help="comma-separated: ours,bcc,stream")
    ap.add_argument("--producer", choices=("c", "python", "testrun"), default="c",
                    help="getppid loop in C (default) or Python, or test-run bursts of an XDP program")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    producer_cpu, consumer_cpu = cpus[0], cpus[-1]
    os.sched_setaffinity(0, {consumer_cpu})
    with tempfile.TemporaryDirectory() as tmp:
        producer = [sys.executable, "-c", PRODUCER]
        if args.producer == "testrun":
            producer = ["testrun"]
        elif args.producer == "c" and shutil.which("cc"):
            src, exe = Path(tmp, "producer.c"), Path(tmp, "producer")
            src.write_text(C_PRODUCER)
            subprocess.run(["cc", "-O2", "-o", str(exe), str(src)], check=True)
            producer = [str(exe)]
        kind = {"testrun": "BPF_PROG_TEST_RUN bursts"}.get(producer[0], "C getppid loop")
        if len(producer) > 1:
            kind = "Python getppid loop"
        print(f"producer: {kind} on cpu {producer_cpu}; consumer on cpu {consumer_cpu}", flush=True)
        _measure(args, producer, producer_cpu)


def _measure(args: argparse.Namespace, producer: list[str], producer_cpu: int) -> None:
    bench = Bench(args.pages, producer)
    kinds = args.consumers.split(",")
    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    try:
        print("drain capacity (a full ring, no producer running: records per consumer CPU second):")
        for kind in ("ours", "bcc", "stream"):
            runs = [bench.drain_capacity(kind) for _ in range(3)]
            n, wall, cpu = sorted(runs, key=lambda r: r[2])[1]
            print(f"  {kind:6s} {n} records in {wall * 1000:6.1f} ms wall, {cpu * 1000:6.1f} ms CPU: "
                  f"{n / cpu / 1e6:5.2f} M records/CPU-s", flush=True)
        for r in range(args.rounds):
            for kind in kinds:
                res = bench.run(kind, args.seconds, producer_cpu)
                results[kind].append(res)
                print(
                    f"round {r + 1} {kind:6s} produced {res['produced_per_s'] / 1e6:5.2f} M/s  consumed "
                    f"{res['consumed_per_s'] / 1e6:5.2f} M/s  dropped {res['dropped_pct']:6.2f} %  cpu "
                    f"{res['consumer_cpu_pct']:5.1f} %  (received {res['received']}, "
                    f"attempts {res['attempts']}, unaccounted {res['check']})",
                    flush=True,
                )
    finally:
        bench.close()
    print(f"\nload average now {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)")
    print(f"medians over {args.rounds} rounds, {args.seconds:g} s each, ringbuf {args.pages} pages:")
    for kind, runs in results.items():
        keys = ("produced_per_s", "consumed_per_s", "dropped_pct", "consumer_cpu_pct")
        med = {k: statistics.median(x[k] for x in runs) for k in keys}
        print(
            f"  {kind:6s} produced {med['produced_per_s'] / 1e6:5.2f} M/s  consumed "
            f"{med['consumed_per_s'] / 1e6:5.2f} M/s  dropped {med['dropped_pct']:6.2f} %  "
            f"consumer cpu {med['consumer_cpu_pct']:5.1f} %"
        )


if __name__ == "__main__":
    main()
