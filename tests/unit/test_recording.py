"""The recording format (mapexplorer.recording): round trips plain and gzip, decoding a recorded map with
the same BTF code path as live, and one clear error naming the line for a cut-short or damaged file
(with the frames before it still there). No root needed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.codec import codec_for_map_line
from mapexplorer.recording import RecordingError, Writer, read


def stats_btf() -> tuple[bytes, int, int]:
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    stats = b.struct("stats", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    return b.blob(), u32, stats


def facts(map_id: int, name: str, type_name: str, ks: int, vs: int, type_id: int) -> dict:
    return {"id": map_id, "name": name, "type": type_name, "key_size": ks, "value_size": vs, "max_entries": 8,
            "flags": 0, "btf_id": 7, "map_type": type_id}


def write_sample(path: Path, frames: int = 3) -> None:
    blob, key_id, value_id = stats_btf()
    with Writer(path) as w:
        w.header(kernel="6.18-test", possible_cpus=2, hostname="box", wall=1000.0, mono=50.0)
        w.map(facts(5, "rc_stats", "hash", 4, 16, 1), btf=blob, key_type_id=key_id, value_type_id=value_id)
        w.map(facts(6, "rc_pcpu", "percpu_array", 4, 16, 6), btf=None, btf_from=5, key_type_id=key_id,
              value_type_id=value_id)
        for f in range(frames):
            keys = b"".join(struct.pack("<I", k) for k in range(f + 1))
            values = b"".join(struct.pack("<QQ", k * 10 + f, k * 100) for k in range(f + 1))
            w.frame(5, t=50.0 + f, wall=1000.0 + f, keys=keys, values=values, count=f + 1, key_size=4,
                    stride=16)
            pcpu = struct.pack("<QQ", f, 1) + struct.pack("<QQ", 2 * f, 2)
            w.frame(6, t=50.0 + f + 0.1, wall=1000.0 + f, keys=struct.pack("<I", 0), values=pcpu, count=1,
                    key_size=4, stride=32)
        w.names(progs={"12": "tail_a"})
        w.event(6, t=51.0, wall=1001.0, cpu=1, data=b"\x01\x02")
        w.gone(5, t=50.0 + frames, wall=1000.0 + frames)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_round_trip_plain_and_gzip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rec{suffix}"
    write_sample(path)
    if suffix.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        assert gzip.decompress(path.read_bytes()).startswith(b'{"line":"header"')
    rec = read(path, strict=True)
    assert rec.error is None and rec.ended
    assert (rec.header.kernel, rec.header.possible_cpus, rec.header.hostname) == ("6.18-test", 2, "box")
    assert sorted(rec.maps) == [5, 6]
    assert rec.maps[6].btf == rec.maps[5].btf is not None  # btf_from resolved
    f = rec.frames[5]
    assert [x.count for x in f] == [1, 2, 3, 0] and f[-1].gone
    assert f[2].keys == struct.pack("<III", 0, 1, 2)
    assert f[2].values[16:32] == struct.pack("<QQ", 12, 100)
    assert rec.frame_at(5, 1.5).index == 1  # the last frame taken at most 1.5 s after the start
    assert rec.frame_at(6, 0.05) is None
    assert rec.names == {"progs": {"12": "tail_a"}}
    (ev,) = rec.events[6]
    assert (ev.cpu, ev.data) == (1, b"\x01\x02")


def test_recorded_map_decodes_with_its_btf_and_cpu_count(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    write_sample(path)
    rec = read(path)
    codec = codec_for_map_line(rec.maps[5], rec.header.possible_cpus)
    frame = rec.frames[5][2]
    assert codec.decode_key(frame.keys[4:8]) == 1
    assert codec.decode_value(frame.values[16:32]) == {"packets": 12, "bytes": 100}
    assert "struct stats" in (codec.value_c or "")
    pcpu = codec_for_map_line(rec.maps[6], rec.header.possible_cpus)
    assert pcpu.decode_percpu(rec.frames[6][1].values) == [
        {"packets": 1, "bytes": 1},
        {"packets": 2, "bytes": 2},
    ]


def test_cut_short_line_names_the_line_and_keeps_earlier_frames(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    write_sample(path)
    lines = path.read_bytes().splitlines(keepends=True)
    # 1 header, 2-3 maps, 4 frame #0 of map 5, 5 frame #0 of map 6, 6 frame #1 of map 5: cut line 6 in half
    path.write_bytes(b"".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    rec = read(path)
    assert rec.error is not None and rec.error.line == 6
    assert str(rec.error) == f"{path}: line 6: the line is cut short (the recording was interrupted)"
    assert [x.count for x in rec.frames[5]] == [1] and len(rec.frames[6]) == 1
    assert not rec.ended
    with pytest.raises(RecordingError, match="line 6"):
        read(path, strict=True)


def test_corrupted_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    write_sample(path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"keys":"00000000', b'"keys":"zz000000')
    lines[6] = b"{not json\n"
    path.write_bytes(b"".join(lines))
    rec = read(path)
    assert rec.error is not None and rec.error.line == 5
    assert "bad frame line" in str(rec.error) and "non-hexadecimal" in str(rec.error)
    assert len(rec.frames[5]) == 1 and rec.frames[6] == []


def test_cut_short_gzip_keeps_the_frames_before(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl.gz"
    write_sample(path, frames=40)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    rec = read(path)
    assert rec.error is not None
    assert "cut short" in rec.error.reason
    n = len(rec.frames[5])
    assert 0 < n < 40 and [x.count for x in rec.frames[5]] == list(range(1, n + 1))
    assert rec.error.line > 3


def test_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('[{"key": 1, "value": 2}]\n')
    with pytest.raises(RecordingError, match="line 1: expected a JSON object"):
        read(path)
    path.write_text('{"line": "frame"}\n')
    with pytest.raises(RecordingError, match="line 1: not a mapexplorer recording"):
        read(path)
    path.write_text("")
    with pytest.raises(RecordingError, match="line 1: the file is empty"):
        read(path)


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("mapexplorer.recording", ("textual", "mapexplorer.kernel")),
        ("mapexplorer.diffing", ("textual", "mapexplorer.kernel")),
        ("mapexplorer.marks", ("textual", "mapexplorer.kernel")),
        ("mapexplorer.replay_source", ("textual",)),
        ("mapexplorer.recorder", ("textual",)),
    ],
)
def test_recording_modules_keep_their_layer(module: str, forbidden: tuple[str, ...]) -> None:
    import subprocess
    import sys

    code = (f"import sys, {module}; bad = [m for m in sys.modules if m.startswith({forbidden!r})]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{module} imports {proc.stdout.strip()} {proc.stderr}"
