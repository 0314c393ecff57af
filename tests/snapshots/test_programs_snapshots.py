"""Snapshot tests of the programs screens over the recorded programs (tests/fixtures/programs.json) and maps
(tests/fixtures/maps.json): fixed counters one second apart, fixed load times shown in UTC. Update baselines
with ``.venv/bin/python -m pytest tests/snapshots/test_programs_snapshots.py --snapshot-update`` and look
at them as images."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from textual.pilot import Pilot

from tests.ui.helpers import fixture_app, press, settle

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Load times are shown in local time: pin it for the baselines."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_programs_screen_with_rates(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "P", "r")

    assert snap_compare(fixture_app(programs=True), terminal_size=SIZE, run_before=run)


def test_maps_of_a_program(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "P", "down", "down", "down", "enter")

    assert snap_compare(fixture_app(programs=True), terminal_size=SIZE, run_before=run)


def test_programs_of_a_map(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "P", "r")

    app = fixture_app(programs=True, open_map="demo_pcpu_evts")
    assert snap_compare(app, terminal_size=SIZE, run_before=run)


def test_ringbuf_view_names_its_writer(snap_compare) -> None:
    app = fixture_app(programs=True, open_map="demo_ringbuf")
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)
