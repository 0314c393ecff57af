"""Record real per-CPU maps this test creates and changes (rc_*), then replay the recording in the TUI as an
unprivileged user (setpriv to nobody: no root, no bpf()) and see every CPU's column move as recorded."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers import needs_root

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id
from mapexplorer.recorder import Recorder
from mapexplorer.recording import Writer

pytestmark = needs_root

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
PROBE = Path(__file__).resolve().parents[1] / "ui" / "replay_probe.py"


def packets(k: int, cpu: int, rnd: int) -> int:
    return 1000 * (k + 1) + 100 * cpu + 7 * rnd * (cpu + 1)


def test_replay_as_nobody_shows_per_cpu_columns_moving() -> None:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    stats = b.struct("rc_stats", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    ncpu = maps.possible_cpu_count()
    btf_fd = load_btf(b.blob())
    m = None
    tmp = tempfile.mkdtemp(prefix="rc_replay_")
    try:
        m = maps.Map(maps.create_map(map_type_id("percpu_array"), 4, 16, 3, name="rc_replay_pcpu",
                                     btf_fd=btf_fd, btf_key_type_id=u32, btf_value_type_id=stats))
        os.chmod(tmp, 0o755)
        path = Path(tmp) / "rc.jsonl.gz"
        with Writer(path) as w:
            rec = Recorder(w, [m.info.id])
            rec.start()
            for r in range(4):
                for k in range(3):
                    m.update(struct.pack("<I", k), b"".join(struct.pack("<QQ", packets(k, c, r), 0)
                                                            for c in range(ncpu)))
                rec.frame()
        os.chmod(path, 0o644)
        proc = subprocess.run([*NOBODY, sys.executable, str(PROBE), str(path), "rc_replay_pcpu", "packets"],
                              capture_output=True, text=True, timeout=180, cwd="/")
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout)
        assert out["uid"] != 0
        assert len(out["rounds"]) == 4
        for r, seen in enumerate(out["rounds"]):
            shown = [[int(row[f"packets.cpu{c}"].replace(",", "")) for c in range(ncpu)]
                     for row in seen["rows"]]
            assert shown == [[packets(k, c, r) for c in range(ncpu)] for k in range(3)]
    finally:
        if m is not None:
            m.close()
        os.close(btf_fd)
        shutil.rmtree(tmp, ignore_errors=True)
