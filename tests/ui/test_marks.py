"""``m`` marks a frame of a map view, ``c`` shows only the keys added, removed or changed since, with the
changed fields highlighted (over a recording whose frames the test wrote, so the changes are known)."""

from __future__ import annotations

import struct
from pathlib import Path

from mapexplorer.app import make_app
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.recording import Writer
from mapexplorer.replay_source import ReplaySource
from mapexplorer.widgets.entry_table import EntryTable
from tests.ui.helpers import press, settle

SIZE = (160, 40)


def write(path: Path) -> None:
    """Frame 0: keys 0..5 -> {packets: k, bytes: 100k}. Frame 1: key 7 added, key 2 deleted, key 3's bytes
    changed, the rest as before."""
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    stats = b.struct("rc_stats", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    frames = [
        {k: (k, 100 * k) for k in range(6)},
        {**{k: (k, 100 * k) for k in range(6) if k != 2}, 3: (3, 1800), 7: (7, 700)},
    ]
    with Writer(path) as w:
        w.header(kernel="t", possible_cpus=2, hostname="t", wall=1_800_000_000.0, mono=0.0)
        w.map({"id": 3, "name": "rc_marks", "type": "hash", "map_type": 1, "key_size": 4, "value_size": 16,
               "max_entries": 16}, btf=b.blob(), key_type_id=u32, value_type_id=stats)
        for f, entries in enumerate(frames):
            keys = b"".join(struct.pack("<I", k) for k in entries)
            values = b"".join(struct.pack("<QQ", *v) for v in entries.values())
            w.frame(3, t=float(f), wall=1_800_000_000.0 + f, keys=keys, values=values, count=len(entries),
                    key_size=4, stride=16, round=f)


async def test_mark_then_changes_shows_exactly_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    write(path)
    app = make_app(ReplaySource(path, follow_reads=True), refresh=0, open_map="rc_marks")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "c")  # no mark yet: a notice, nothing changes
        assert any("press m first" in n.message for n in app._notifications)
        await press(pilot, "m", "c")  # mark frame 0, then changes only: the next read is frame 1
        screen = app.screen
        table = screen.query_one("#entries", EntryTable)
        labels = [c.label for c in table.plan.columns]
        rows = {table._row(i).cells[0]: table._row(i) for i in range(table.row_count)}
        assert sorted(rows) == ["+ 7", "- 2", "~ 3"]
        assert screen.since == (1, 1, 1)
        changed = rows["~ 3"]
        assert changed.cells[labels.index("bytes")] == "1800"
        highlighted = {labels[j] for j, c in enumerate(changed.changed) if c}
        assert "bytes" in highlighted and "packets" not in highlighted
        assert not any(rows["- 2"].changed) and rows["- 2"].cells[labels.index("bytes")] == "200"
        status = str(screen.query_one("#status").render())
        assert "+1 added, -1 removed, ~1 changed" in status and "3 of 6 entries" in status
        await press(pilot, "c")  # all entries again
        table = screen.query_one("#entries", EntryTable)
        assert table.row_count == 6 and screen.since is None
