"""``mapexplorer record`` and :class:`mapexplorer.recorder.Recorder` on real maps this test creates (rc_*):
the frames hold exactly the inserted bytes, BTF travels with the map, a vanished map is recorded as gone,
Ctrl-C closes the file cleanly."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from helpers import needs_root, run_cli

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.codec import codec_for_map_line
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id
from mapexplorer.recorder import Recorder
from mapexplorer.recording import Writer, read

pytestmark = needs_root


def stats_btf() -> tuple[bytes, int, int]:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    stats = b.struct("rc_stats", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    return b.blob(), u32, stats


@pytest.fixture
def rc_maps() -> Iterator[dict[str, maps.Map]]:
    """A hash with BTF struct values and a per-CPU array, both owned by this test."""
    blob, key_id, value_id = stats_btf()
    with ExitStack() as stack:
        btf_fd = load_btf(blob)
        stack.callback(os.close, btf_fd)
        out = {}
        fd = maps.create_map(map_type_id("hash"), 4, 16, 64, name="rc_rec_hash", btf_fd=btf_fd,
                             btf_key_type_id=key_id, btf_value_type_id=value_id)
        out["hash"] = maps.Map(fd)
        stack.callback(out["hash"].close)
        fd = maps.create_map(map_type_id("percpu_array"), 4, 8, 4, name="rc_rec_pcpu")
        out["pcpu"] = maps.Map(fd)
        stack.callback(out["pcpu"].close)
        for k in range(5):
            out["hash"].update(struct.pack("<I", k), struct.pack("<QQ", k, k * 100))
        ncpu = maps.possible_cpu_count()
        for k in range(4):
            cells = b"".join(struct.pack("<Q", k * 10 + c) for c in range(ncpu))
            out["pcpu"].update(struct.pack("<I", k), cells)
        yield out


def test_record_cli_writes_exact_bytes_and_btf(rc_maps: dict[str, maps.Map], tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl.gz"
    h, p = rc_maps["hash"].info, rc_maps["pcpu"].info
    proc = run_cli("record", str(h.id), "rc_rec_pcpu", "-o", str(out), "--frames", "2", "--interval", "0.1")
    assert "recorded 2 frames of 2 maps" in proc.stderr
    rec = read(out, strict=True)
    assert rec.ended and rec.header.possible_cpus == maps.possible_cpu_count()
    assert rec.header.kernel == os.uname().release
    assert rec.maps[h.id].name == "rc_rec_hash" and rec.maps[p.id].type_name == "percpu_array"
    assert [pid["pid"] for pid in rec.maps[h.id].facts["pids"]] == [os.getpid()]  # not the recorder
    assert len(rec.frames[h.id]) == len(rec.frames[p.id]) == 2
    frame = rec.frames[h.id][-1]
    got = {frame.keys[i * 4 : i * 4 + 4]: frame.values[i * 16 : i * 16 + 16] for i in range(frame.count)}
    assert got == {struct.pack("<I", k): struct.pack("<QQ", k, k * 100) for k in range(5)}
    codec = codec_for_map_line(rec.maps[h.id], rec.header.possible_cpus)
    assert codec.decode_value(got[struct.pack("<I", 3)]) == {"packets": 3, "bytes": 300}
    pf = rec.frames[p.id][0]
    ncpu = maps.possible_cpu_count()
    assert pf.stride == 8 * ncpu and pf.count == 4
    pcodec = codec_for_map_line(rec.maps[p.id], rec.header.possible_cpus)
    # no BTF: bytes as bpftool shows them, one list per CPU of the recording machine
    assert pcodec.decode_percpu(pf.values[2 * pf.stride : 3 * pf.stride]) == [
        [f"0x{b:02x}" for b in struct.pack("<Q", 20 + c)] for c in range(ncpu)
    ]


def test_vanished_map_is_recorded_as_gone(tmp_path: Path) -> None:
    fd = maps.create_map(map_type_id("array"), 4, 4, 2, name="rc_rec_gone")
    m = maps.Map(fd)
    map_id = m.info.id
    try:
        with Writer(tmp_path / "g.jsonl") as w:
            rec = Recorder(w, [map_id])
            rec.start()
            rec.frame()
            m.close()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the kernel frees the map after an RCU grace period
                try:
                    maps.map_info_by_id(map_id)
                except FileNotFoundError:
                    break
                time.sleep(0.05)
            rec.frame()
            rec.frame()
    finally:
        m.close()
    frames = read(tmp_path / "g.jsonl", strict=True).frames[map_id]
    assert [(f.count, f.gone) for f in frames] == [(2, False), (0, True)]  # gone once, not at every frame


def test_ctrl_c_closes_the_file_cleanly(rc_maps: dict[str, maps.Map], tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl.gz"
    proc = subprocess.Popen([sys.executable, "-m", "mapexplorer", "record", "rc_rec_hash", "-o", str(out),
                             "--interval", "0.1"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 600):
            time.sleep(0.1)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped by Ctrl-C" in err and "Traceback" not in err
    rec = read(out, strict=True)
    assert rec.ended and len(rec.frames[rc_maps["hash"].info.id]) >= 2


def test_record_usage_errors(tmp_path: Path) -> None:
    proc = run_cli("record", "-o", str(tmp_path / "x.jsonl"), check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == (
        "mapexplorer: name the maps to record (ids or names), or --all for every map")
    proc = run_cli("record", "--all", "-o", "/nonexistent-dir/x.jsonl", "--frames", "1", check=False)
    assert proc.returncode == 1 and "cannot write /nonexistent-dir/x.jsonl" in proc.stderr
    proc = run_cli("record", "--all", "-o", "x", "--frames", "1", "--duration", "2", check=False)
    assert proc.returncode == 2
