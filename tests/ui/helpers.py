"""Helpers for the UI tests: an app over the recorded fixtures and a way to wait until it is idle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from mapexplorer.app import MapExplorerApp, make_app
from mapexplorer.replay_source import ReplaySource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "maps.jsonl"
"""The recording the UI tests, snapshots and screenshots replay (docs/recording.md): the demo's maps and
fx_pcpu_stats, recorded on a 2-CPU VM, per-CPU values spread over 4 CPUs."""
FIXTURE_64 = FIXTURES / "maps-64cpu.jsonl.gz"
"""The same maps with per-CPU values spread over 64 CPUs."""
FIXTURE_EPOCH = 1_700_000_000.0
"""Wall time of the fixtures' first frame (frames are one second apart)."""


PROGRAMS_FIXTURE = FIXTURES / "programs.json"
"""The demo's programs (the programs screen, writers and readers in map headers)."""


def fixture_source(ncpus: int = 4, programs: bool = False) -> ReplaySource:
    """The fixture recording for 4 or 64 CPUs, each read of a map giving its next frame; ``programs`` adds
    the recorded programs."""
    return ReplaySource({4: FIXTURE, 64: FIXTURE_64}[ncpus], follow_reads=True,
                        programs=PROGRAMS_FIXTURE if programs else None)


def fixture_app(
    ncpus: int = 4,
    open_map: str | None = None,
    errors: dict[str, Callable[[int], Exception]] | None = None,
    programs: bool = False,
) -> MapExplorerApp:
    """The app over the fixture recording with manual refresh (``r`` advances one recorded frame).

    ``errors`` maps a map *name* to a function of its id returning the exception reading it raises;
    ``programs`` adds the recorded programs (tests/fixtures/programs.json): the programs screen and the
    writers/readers in map headers.
    """
    source = fixture_source(ncpus, programs)
    for name, make_error in (errors or {}).items():
        map_id = source.resolve(name)
        source.errors[map_id] = make_error(map_id)
    return make_app(source, refresh=0, open_map=open_map)


async def settle(pilot: Pilot, rounds: int = 4) -> None:
    """Wait until no worker runs and the messages they posted are handled (workers start workers)."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def press(pilot: Pilot, *keys: str) -> None:
    """Press keys one by one, settling after each (a refresh key starts a worker)."""
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
