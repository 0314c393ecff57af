"""Snapshot tests of every main screen, over maps recorded from a real kernel (tests/fixtures/maps.jsonl and
maps-64cpu.jsonl.gz, recordings in the docs/recording.md format) with fixed CPU counts (4 and 64) and fixed
timestamps. Update baselines with
``.venv/bin/python -m pytest tests/snapshots --snapshot-update`` and review the SVG diffs (the report, or
``scripts/screenshots.py --png`` for PNGs of the same screens)."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from mapexplorer.model import MapGone
from tests.ui.helpers import fixture_app, press, settle

SIZE = (120, 36)


def test_map_list(snap_compare) -> None:
    assert snap_compare(fixture_app(), terminal_size=SIZE, run_before=settle)


def test_doctor_findings(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "d")

    assert snap_compare(fixture_app(), terminal_size=SIZE, run_before=run)


def test_memory_by_name(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "o", "o", "o")  # owner, pin directory, name

    assert snap_compare(fixture_app(), terminal_size=SIZE, run_before=run)


def test_filtered_list(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "slash", "p", "c", "p", "u")

    assert snap_compare(fixture_app(), terminal_size=SIZE, run_before=run)


def test_hash_with_struct_values(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "r", "r")

    assert snap_compare(fixture_app(open_map="demo_proc_stats"), terminal_size=SIZE, run_before=run)


@pytest.mark.parametrize("ncpus", [4, 64])
def test_percpu_array_cpu_columns(snap_compare, ncpus: int) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "r", "down", "down")

    assert snap_compare(fixture_app(ncpus, open_map="fx_pcpu_stats"), terminal_size=SIZE, run_before=run)


def test_percpu_64_scrolled_key_pinned(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "r", *["right"] * 40)

    assert snap_compare(fixture_app(64, open_map="fx_pcpu_stats"), terminal_size=SIZE, run_before=run)


def _hist_app(open_map: str):
    """The app over tests/fixtures/hist.jsonl.gz: the demo's read-size log2 histogram and its per-syscall
    latency histogram, recorded live (6 frames)."""
    from mapexplorer.app import make_app
    from mapexplorer.replay_source import ReplaySource
    from tests.ui.helpers import FIXTURES

    return make_app(ReplaySource(FIXTURES / "hist.jsonl.gz", follow_reads=True), refresh=0, open_map=open_map)


def test_histogram_view(snap_compare) -> None:
    """A plain log2 histogram opens as a chart by itself; r: the next frame, with the change (Δ)."""

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "r")

    assert snap_compare(_hist_app("demo_read_log2"), terminal_size=SIZE, run_before=run)


def test_histogram_per_key(snap_compare) -> None:
    """A BCC per-key histogram (struct key ending in slot): the key selector, one key picked."""

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "r", "down")

    assert snap_compare(_hist_app("demo_sys_lat_us"), terminal_size=SIZE, run_before=run)


@pytest.mark.parametrize(("ncpus", "view"), [(4, "chart"), (4, "heatmap"), (64, "heatmap"), (64, "chart")])
def test_drilldown_history(snap_compare, ncpus: int, view: str) -> None:
    """The drill-down history: a chart per CPU below 32 CPUs, a CPU x time heatmap from 32 on (c switches)."""
    default = "heatmap" if ncpus >= 32 else "chart"

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "r", "r", "r", "down", "enter", "r", "r", *(["c"] if view != default else []))

    assert snap_compare(fixture_app(ncpus, open_map="fx_pcpu_stats"), terminal_size=SIZE, run_before=run)


def test_hex_view(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "x")

    assert snap_compare(fixture_app(open_map="demo_proc_stats"), terminal_size=SIZE, run_before=run)


def test_queue_view(snap_compare) -> None:
    assert snap_compare(fixture_app(open_map="demo_queue_exec"), terminal_size=SIZE, run_before=settle)


def test_map_of_maps_navigation(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "enter")

    assert snap_compare(fixture_app(open_map="demo_hom_tenant"), terminal_size=SIZE, run_before=run)


def test_prog_array_names(snap_compare) -> None:
    assert snap_compare(fixture_app(open_map="demo_tail_calls"), terminal_size=SIZE, run_before=settle)


def test_lpm_trie_cidr_keys(snap_compare) -> None:
    assert snap_compare(fixture_app(open_map="demo_lpm_routes"), terminal_size=SIZE, run_before=settle)


def test_ringbuf_explains(snap_compare) -> None:
    assert snap_compare(fixture_app(open_map="demo_ringbuf"), terminal_size=SIZE, run_before=settle)


def test_help(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "question_mark")

    assert snap_compare(fixture_app(), terminal_size=SIZE, run_before=run)


def test_error_notice(snap_compare) -> None:
    def denied(map_id: int) -> Exception:
        return PermissionError(1, "Operation not permitted")

    app = fixture_app(open_map="demo_proc_stats", errors={"demo_proc_stats": denied})
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


def test_vanished_map_notice(snap_compare) -> None:
    def gone(map_id: int) -> Exception:
        return MapGone(f"map {map_id} is gone")

    assert snap_compare(
        fixture_app(open_map="demo_proc_stats", errors={"demo_proc_stats": gone}),
        terminal_size=SIZE,
        run_before=settle,
    )


def test_80x24(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "r")

    assert snap_compare(fixture_app(open_map="fx_pcpu_stats"), terminal_size=(80, 24), run_before=run)


def test_too_small(snap_compare) -> None:
    assert snap_compare(fixture_app(), terminal_size=(70, 20), run_before=settle)


def test_list_80x24(snap_compare) -> None:
    assert snap_compare(fixture_app(), terminal_size=(80, 24), run_before=settle)


def test_drilldown_80x24(snap_compare) -> None:
    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "r", "r", "enter", "r")

    assert snap_compare(fixture_app(open_map="fx_pcpu_stats"), terminal_size=(80, 24), run_before=run)
