"""mapexplorer at scale, side by side with bpftool in one run: a table of times, ratios, CPU and RSS.

Cases (each can be chosen with ``--cases``):

- ``list``: ``--maps`` (20,000) small hashes held by two holder processes (the fd limit), then
  ``mapexplorer list --json`` vs ``bpftool -j map show``. Target: ours within 2x bpftool.
- ``dump``: a hash of ``--entries`` (1,000,000; ``--entries 10000000`` for the 10M case) u32 -> u64 with
  BTF, ``mapexplorer dump ID --json`` vs ``bpftool -j map dump id ID``. Target: ours at most 0.25x.
- ``watch``: a ringbuf pre-filled with ``--events`` (1,000,000) records of a 32-byte struct with BTF
  (written by a socket filter run with BPF_PROG_TEST_RUN ``repeat``), drained by ``mapexplorer watch ID
  --json --count N`` (and text mode) into a pipe; lines/s excludes start-up (the same command with
  ``--count 1`` is timed and subtracted). Targets: JSON >= 1 M lines/s, text >= 0.5 M lines/s. bpftool
  cannot read a ringbuf.
- ``tui``: the same ``--maps`` held maps, then the explorer in a tmux pane (160x45, ``--refresh 1``): the time
  from launch to the first rows (the status line giving the number of maps, ``listing N maps (M so far)``
  while only the first are listed; the process's CPU seconds by then), to all rows (no longer "listing"), to
  the complete rows (owners, programs, pins and memlock: the status line no longer says "reading owners"),
  the idle CPU% of the TUI process over
  ``--idle`` (30) s (utime+stime from /proc/PID/stat: less sensitive to a loaded machine than wall time), the
  time of ``s`` (sort by Name, the column right of ID), of one filter keystroke (``sl_b`` typed, then the
  ``1`` that narrows it) and of Escape clearing the filter; each until the status line shows the result,
  tmux's own send/capture round trip included. Targets: start < 1.5 s, idle < 3 %, sort/filter < 300 ms.

- ``mapview``: hashes of 1,000,000 and 10,000,000 entries (``--view-entries``; u32 key -> u64 value with BTF,
  the values scattered so that a sort moves every row) created and filled by the bench, each opened in the
  explorer in a tmux pane (``mapexplorer --map ID --refresh 1``): the time from launch to the first rows on
  screen and to the whole map counted in the status line, the idle CPU% over ``--idle`` s (only the rows on
  screen refresh) and the RSS (now and peak, VmHWM), the time of ``s`` on the value column (until the first
  row on screen is the smallest value), of a filter typed at once (``/12345``: until the status line counts
  the expected matches) and of Escape clearing it, and the idle CPU% while sorted by the value (the map is
  re-read whole, a slice per refresh within the budget). Targets: 1M: filter and sort < 1 s; 10M: first
  rows < 3 s, RSS < 1.2 GB, idle < 5 % of a core.

Each command runs ``--repeat`` times (median; ours and bpftool's in turn); CPU is the child's user + system
time and RSS its peak, from wait4(); CPU% is CPU over wall time; the load average is read when the case ends.
Every target is judged twice: on CPU time (``met``: the fair figure on a shared machine, where wall time also
counts the waits for a CPU) and on wall time (``met_wall``). stdout: the rows as JSON; stderr: each row as it
ends, then a table. Every map and program is named ``--prefix`` (``sc_``): held maps ``a*``/``b*``, then
``dump``, ``ring``, ``fill``, ``view`` (mapview); all are freed when the bench exits (use your own prefix
beside other runs).
Run as root:

    .venv/bin/python bench/scale.py [--cases list,dump,watch,tui,mapview] [--maps N] [--entries N]
        [--big N] [--events N] [--view-entries 1000000,10000000] [--idle S] [--prefix P] [--repeat N]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps, progs
from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id

OURS = [sys.executable, "-m", "mapexplorer"]
HOLDER = r"""
import resource, sys
from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id
n, prefix = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 512), hard))
fds = [maps.create_map(map_type_id("hash"), 4, 8, 16, name=f"{prefix}{i}") for i in range(n)]
print("ready", flush=True)
sys.stdin.read()
"""


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float

    @property
    def cpu_percent(self) -> float:
        """CPU time over wall time (100 = one core busy the whole run)."""
        return 100 * self.cpu / max(self.wall, 1e-9)


def run(cmd: list[str] | str, *, shell: bool = False) -> Run:
    """Run a command with stdout to /dev/null (or a shell pipeline); its wall time, CPU and peak RSS."""
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.DEVNULL, shell=shell)
        _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}")
    return Run(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)


def median_run(cmd: list[str] | str, repeat: int, *, shell: bool = False) -> Run:
    return _median([run(cmd, shell=shell) for _ in range(repeat)])


def _median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        max(r.rss_mb for r in runs),
    )


def paired_runs(ours: list[str], ref: list[str], repeat: int) -> tuple[Run, Run]:
    """Medians of ``ours`` and ``ref`` run in turn (ours, ref, ours, ref, ...): on a shared machine whose
    load changes from one minute to the next, both see the same moments."""
    a: list[Run] = []
    b: list[Run] = []
    for _ in range(repeat):
        a.append(run(ours))
        b.append(run(ref))
    return _median(a), _median(b)


def row(case: str, ours: Run, ref: Run | None, target: str) -> dict:
    out = {
        "case": case,
        "ours_s": round(ours.wall, 3),
        "ours_cpu_s": round(ours.cpu, 3),
        "ours_cpu_percent": round(ours.cpu_percent),
        "ours_rss_mb": round(ours.rss_mb, 1),
        "target": target,
        "load_average": round(os.getloadavg()[0], 2),
    }
    if ref is not None:
        out |= {
            "bpftool_s": round(ref.wall, 3),
            "bpftool_cpu_s": round(ref.cpu, 3),
            "bpftool_cpu_percent": round(ref.cpu_percent),
            "bpftool_rss_mb": round(ref.rss_mb, 1),
            "ratio_wall": round(ours.wall / ref.wall, 2),
            "ratio_cpu": round(ours.cpu / max(ref.cpu, 1e-6), 2),
        }
    return out


# -- list ----------------------------------------------------------------------------------------------


def hold_maps(stack: ExitStack, n: int, prefix: str) -> None:
    """``n`` small hashes named ``{prefix}a*`` / ``{prefix}b*``, held by two processes (the fd limit)."""
    half = n // 2
    for part in ("a", "b"):
        p = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(half), prefix + part],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(p.wait, 60)
        stack.callback(p.stdin.close)  # type: ignore[union-attr]
        if p.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
            raise RuntimeError("map holder failed")


def case_list(stack: ExitStack, n: int, repeat: int, prefix: str) -> dict:
    hold_maps(stack, n, prefix)
    ours, ref = paired_runs([*OURS, "list", "--json"], ["bpftool", "-j", "map", "show"], repeat)
    on_box = len(list(maps.map_ids()))  # both list every map of the box, other people's too
    return row(f"list --json, {n:,} maps", ours, ref, "ratio <= 2") | {"maps_on_box": on_box}


# -- dump ----------------------------------------------------------------------------------------------


def filled_hash(stack: ExitStack, entries: int, name: str) -> maps.Map:
    """A u32 -> u64 hash with BTF holding ``entries`` entries (key i -> value i), freed with ``stack``."""
    b = BtfBuilder()
    u32, u64 = b.int("unsigned int", 4), b.int("long long unsigned int", 8)
    btf_fd = load_btf(b.blob())
    stack.callback(os.close, btf_fd)
    fd = maps.create_map(
        map_type_id("hash"),
        4,
        8,
        entries,
        name=name,
        btf_fd=btf_fd,
        btf_key_type_id=u32,
        btf_value_type_id=u64,
    )
    m = maps.Map(fd)
    stack.callback(m.close)
    step = 100_000
    for start in range(0, entries, step):
        count = min(step, entries - start)
        keys = struct.pack(f"<{count}I", *range(start, start + count))
        m.update_batch(keys, struct.pack(f"<{count}Q", *range(start, start + count)), count)
    return m


def case_dump(stack: ExitStack, entries: int, repeat: int, prefix: str) -> dict:
    mid = str(filled_hash(stack, entries, f"{prefix}dump").info.id)
    ours, ref = paired_runs([*OURS, "dump", mid, "--json"], ["bpftool", "-j", "map", "dump", "id", mid],
                            repeat)
    return row(f"dump --json, {entries:,} entries", ours, ref, "ratio <= 0.25")


# -- watch ---------------------------------------------------------------------------------------------


def _ringbuf_filler(stack: ExitStack, ring_fd: int, prefix: str = "sc_") -> int:
    """A socket filter writing one 32-byte ``struct scx_event`` to the ring per run (with BTF naming it)."""
    b = BtfBuilder()
    int_ = b.int("int", 4, signed=True)
    u64 = b.int("u64", 8)
    char = b.int("char", 1, signed=True)
    comm = b.array(char, 8, int_)
    b.struct("scx_event", 32, [("ts_ns", u64, 0), ("pid", u64, 64), ("comm", comm, 128), ("seq", u64, 192)])
    voidp = b.ptr(0)
    main = b.func("scx_fill", b.func_proto(int_, [("ctx", voidp)]), linkage=0)
    btf_fd = load_btf(b.blob())
    stack.callback(os.close, btf_fd)
    i = progs.insn
    insns = b"".join(
        [
            i(0x85, imm=5),  # r0 = bpf_ktime_get_ns()
            i(0x7B, 10, 0, off=-32),  # *(u64 *)(r10 - 32) = r0
            i(0x7A, 10, off=-24, imm=4242),  # pid
            i(0x7A, 10, off=-16, imm=0x68736162),  # comm "bash"
            i(0x7A, 10, off=-8, imm=7),  # seq
            i(0x18, 1, 1, imm=ring_fd),
            i(0, 0, 0),  # r1 = ring
            i(0xBF, 2, 10),
            i(0x07, 2, imm=-32),  # r2 = r10 - 32
            i(0xB7, 3, imm=32),
            i(0xB7, 4, imm=0),  # r3 = 32, r4 = 0
            i(0x85, imm=130),  # bpf_ringbuf_output
            i(0xB7, 0, imm=0),
            i(0x95),
        ]
    )
    fd = progs.load_prog(insns, 1, name=f"{prefix}fill", prog_btf_fd=btf_fd,
                         func_info=struct.pack("<II", 0, main))
    stack.callback(os.close, fd)
    return fd


def case_watch(stack: ExitStack, events: int, repeat: int, prefix: str) -> list[dict]:
    size = 1 << max(20, (events * 40 - 1).bit_length())
    ring_fd = maps.create_map(map_type_id("ringbuf"), 0, 0, size, name=f"{prefix}ring")
    stack.callback(os.close, ring_fd)
    prog = _ringbuf_filler(stack, ring_fd, prefix)
    pkt = ctypes.create_string_buffer(64)
    done = 0
    while done < events:
        n = min(1_000_000, events - done)
        sc.bpf(
            sc.BPF_PROG_TEST_RUN,
            sc.TestRunAttr(prog_fd=prog, data_in=ctypes.addressof(pkt), data_size_in=64, repeat=n),
        )
        done += n
    mid = str(maps.map_info(ring_fd).id)
    rows = []
    for mode, flag, target in (
        ("json", ["--json"], ">= 1,000,000 lines/s"),
        ("text", [], ">= 500,000 lines/s"),
    ):
        base = " ".join([*OURS, "watch", mid, *flag, "--timeout", "60"])
        start = median_run(f"{base} --count 1 | cat > /dev/null", repeat, shell=True)
        full = median_run(f"{base} --count {events} | cat > /dev/null", repeat, shell=True)
        rate = events / max(full.wall - start.wall, 1e-6)
        r = row(f"watch --{mode} into a pipe, {events:,} events", full, None, target)
        r["lines_per_s"] = round(rate)
        # On a loaded machine wall time is not the process's: lines per second of its own CPU time too.
        r["lines_per_cpu_s"] = round(events / max(full.cpu - start.cpu, 1e-6))
        r["startup_s"] = round(start.wall, 3)
        rows.append(r)
    return rows


# -- tui -----------------------------------------------------------------------------------------------

SESSION = f"bench_scale_{os.getpid()}"
STATUS_COUNT = re.compile(r"(?:([\d,]+) of )?([\d,]+) maps")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _status() -> tuple[int | None, int | None, str]:
    """(shown, total, status line) from the pane's status line (shown is None when nothing is filtered)."""
    lines = tmux("capture-pane", "-p", "-t", SESSION).rstrip().splitlines()
    for line in reversed(lines):
        m = STATUS_COUNT.search(line)
        if m:
            total = int(m.group(2).replace(",", ""))
            shown = int(m.group(1).replace(",", "")) if m.group(1) else None
            return shown, total, line
    return None, None, ""


def _wait(test: Callable[[int | None, int | None, str], bool], timeout: float = 120.0) -> float:
    """Seconds until ``test(shown, total, status)`` holds for the pane's status line."""
    t0 = time.perf_counter()
    while True:
        if test(*_status()):
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"status not reached after {timeout}s: {_status()[2]!r}")
        time.sleep(0.005)


def _cpu_s(pid: int) -> float:
    """utime + stime of ``pid`` in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def case_tui(stack: ExitStack, n: int, idle: float, prefix: str) -> dict:
    hold_maps(stack, n, prefix)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = f"cd {root} && exec {sys.executable} -m mapexplorer --refresh 1"
    t0 = time.perf_counter()
    tmux("new-session", "-d", "-s", SESSION, "-x", "160", "-y", "45", cmd)
    stack.callback(subprocess.run, ["tmux", "kill-session", "-t", SESSION], check=False, capture_output=True)
    pid = int(tmux("display-message", "-p", "-t", SESSION, "#{pane_pid}").strip())
    _wait(lambda s, t, line: t is not None and t >= n)
    start = time.perf_counter() - t0
    start_cpu = _cpu_s(pid)
    # the first rows come first ("listing N maps (M so far)"), then every map, then owners, programs, pins
    # and memlock ("reading owners" meanwhile)
    _wait(lambda s, t, line: t is not None and t >= n and "listing" not in line)
    all_rows = time.perf_counter() - t0
    _wait(lambda s, t, line: t is not None and t >= n and "reading owners" not in line)
    complete = time.perf_counter() - t0
    time.sleep(5)  # the first refreshes after start-up (owners, counts)
    c0, w0 = _cpu_s(pid), time.perf_counter()
    time.sleep(idle)
    cpu = 100 * (_cpu_s(pid) - c0) / (time.perf_counter() - w0)
    rss = _rss_mb(pid)
    c_keys = _cpu_s(pid)
    tmux("send-keys", "-t", SESSION, "l")  # the column cursor onto Name (s sorts by the column under it)
    time.sleep(0.5)
    t1 = time.perf_counter()
    tmux("send-keys", "-t", SESSION, "s")
    _wait(lambda s, t, line: "sort name" in line)
    sort_s = time.perf_counter() - t1
    tmux("send-keys", "-t", SESSION, "/")
    time.sleep(0.5)
    tmux("send-keys", "-t", SESSION, "-l", f"{prefix}b")
    _wait(lambda s, t, line: s == n // 2)
    time.sleep(0.5)
    t1 = time.perf_counter()
    tmux("send-keys", "-t", SESSION, "-l", "1")
    expect = sum(1 for i in range(n // 2) if str(i).startswith("1"))
    _wait(lambda s, t, line: s == expect)
    filter_s = time.perf_counter() - t1
    time.sleep(0.5)
    t1 = time.perf_counter()
    tmux("send-keys", "-t", SESSION, "Escape")
    _wait(lambda s, t, line: s is None and t is not None and t >= n)
    clear_s = time.perf_counter() - t1
    keys_cpu = _cpu_s(pid) - c_keys
    out = {
        "case": f"tui map list, {n:,} maps",
        "start_to_rows_s": round(start, 3),
        "start_cpu_s": round(start_cpu, 3),
        "start_to_all_rows_s": round(all_rows, 3),
        "start_to_complete_s": round(complete, 3),
        "idle_cpu_percent": round(cpu, 2),
        "idle_seconds": idle,
        "rss_mb": round(rss, 1),
        "sort_s": round(sort_s, 3),
        "filter_key_s": round(filter_s, 3),
        "clear_filter_s": round(clear_s, 3),
        "cpu_s_during_keys": round(keys_cpu, 3),
        "load_average": os.getloadavg()[0],
        "target": "start < 1.5 s, idle < 3 %, sort/filter < 0.3 s",
        "status": _status()[2].strip(),
    }
    return out


# -- mapview -------------------------------------------------------------------------------------------

SCATTER = 2654435761
"""value = key * SCATTER mod 2**32: a sort by value moves every row."""


def _pane() -> list[str]:
    return tmux("capture-pane", "-p", "-t", SESSION).rstrip().splitlines()


def _pane_wait(test: Callable[[list[str]], bool], timeout: float) -> float | None:
    """Seconds until ``test(lines)`` holds for the pane (None: not within ``timeout``)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if test(_pane()):
            return time.perf_counter() - t0
        time.sleep(0.005)
    return None


ENTRIES = re.compile(r"(?:([\d,]+) of )?([\d,]+) entries")


def _entries(lines: list[str]) -> tuple[int | None, int | None]:
    """(shown, total) from the map view's status line (shown None when nothing is filtered)."""
    for line in reversed(lines):
        m = ENTRIES.search(line)
        if m:
            total = int(m.group(2).replace(",", ""))
            return (int(m.group(1).replace(",", "")) if m.group(1) else None), total
    return None, None


def _first_row(lines: list[str]) -> list[str] | None:
    """The cells of the first entry row (the line under the table header ``key  value``)."""
    for i, line in enumerate(lines[:-1]):
        if re.match(r"^\s*key\b.*\bvalue\b", line):
            return lines[i + 1].split()
    return None


def _view_map(stack: ExitStack, entries: int, prefix: str) -> tuple[int, list[int], list[int]]:
    """A hash of ``entries`` u32 -> u64 (BTF) entries named ``{prefix}view``; its id, keys and values."""
    b = BtfBuilder()
    u32, u64 = b.int("unsigned int", 4), b.int("long long unsigned int", 8)
    btf_fd = load_btf(b.blob())
    stack.callback(os.close, btf_fd)
    fd = maps.create_map(map_type_id("hash"), 4, 8, entries, name=f"{prefix}view", btf_fd=btf_fd,
                         btf_key_type_id=u32, btf_value_type_id=u64)
    m = maps.Map(fd)
    stack.callback(m.close)
    keys = list(range(entries))
    values = [k * SCATTER % 2**32 for k in keys]
    step = 200_000
    for start in range(0, entries, step):
        count = min(step, entries - start)
        m.update_batch(struct.pack(f"<{count}I", *keys[start : start + count]),
                       struct.pack(f"<{count}Q", *values[start : start + count]), count)
    return m.info.id, keys, values


def _idle_cpu(pid: int, seconds: float) -> float:
    c0, w0 = _cpu_s(pid), time.perf_counter()
    time.sleep(seconds)
    return round(100 * (_cpu_s(pid) - c0) / (time.perf_counter() - w0), 2)


def _status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def case_mapview(stack: ExitStack, entries: int, idle: float, prefix: str, needle: str = "12345") -> dict:
    map_id, keys, values = _view_map(stack, entries, prefix)
    lo = min(range(entries), key=values.__getitem__)
    want_filter = sum(1 for k, v in zip(keys, values, strict=True) if needle in str(k) or needle in str(v))
    del keys, values
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = f"cd {root} && exec {sys.executable} -m mapexplorer --map {map_id} --refresh 1"
    limit = 300.0
    t0 = time.perf_counter()
    tmux("new-session", "-d", "-s", SESSION, "-x", "160", "-y", "45", cmd)
    stack.callback(subprocess.run, ["tmux", "kill-session", "-t", SESSION], check=False, capture_output=True)
    pid = int(tmux("display-message", "-p", "-t", SESSION, "#{pane_pid}").strip())
    _pane_wait(lambda lines: (_first_row(lines) or ["x"])[0].isdigit(), limit)
    first_rows = time.perf_counter() - t0
    _pane_wait(lambda lines: _entries(lines)[1] == entries, limit)
    all_rows = time.perf_counter() - t0
    time.sleep(5)  # what follows the first read settles
    idle_cpu = _idle_cpu(pid, idle)
    rss = _status_mb(pid, "VmRSS")
    tmux("send-keys", "-t", SESSION, "l")  # the column cursor onto value
    time.sleep(0.5)
    t1 = time.perf_counter()
    tmux("send-keys", "-t", SESSION, "s")
    sort_s = _pane_wait(lambda lines: (_first_row(lines) or [""])[0] == str(lo), limit)
    time.sleep(1)
    t1 = time.perf_counter()
    tmux("send-keys", "-t", SESSION, "/")
    tmux("send-keys", "-t", SESSION, "-l", needle)
    filter_s = _pane_wait(lambda lines: _entries(lines)[0] == want_filter, limit)
    tmux("send-keys", "-t", SESSION, "Enter")
    time.sleep(1)
    t1 = time.perf_counter()
    tmux("send-keys", "-t", SESSION, "Escape")
    clear_s = _pane_wait(lambda lines: _entries(lines) == (None, entries), limit)
    del t1
    time.sleep(3)
    sorted_idle_cpu = _idle_cpu(pid, idle)
    status = next((line.strip() for line in reversed(_pane()) if "entries" in line), "")
    out = {
        "case": f"mapview, {entries:,} entries",
        "first_rows_s": round(first_rows, 3),
        "all_counted_s": round(all_rows, 3),
        "idle_cpu_percent": idle_cpu,
        "idle_seconds": idle,
        "rss_mb": rss,
        "peak_rss_mb": _status_mb(pid, "VmHWM"),
        "sort_s": None if sort_s is None else round(sort_s, 3),
        "filter_s": None if filter_s is None else round(filter_s, 3),
        "filter_matches": want_filter,
        "clear_filter_s": None if clear_s is None else round(clear_s, 3),
        "idle_cpu_percent_sorted_by_value": sorted_idle_cpu,
        "load_average": os.getloadavg()[0],
        "target": "filter, sort < 1 s" if entries < 10_000_000 else "rows < 3 s, RSS < 1.2 GB, idle < 5 %",
        "status": status,
    }
    tmux("kill-session", "-t", SESSION)
    return out


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- verdicts ------------------------------------------------------------------------------------------


def judge(r: dict) -> dict:
    """The row with ``met`` (on CPU time: the fair figure on a shared machine), ``met_wall`` and the
    figure each was judged on."""
    case = r["case"]
    if case.startswith("list") or case.startswith("dump"):
        limit = 2.0 if case.startswith("list") else 0.25
        cpu, wall = r["ratio_cpu"], r["ratio_wall"]
        return r | {"figure": f"x{cpu:g} bpftool (wall x{wall:g})", "met": cpu <= limit,
                    "met_wall": wall <= limit}
    if case.startswith("watch"):
        limit = 1_000_000 if "--json" in case else 500_000
        cpu, wall = r["lines_per_cpu_s"], r["lines_per_s"]
        return r | {"figure": f"{cpu / 1e6:.2f} M lines/CPU-s (wall {wall / 1e6:.2f} M/s)",
                    "met": cpu >= limit, "met_wall": wall >= limit}
    if case.startswith("mapview"):
        keys = [r[k] for k in ("sort_s", "filter_s") if r[k] is not None]
        fig = (f"rows {r['first_rows_s']:g} s, idle {r['idle_cpu_percent']:g} % (sorted "
               f"{r['idle_cpu_percent_sorted_by_value']:g} %), rss {r['rss_mb']:g}/{r['peak_rss_mb']:g} MB, "
               f"sort {r['sort_s']} s, filter {r['filter_s']} s")
        if "10,000,000" in case:
            met = r["first_rows_s"] < 3 and r["peak_rss_mb"] < 1200 and r["idle_cpu_percent"] < 5
        else:
            met = len(keys) == 2 and max(keys) < 1
        return r | {"figure": fig, "met": met, "met_wall": met}
    if case.startswith("tui"):
        keys = max(r["sort_s"], r["filter_key_s"], r["clear_filter_s"])
        met = r["start_to_rows_s"] < 1.5 and r["idle_cpu_percent"] < 3 and keys < 0.3
        return r | {"figure": f"start {r['start_to_rows_s']:g} s, idle {r['idle_cpu_percent']:g} %, keys <= "
                              f"{keys:g} s", "met": met, "met_wall": met}
    return r


def table(rows: list[dict]) -> str:
    """One line per case: ours (CPU s, wall s, CPU %, RSS), bpftool's, the figure, the target, met."""
    head = ("case", "ours cpu s", "wall s", "cpu %", "rss MB", "bpftool cpu s", "wall s", "rss MB", "load",
            "figure", "target", "met (cpu)", "met (wall)")
    lines = [head]
    for r in rows:
        def f(key: str, r: dict = r) -> str:
            v = r.get(key)
            return "-" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
        lines.append((
            r["case"], f("ours_cpu_s"), f("ours_s"), f("ours_cpu_percent"),
            f("ours_rss_mb") if "ours_rss_mb" in r else f("rss_mb"), f("bpftool_cpu_s"), f("bpftool_s"),
            f("bpftool_rss_mb"), f("load_average"), r.get("figure", "-"), r["target"],
            "met" if r.get("met") else "MISSED", "met" if r.get("met_wall") else "MISSED",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="list,dump,watch")
    ap.add_argument("--maps", type=int, default=20_000)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement (tui)")
    ap.add_argument("--prefix", default="sc_", help="name prefix of the bench's maps and program (at most 9 "
                    "characters: names are 15)")
    ap.add_argument("--big", type=int, default=0,
                    help="tui: also hold a hash of this many entries while the map list runs (the issue's "
                         "20,000 maps plus a 10M-entry map)")
    ap.add_argument("--view-entries", default="1000000,10000000", help="map sizes of the mapview case")
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results: list[dict] = []
    cases = args.cases.split(",")
    for case in cases:
        with ExitStack() as stack:
            if case == "list":
                results.append(case_list(stack, args.maps, args.repeat, args.prefix))
            elif case == "dump":
                results.append(case_dump(stack, args.entries, args.repeat, args.prefix))
            elif case == "watch":
                results.extend(case_watch(stack, args.events, args.repeat, args.prefix))
            elif case == "tui":
                if args.big:
                    filled_hash(stack, args.big, f"{args.prefix}zbig")  # not matched by the filter step
                tui = case_tui(stack, args.maps, args.idle, args.prefix)
                results.append(tui | {"big_map_entries": args.big})
            elif case == "mapview":
                for n in (int(x) for x in args.view_entries.split(",")):
                    with ExitStack() as inner:
                        results.append(case_mapview(inner, n, args.idle, args.prefix))
                    print(json.dumps(results[-1]), file=sys.stderr, flush=True)
                continue
            else:
                raise SystemExit(f"unknown case {case!r}")
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    results = [judge(r) for r in results]
    print(json.dumps(results, indent=2))
    print(table(results), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
