"""Recorded programs for snapshot tests and screenshots (tests/fixtures/programs.json): the programs screen
and the writers/readers of maps over fixed data, one frame of run counters per refresh, fixed times."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mapexplorer.progmodel import MapUsers, ProgListSnapshot, ProgMapUse, ProgRow, map_users


class FixturePrograms:
    """Programs replayed from a JSON file; ``map_info(id)`` names the maps they use (``(name, type)``)."""

    def __init__(self, path: str | Path, map_info: Callable[[int], tuple[str, str]], *, epoch: float,
                 ncpus: int) -> None:
        data = json.loads(Path(path).read_text())
        self.epoch = epoch
        self.ncpus = ncpus
        self.stats_on = False
        self._frame = 0
        self._lock = threading.Lock()
        self._rows: list[tuple[ProgRow, list[tuple[int, int]]]] = []
        for p in data["programs"]:
            uses = []
            for map_id, mode in p.get("maps", ()):
                name, type_name = map_info(map_id)
                uses.append(ProgMapUse(map_id, name, type_name, mode))
            row = ProgRow(
                id=p["id"],
                name=p["name"],
                type_name=p["type"],
                tag=p.get("tag", ""),
                attach=tuple(p.get("attach", ())),
                owners=tuple(p.get("owners", ())),
                loaded_at=p.get("loaded_at", 0.0),
                verified_insns=p.get("verified_insns", 0),
                jited_size=p.get("jited_size", 0),
                memlock=p.get("memlock", 0),
                maps=tuple(uses),
                maps_hidden=p.get("maps_hidden", ""),
            )
            self._rows.append((row, [tuple(r) for r in p.get("runs", ())]))

    def set_stats(self, on: bool) -> None:
        self.stats_on = on

    def list_programs(self) -> ProgListSnapshot:
        """The next frame of run counters (the last repeats), stamped ``epoch + frame``."""
        with self._lock:
            i = self._frame
            self._frame += 1
        rows = []
        for row, runs in self._rows:
            if runs:
                cnt, ns = runs[min(i, len(runs) - 1)]
                row = replace(row, run_cnt=cnt, run_time_ns=ns)
            rows.append(row)
        return ProgListSnapshot(tuple(rows), self.epoch + i, self.stats_on, "", self.ncpus)

    def names_of(self, map_id: int) -> tuple[str, ...]:
        """Full names of the recorded programs using the map."""
        return tuple(row.name for row, _ in self._rows if row.use_of(map_id) is not None)

    def users_of(self, map_id: int) -> MapUsers:
        """Which recorded programs write and read the map."""
        uses = []
        for row, _ in self._rows:
            use = row.use_of(map_id)
            if use is not None:
                uses.append((row.name, use.mode, row.maps_hidden))
        return map_users(uses)
