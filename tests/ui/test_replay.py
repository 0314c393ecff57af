"""The TUI on a recording (``--replay``): per-CPU columns from a 2-CPU recording move as the time bar
steps, play/pause, jump and speed keys, recorded events, a recording cut short. No kernel needed."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from mapexplorer.app import make_app
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.recording import Writer
from mapexplorer.replay_source import ReplaySource
from mapexplorer.screens.map_list import MapListScreen
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.widgets.timebar import TimeBar
from tests.ui.helpers import press, settle

SIZE = (160, 40)
PROBE = Path(__file__).with_name("replay_probe.py")


def packets(k: int, cpu: int, rnd: int) -> int:
    return (k + 1) * 100 + cpu * 10 + rnd


def write_2cpu(path: Path, rounds: int = 3) -> None:
    """A 2-CPU recording: a per-CPU array of ``{packets, bytes}`` whose values grow every round, a hash
    that vanishes in the last round, and a ringbuf with three recorded events."""
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    stats = b.struct("rc_stats", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    with Writer(path) as w:
        w.header(kernel="6.1-test", possible_cpus=2, hostname="box", wall=1_800_000_000.0, mono=100.0)
        w.map({"id": 7, "name": "rc_pcpu", "type": "percpu_array", "map_type": 6, "key_size": 4,
               "value_size": 16, "max_entries": 2, "btf_id": 3}, btf=b.blob(), key_type_id=u32,
              value_type_id=stats)
        w.map({"id": 8, "name": "rc_hash", "type": "hash", "map_type": 1, "key_size": 4, "value_size": 8,
               "max_entries": 4}, btf=None, key_type_id=0, value_type_id=0)
        w.map({"id": 9, "name": "rc_rb", "type": "ringbuf", "map_type": 27, "key_size": 0, "value_size": 0,
               "max_entries": 4096}, btf=None, key_type_id=0, value_type_id=0, kind="unlisted")
        for r in range(rounds):
            t = 100.0 + r
            vals = b"".join(struct.pack("<QQ", packets(k, c, r), 64 * packets(k, c, r))
                            for k in range(2) for c in range(2))
            w.frame(7, t=t, wall=1_800_000_000.0 + r, keys=struct.pack("<II", 0, 1), values=vals, count=2,
                    key_size=4, stride=32, round=r)
            if r < rounds - 1:
                w.frame(8, t=t + 0.01, wall=1_800_000_000.0 + r, keys=struct.pack("<I", 5),
                        values=struct.pack("<Q", r), count=1, key_size=4, stride=8, round=r)
            else:
                w.gone(8, t=t + 0.01, wall=1_800_000_000.0 + r, round=r)
            w.event(9, t=t + 0.5, wall=1_800_000_000.5 + r, cpu=None, data=bytes([r]) * 8)


def test_replay_steps_through_a_2_cpu_recording_with_per_cpu_columns(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl.gz"
    write_2cpu(path)
    proc = subprocess.run([sys.executable, str(PROBE), str(path), "rc_pcpu", "packets"], capture_output=True,
                          text=True, timeout=120, check=True)
    out = json.loads(proc.stdout)
    assert len(out["rounds"]) == 3
    for r, seen in enumerate(out["rounds"]):
        assert seen["bar"].startswith(f"⏸ {float(r):.1f} / 2.5 s x1")
        assert [set(row) for row in seen["rows"]] == [{"packets.cpu0", "packets.cpu1"}] * 2  # no cpu2: 2 CPUs
        assert [[int(row[f"packets.cpu{c}"].replace(",", "")) for c in range(2)] for row in seen["rows"]] == [
            [packets(k, c, r) for c in range(2)] for k in range(2)
        ]


async def test_time_bar_keys_and_a_map_that_vanished(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    write_2cpu(path)
    source = ReplaySource(path)
    tl = source.timeline
    assert tl.rounds == pytest.approx([0.01, 1.01, 2.01]) and tl.duration == 2.5
    tl.playing = False
    app = make_app(source, refresh=0, replay=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(TimeBar)
        assert "⏸ 0.0 / 2.5 s" in str(bar.render())
        await press(pilot, "space")
        assert tl.playing
        await press(pilot, "space", "full_stop", "full_stop")
        assert not tl.playing and tl.now() == pytest.approx(2.01)
        assert "⏸ 2.0 / 2.5 s" in str(bar.render())
        names = [r.name for r in source.list_maps().rows]
        assert names == ["rc_pcpu", "rc_rb"]  # rc_hash is gone in the last round
        await press(pilot, "comma")
        assert tl.now() == pytest.approx(1.01) and "rc_hash" in [r.name for r in source.list_maps().rows]
        await press(pilot, "right_square_bracket", "right_square_bracket")
        assert tl.speed == 4.0
        await press(pilot, "left_square_bracket")
        assert tl.speed == 2.0
        await press(pilot, "g")
        await pilot.press(*"frame 0", "enter")
        await settle(pilot)
        assert tl.now() == pytest.approx(0.01)  # frame 0 = the end of the first refresh round
        await press(pilot, "g")
        await pilot.press(*"1.5", "enter")
        await settle(pilot)
        assert tl.now() == 1.5
        assert isinstance(app.screen, MapListScreen)


async def test_replayed_events_follow_the_time_bar(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    write_2cpu(path)
    source = ReplaySource(path)
    tl = source.timeline
    tl.playing = False
    stream = source.stream_factory(source.resolve("rc_rb"))()
    assert stream.read_records(0.0) == []  # position 0: the first event is at 0.5 s
    tl.seek(1.6)
    assert stream.read_records(0.0) == [(None, b"\x00" * 8), (None, b"\x01" * 8)]
    tl.seek(2.5)
    assert stream.read_records(0.0) == [(None, b"\x02" * 8)]
    assert source.stream_factory(source.resolve("rc_pcpu")) is None


async def test_no_write_keys_and_a_map_that_vanished_says_when(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    write_2cpu(path)
    source = ReplaySource(path)
    source.timeline.playing = False
    app = make_app(source, refresh=0, open_map="rc_hash", replay=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MapViewScreen) and not app.write
        keys = {b.binding.action for b in app.screen.active_bindings.values()}
        assert not keys & {"edit_entry", "add_entry", "delete_entry"}  # no write keys in a replay
        assert "toggle_hex" in keys
        assert not {c[2] for c in app.screen.palette_commands()} & {"edit_entry", "add_entry", "delete_entry"}
        await press(pilot, "e")
        assert not app._notifications  # not even the "start with --write" hint: the key does nothing
        await press(pilot, "full_stop", "full_stop")
        assert isinstance(app.screen, MapListScreen)
        assert any("was gone at 2.0 s" in n.message for n in app._notifications)
