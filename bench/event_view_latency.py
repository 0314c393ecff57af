"""Key latency of the TUI's live event view while a ringbuf streams about 1 M events/s.

Set-up: a BCC tracepoint on sys_enter_getppid writes a 32-byte ``struct lat_ev`` (in the program's BTF,
so the view decodes it) into a 4 MiB ringbuf for one process: a C ``syscall(SYS_getppid)`` loop paced to
``--rate`` events/s on the first CPU. This bench process is the map's owner and consumes it (our mmap
reader, in a thread), as the user's own program would; the TUI, started in tmux, opens the map and
presses ``w``: a tap on a map another process reads.

Measured end to end, as a user sees it: ``tmux send-keys p`` (pause / resume) and then polling
``tmux capture-pane`` until the status line changes (PAUSED appears / disappears). p50 / p95 / max over
``--presses`` presses. Run as root:

    sudo .venv/bin/python bench/event_view_latency.py [--rate 1000000] [--presses 40]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from mapexplorer.kernel import maps, ringbuf

PROG = r"""
struct lat_ev { u64 seq; u64 ts; u32 pid; u32 cpu; char comm[8]; };
BPF_RINGBUF_OUTPUT(lat_rb, 1024);
BPF_ARRAY(lat_target, u32, 1);
BPF_ARRAY(lat_evtype, struct lat_ev, 1);
BPF_PERCPU_ARRAY(lat_stats, u64, 2);

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    int zero = 0, one = 1;
    u32 *target = lat_target.lookup(&zero);
    if (!target || (bpf_get_current_pid_tgid() >> 32) != *target)
        return 0;
    u64 *att = lat_stats.lookup(&zero);
    u64 *fail = lat_stats.lookup(&one);
    if (!att || !fail)
        return 0;
    struct lat_ev e = {};
    e.seq = *att;
    e.ts = bpf_ktime_get_ns();
    e.pid = *target;
    e.cpu = bpf_get_smp_processor_id();
    e.comm[0] = 'p';
    *att += 1;
    if (lat_rb.ringbuf_output(&e, sizeof(e), 0) != 0)
        *fail += 1;
    return 0;
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
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
    double seconds = atof(argv[1]), rate = atof(argv[3]);
    cpu_set_t set; CPU_ZERO(&set); CPU_SET(atoi(argv[2]), &set);
    sched_setaffinity(0, sizeof(set), &set);
    printf("%d\n", getpid()); fflush(stdout);
    char line[16]; if (!fgets(line, sizeof line, stdin)) return 1;
    double t0 = now();
    long n = 0;
    for (;;) {
        for (int i = 0; i < 1000; i++) syscall(SYS_getppid);
        n += 1000;
        double t = now() - t0;
        if (t >= seconds) return 0;
        if (rate > 0) {
            double ahead = n / rate - t;
            if (ahead > 0) { struct timespec s = {0, (long)(ahead * 1e9)}; nanosleep(&s, NULL); }
        }
    }
}
"""


def import_bcc() -> Any:
    try:
        import bcc
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import bcc
    return bcc


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def pane(session: str) -> str:
    return tmux("capture-pane", "-t", session, "-p")


def wait_pane(session: str, pred: Any, limit: float = 30.0) -> float:
    """Poll the pane until ``pred(text)``; return the seconds it took (raises after ``limit``)."""
    t0 = time.perf_counter()
    while True:
        if pred(pane(session)):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > limit:
            raise TimeoutError(f"the TUI did not show the expected change in {limit:g} s:\n{pane(session)}")
        time.sleep(0.005)  # each capture-pane is a process: polling faster would load the CPU under test


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_line(text: str) -> str:
    lines = [x for x in text.splitlines() if "events/s" in x]
    return lines[-1] if lines else ""


class Owner(threading.Thread):
    """The map's owner consuming every record, as the user's own program would."""

    def __init__(self, map_id: int) -> None:
        super().__init__(daemon=True)
        self.fd = maps.open_map(map_id, write=True)
        info = maps.map_info(self.fd)
        self.reader = ringbuf.RingBufReader(self.fd, info.max_entries, consume=True)
        self.stop = threading.Event()
        self.count = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.count += len(self.reader.read_when_ready(0.05))

    def close(self) -> None:
        self.stop.set()
        self.join()
        self.reader.close()
        os.close(self.fd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1_000_000, help="target events/s (0: as fast as possible)")
    ap.add_argument("--presses", type=int, default=40, help="key presses measured")
    ap.add_argument("--idle", action="store_true", help="baseline: the same presses with no events flowing")
    args = ap.parse_args()
    if not shutil.which("tmux") or not shutil.which("cc"):
        sys.exit("needs tmux and cc")
    cpus = sorted(os.sched_getaffinity(0))
    load0 = f"{os.getloadavg()[0]:.2f}"
    session = f"mxlat{os.getpid()}"
    bcc = import_bcc()
    b = bcc.BPF(text=PROG.encode())
    table = b[b"lat_rb"]
    map_id = maps.map_info(table.map_fd if hasattr(table, "map_fd") else table.get_fd()).id
    owner = Owner(map_id)
    owner.start()
    prod = None
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp, "producer.c"), Path(tmp, "producer")
        src.write_text(C_PRODUCER)
        subprocess.run(["cc", "-O2", "-o", str(exe), str(src)], check=True)
        try:
            tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "32",
                 f"{sys.executable} -m mapexplorer --map {map_id}")
            wait_pane(session, lambda t: "lat_rb" in t)
            time.sleep(1.0)
            tmux("send-keys", "-t", session, "w")
            wait_pane(session, lambda t: "events/s" in t)
            prod = subprocess.Popen([str(exe), "3600", str(cpus[0]), str(args.rate)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            pid = int(prod.stdout.readline())
            b[b"lat_target"][ctypes.c_int(0)] = ctypes.c_uint32(pid)
            b[b"lat_stats"].clear()
            if not args.idle:
                prod.stdin.write("go\n")
                prod.stdin.flush()
            time.sleep(3.0)
            tui_pid = int(tmux("display", "-p", "-t", session, "#{pane_pid}").strip())
            tui_cpu0 = cpu_seconds(tui_pid)
            shown = []
            lat: list[float] = []
            t_start = time.perf_counter()
            for _ in range(args.presses // 2):
                m = re.search(r"([\d,]+) events/s", status_line(pane(session)))
                if m:
                    shown.append(int(m.group(1).replace(",", "")))
                tmux("send-keys", "-t", session, "p")
                lat.append(wait_pane(session, lambda t: "PAUSED" in status_line(t)))
                time.sleep(0.2)
                tmux("send-keys", "-t", session, "p")
                lat.append(wait_pane(session, lambda t: "PAUSED" not in status_line(t)))
                time.sleep(0.2)
            elapsed = time.perf_counter() - t_start
            tui_cpu = (cpu_seconds(tui_pid) - tui_cpu0) / elapsed
            st = b[b"lat_stats"]
            attempts, failed = sum(st[ctypes.c_int(0)]), sum(st[ctypes.c_int(1)])
        finally:
            if prod is not None and prod.poll() is None:
                prod.kill()
                prod.wait()
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            owner.close()
            b.cleanup()
    lat_ms = sorted(x * 1000 for x in lat)
    p95 = lat_ms[min(len(lat_ms) - 1, round(0.95 * (len(lat_ms) - 1)))]
    print(f"load average before/after: {load0} / {os.getloadavg()[0]:.2f} (other work skews every figure)")
    print(f"producer: {attempts / (elapsed + 3.0) / 1e6:.2f} M events/s attempted over the run, "
          f"{100.0 * failed / attempts if attempts else 0:.2f} % failed (ring full)")
    print(f"TUI process CPU while measuring: {100 * tui_cpu:.0f} % of one core")
    print(f"TUI status line showed {statistics.median(shown) / 1e6 if shown else 0:.2f} M events/s (median)")
    print(f"key latency (p pause/resume, tmux send-keys -> pane changed), {len(lat_ms)} presses: "
          f"p50 {statistics.median(lat_ms):.0f} ms  p95 {p95:.0f} ms  max {lat_ms[-1]:.0f} ms")


if __name__ == "__main__":
    main()
