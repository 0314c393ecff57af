"""Helpers for tests: run the CLI and bpftool as subprocesses, skip markers for root and bpftool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="bpf() needs root (CAP_BPF, CAP_SYS_ADMIN)")
needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool not installed")


def run_cli(*args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mapexplorer ARGS`` and return the finished process (text mode)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mapexplorer", *args], capture_output=True, text=True, timeout=120, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mapexplorer {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def cli_json(*args: str) -> object:
    return json.loads(run_cli(*args, "--json").stdout)


def bpftool_json(*args: str) -> object:
    proc = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout)


HOLDER = r"""
import json, struct, sys
from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id
specs = json.loads(sys.argv[1])
ids = []
for s in specs:
    fd = maps.create_map(map_type_id(s["type"]), s["key_size"], s["value_size"], s["max_entries"],
                         name=s["name"], flags=s.get("flags", 0))
    m = maps.Map(fd)
    for k, v in s.get("entries", []):
        m.update(bytes.fromhex(k), bytes.fromhex(v))
    for i in range(s.get("fill", 0)):
        m.update(struct.pack("<I", i), struct.pack("<Q", i))
    if s.get("pin"):
        maps.obj_pin(fd, s["pin"])
    ids.append(m.info.id)
print(json.dumps(ids), flush=True)
sys.stdin.read()  # hold the maps until the test closes our stdin
"""


class MapHolder:
    """Another process that creates maps from specs and holds them until closed."""

    def __init__(self, specs: list[dict]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, json.dumps(specs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("map holder failed to start")
        self.ids: list[int] = json.loads(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __enter__(self) -> MapHolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ringbuf_writer(map_fd: int) -> int:
    """A raw_tracepoint program that writes one 8-byte record to the ringbuf per test run."""
    from mapexplorer.kernel import progs

    i = progs.insn
    insns = b"".join(
        [
            i(0x7A, 10, 0, -8, 0x1234),  # *(u64 *)(r10 - 8) = 0x1234
            i(0x18, 1, 1, 0, map_fd), i(0),  # r1 = map
            i(0xBF, 2, 10), i(0x07, 2, 0, 0, -8),  # r2 = r10 - 8
            i(0xB7, 3, 0, 0, 8), i(0xB7, 4, 0, 0, 0),  # r3 = 8, r4 = 0
            i(0x85, 0, 0, 0, 130),  # bpf_ringbuf_output
            i(0xB7, 0), i(0x95),
        ]
    )
    return progs.load_prog(insns, 17, name="hl_rb_writer")
