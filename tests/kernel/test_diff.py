"""``mapexplorer diff`` between frames of a recording of maps this test creates and changes (rc_*), a live
map, and ``dump --json`` output: exactly the keys the test added, deleted and changed are reported, with the
changed fields (per CPU for per-CPU maps); exit 0 when equal, 1 when different, 2 on trouble."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from helpers import needs_root, run_cli

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id
from mapexplorer.recorder import Recorder
from mapexplorer.recording import Writer

pytestmark = needs_root

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def u32(k: int) -> bytes:
    return struct.pack("<I", k)


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[Path, dict[str, maps.Map]]]:
    """A recording of two frames: between them the test adds key 7, deletes key 2 and changes key 3's
    ``stats.bytes`` in the hash, and changes cpu 1 of key 1 in the per-CPU array."""
    b = BtfBuilder()
    ku = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    inner = b.struct("rc_counts", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    value = b.struct("rc_val", 24, [("stats", inner, 0), ("flags", u64, 128)])
    with ExitStack() as stack:
        btf_fd = load_btf(b.blob())
        stack.callback(os.close, btf_fd)
        h = maps.Map(maps.create_map(map_type_id("hash"), 4, 24, 64, name="rc_diff_hash", btf_fd=btf_fd,
                                     btf_key_type_id=ku, btf_value_type_id=value))
        stack.callback(h.close)
        p = maps.Map(maps.create_map(map_type_id("percpu_array"), 4, 8, 3, name="rc_diff_pcpu", btf_fd=btf_fd,
                                     btf_key_type_id=ku, btf_value_type_id=u64))
        stack.callback(p.close)
        ncpu = maps.possible_cpu_count()
        for k in range(6):
            h.update(u32(k), struct.pack("<QQQ", k, k * 100, 0))
        for k in range(3):
            p.update(u32(k), b"".join(struct.pack("<Q", k * 10 + c) for c in range(ncpu)))
        path = tmp_path / "d.jsonl.gz"
        with Writer(path) as w:
            rec = Recorder(w, [h.info.id, p.info.id])
            rec.start()
            rec.frame()
            h.update(u32(7), struct.pack("<QQQ", 7, 700, 1))
            h.delete(u32(2))
            h.update(u32(3), struct.pack("<QQQ", 3, 1800, 0))
            cells = [struct.pack("<Q", 10 + c) for c in range(ncpu)]
            cells[1] = struct.pack("<Q", 99)
            p.update(u32(1), b"".join(cells))
            rec.frame()
        yield path, {"hash": h, "pcpu": p}


def test_two_frames_name_exactly_the_changed_keys(recorded: tuple[Path, dict[str, maps.Map]]) -> None:
    path, _ = recorded
    proc = run_cli("diff", f"{path}@frame0", f"{path}@frame1", "--json", check=False)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["equal"] is False and not out["only_in_a"] and not out["only_in_b"]
    by_name = {d["map"]: d for d in out["maps"]}
    h = by_name["rc_diff_hash"]
    assert h["added"] == [{"key": 7, "value": {"stats": {"packets": 7, "bytes": 700}, "flags": 1}}]
    assert h["removed"] == [{"key": 2, "value": {"stats": {"packets": 2, "bytes": 200}, "flags": 0}}]
    assert h["changed"] == [{"key": 3, "fields": [{"path": "stats.bytes", "a": 300, "b": 1800}]}]
    pc = by_name["rc_diff_pcpu"]
    assert pc["added"] == pc["removed"] == []
    assert pc["changed"] == [{"key": 1, "fields": [{"path": "cpu1", "a": 11, "b": 99}]}]
    text = run_cli("diff", f"{path}@frame0", str(path), "--map", "rc_diff_hash", check=False).stdout
    assert "+ key 7: " in text and "- key 2: " in text
    assert "~ key 3\n    stats.bytes: 300 -> 1800\n" in text
    assert "rc_diff_hash" in text and "rc_diff_pcpu" not in text


def test_equal_frames_exit_0_and_recordings_need_no_root(recorded: tuple[Path, dict[str, maps.Map]]) -> None:
    src, _ = recorded
    with tempfile.TemporaryDirectory(prefix="rc_diff_") as tmp:  # pytest's tmp_path is root-only
        os.chmod(tmp, 0o755)
        path = Path(tmp) / src.name
        shutil.copy(src, path)
        os.chmod(path, 0o644)
        cmd = [*NOBODY, sys.executable, "-m", "mapexplorer", "diff", f"{path}@frame1", f"{path}@9999"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
        cmd[-1] = f"{path}@frame0"
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/")
        assert proc.returncode == 1 and "~ key 3" in proc.stdout


def test_live_map_and_dump_json_against_a_frame(recorded: tuple[Path, dict[str, maps.Map]],
                                                tmp_path: Path) -> None:
    path, m = recorded
    hid = m["hash"].info.id
    # the live map is in the state of frame 1
    assert run_cli("diff", str(hid), str(path), check=False).returncode == 0
    proc = run_cli("diff", f"{path}@frame0", str(hid), "--json", check=False)
    d = json.loads(proc.stdout)["maps"][0]
    assert [e["key"] for e in d["added"]] == [7] and [e["key"] for e in d["removed"]] == [2]
    assert [c["key"] for c in d["changed"]] == [3]
    dump = tmp_path / "dump.json"
    dump.write_text(run_cli("dump", str(hid), "--json").stdout)
    proc = run_cli("diff", f"{path}@frame0", str(dump), "--json", "--map", "rc_diff_hash", check=False)
    d = json.loads(proc.stdout)["maps"][0]
    assert [e["key"] for e in d["added"]] == [7] and [e["key"] for e in d["removed"]] == [2]
    assert d["changed"] == [{"key": 3, "fields": [{"path": "stats.bytes", "a": 300, "b": 1800}]}]
    pdump = tmp_path / "pdump.json"
    pdump.write_text(run_cli("dump", "rc_diff_pcpu", "--json").stdout)
    proc = run_cli("diff", f"{path}@frame0", str(pdump), "--json", "--map", "rc_diff_pcpu", check=False)
    changed = json.loads(proc.stdout)["maps"][0]["changed"]
    assert changed == [{"key": 1, "fields": [{"path": "cpu1", "a": 11, "b": 99}]}]


def test_diff_trouble_exits_2(recorded: tuple[Path, dict[str, maps.Map]], tmp_path: Path) -> None:
    path, _ = recorded
    proc = run_cli("diff", f"{path}@frame7", f"{path}@frame0", "--map", "rc_diff_hash", check=False)
    assert proc.returncode == 2 and proc.stderr.strip().endswith("has frames 0..1, not 7")
    proc = run_cli("diff", str(tmp_path / "nope.json"), str(path), check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    proc = run_cli("diff", str(bad), str(path), check=False)
    assert proc.returncode == 2 and "neither a recording nor" in proc.stderr
    assert "Traceback" not in proc.stderr
