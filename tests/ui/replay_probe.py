"""Run the replay TUI on a recording of the per-CPU array ``MAP`` in a headless Pilot, step through
every refresh round with ``.``, and print one JSON line per round: the time bar's text and, per row, the
per-CPU cells. Used by tests (also under setpriv as an unprivileged user):

    python tests/ui/replay_probe.py FILE MAP FIELD
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from mapexplorer.app import make_app
from mapexplorer.replay_source import ReplaySource
from mapexplorer.widgets.entry_table import EntryTable
from mapexplorer.widgets.timebar import TimeBar


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def main(path: str, map_name: str, field: str) -> None:
    source = ReplaySource(path)
    source.timeline.playing = False
    app = make_app(source, refresh=0, open_map=map_name, replay=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        out = {"uid": os.getuid(), "rounds": []}
        for _ in range(len(source.timeline.rounds)):
            entries = app.screen.query_one("#entries", EntryTable)
            labels = [c.label for c in entries.plan.columns]
            cols = {lab: labels.index(lab) for lab in labels if lab.startswith(f"{field}.cpu")}
            rows = [{lab: entries._row(i).cells[j] for lab, j in cols.items()}
                    for i in range(entries.row_count)]
            bar = str(app.screen.query_one(TimeBar).render())
            out["rounds"].append({"bar": bar, "rows": rows})
            await pilot.press("full_stop")
            await settle(pilot)
        print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
