"""Helpers for the UI tests: an app over the recorded fixtures and a way to wait until it is idle."""

from __future__ import annotations

import time
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

class FakeClock:
    """A monotonic clock that moves only when told (``MapExplorerApp(clock=...)``): steps timed by the app
    do the same on a loaded machine as on an idle one."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until_freed(map_id: int, timeout: float = 30.0) -> None:
    """Wait until the kernel has freed map ``map_id`` after its last fd was closed.

    Any process on the box that walks every map (another explorer, bpftool) holds each one for a moment, and
    the map lives until it lets go: only then does reading it by id fail.
    """
    from mapexplorer.kernel import maps

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = maps.Map.open(map_id)
        except FileNotFoundError:
            return
        m.close()
        time.sleep(0.05)
    raise AssertionError(f"map {map_id} still readable {timeout:g}s after its last fd was closed")
