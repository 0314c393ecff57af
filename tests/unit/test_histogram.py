"""mapexplorer.histogram: detection on hand-built BTF, BCC's own printer as the reference for rows, and
percentiles on known counts. No root needed (BCC's printer is pure Python)."""

from __future__ import annotations

import contextlib
import io

import pytest

from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.histdetect import MapShape, detect
from mapexplorer.histogram import LINEAR, LOG2, Histogram, collect, looks_like_hist, stars, unit_from_names


def _bcc_table():
    try:
        from bcc import table
    except ImportError:  # pragma: no cover - the distro package is missing
        pytest.skip("BCC's python3-bpfcc is not installed")
    return table


def _bcc_print(fn_name: str, vals: list[int], label: str) -> list[str]:
    table = _bcc_table()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        getattr(table, fn_name)(vals, label, None)
    return out.getvalue().splitlines()


def _types() -> tuple[Btf, dict[str, int]]:
    b = BtfBuilder()
    i32 = b.int("int", 4, signed=True)
    u32 = b.int("unsigned int", 4)
    u64 = b.int("unsigned long long", 8)
    char = b.int("char", 1, char=True)
    comm = b.array(char, 16, u32)
    slots = b.array(u32, 26, u32)
    u64x64 = b.array(u64, 64, u32)
    ids = {
        "int": i32,
        "u32": u32,
        "u64": u64,
        "pid_key": b.struct("pid_key_t", 16, [("id", u64, 0), ("slot", u64, 64)]),
        "disk_key": b.struct("disk_key_t", 40, [("disk", comm, 0), ("flags", u32, 128), ("__pad_1", u32, 160),
                                                ("slot", u64, 192)]),
        "plain_key": b.struct("plain_key", 16, [("id", u64, 0), ("n", u64, 64)]),
        "hist": b.struct("hist", 120, [("slots", slots, 0), ("comm", comm, 26 * 32)]),
        "lat_val": b.struct("val_t", 512 + 8, [("total", u64, 0), ("lat_hist", u64x64, 64)]),
        "counters": b.struct("counters", 512, [("per_cpu", u64x64, 0)]),
        "u64x64": u64x64,
    }
    return Btf.parse(b.blob()), ids


def _shape(name: str, key: str, value: str, type_name: str = "hash") -> MapShape:
    btf, ids = _types()
    return MapShape(name, type_name, btf.type_size(ids[key]), btf.type_size(ids[value]), btf, ids[key],
                    ids[value])


# -- detection --------------------------------------------------------------------------------------


def test_bcc_plain_histogram_is_detected_by_name_but_a_plain_u64_array_is_not() -> None:
    spec = detect(_shape("dist", "int", "u64", "array"))
    assert spec is not None and spec.kind == "slot_key" and spec.scale == LOG2
    assert detect(_shape("hi_counts", "u32", "u64", "array")) is None
    forced = detect(_shape("hi_counts", "u32", "u64", "array"), guess=False)
    assert forced is not None and forced.kind == "slot_key"


def test_struct_key_ending_with_slot_is_a_per_key_histogram_whatever_its_name() -> None:
    spec = detect(_shape("xyz", "pid_key", "u64"))
    assert spec is not None
    assert (spec.kind, spec.slot_field, spec.group_fields) == ("struct_slot_key", "slot", ("id",))
    padded = detect(_shape("disks", "disk_key", "u64"))
    assert padded is not None and padded.group_fields == ("disk", "flags")
    assert detect(_shape("xyz", "plain_key", "u64")) is None


def test_libbpf_tools_struct_hist_value() -> None:
    spec = detect(_shape("hists", "u32", "hist"))
    assert spec is not None
    assert (spec.kind, spec.array_path, spec.shift) == ("value_array", ("slots",), 1)
    named = detect(_shape("starts", "u32", "lat_val"))
    assert named is not None and named.array_path == ("lat_hist",)


def test_arrays_need_a_histogram_name_unless_asked() -> None:
    assert detect(_shape("stats", "u32", "counters")) is None
    assert detect(_shape("stats", "u32", "u64x64")) is None
    assert detect(_shape("lat_dist", "u32", "u64x64")) is not None
    forced = detect(_shape("stats", "u32", "counters"), guess=False)
    assert forced is not None and forced.array_path == ("per_cpu",)


def test_streams_and_btf_less_maps() -> None:
    assert detect(MapShape("dist", "ringbuf", 0, 0)) is None
    assert detect(MapShape("dist", "array", 4, 8)) is None
    forced = detect(MapShape("dist", "array", 4, 8), guess=False)
    assert forced is not None and forced.kind == "slot_key"


def test_names_units_and_linear() -> None:
    assert looks_like_hist("demo_read_log2") and looks_like_hist("dist") and looks_like_hist("lat_ns")
    assert not looks_like_hist("counts") and not looks_like_hist("hi_plain")
    assert unit_from_names("read_lat_usecs") == "usecs"
    assert unit_from_names("dist", "lat_ns") == "nsecs"
    assert unit_from_names("dist") is None
    spec = detect(_shape("qlen_lhist", "int", "u64", "array"))
    assert spec is not None and spec.scale == LINEAR


# -- rows as BCC prints them ------------------------------------------------------------------------


LOG2_CASES = [
    [0, 1],
    [0, 3, 0, 7, 12, 40, 2, 0, 1],
    [5, 0, 0, 0, 9],  # slot 0 is never printed by BCC
    [0] * 40 + [3, 1],  # idx_max > 32: wide format, half-width bars
    [0, 0, 0, 1000000, 1, 999999],
    [0] * 10,
]


@pytest.mark.parametrize("vals", LOG2_CASES)
def test_log2_rows_equal_bcc_print_log2_hist(vals: list[int]) -> None:
    padded = vals + [0] * (65 - len(vals))
    want = _bcc_print("_print_log2_hist", padded, "usecs")
    assert Histogram(tuple(vals), LOG2).bcc_lines("usecs") == want


@pytest.mark.parametrize("vals", [[4], [0, 0, 3, 9, 1], [1] + [0] * 20 + [5]])
def test_linear_rows_equal_bcc_print_linear_hist(vals: list[int]) -> None:
    padded = vals + [0] * (65 - len(vals))
    want = _bcc_print("_print_linear_hist", padded, "tasks")
    assert Histogram(tuple(vals), LINEAR).bcc_lines("tasks") == want


def test_stars_match_bcc() -> None:
    table = _bcc_table()
    for val, vmax, width in [(0, 5, 40), (5, 5, 40), (1, 3, 40), (7, 1000, 20), (999, 1000, 40)]:
        assert stars(val, vmax, width) == table._stars(val, vmax, width)


def test_log2_ranges() -> None:
    h = Histogram((0, 1, 1, 1, 1, 1), LOG2)
    assert [(b.low, b.high) for b in h.rows()] == [(0, 1), (2, 3), (4, 7), (8, 15), (16, 31)]


# -- percentiles ------------------------------------------------------------------------------------


def test_percentiles_are_bucket_upper_bounds() -> None:
    # 100 samples: 50 in 0..1, 40 in 2..3, 9 in 4..7, 1 in 64..127
    h = Histogram((0, 50, 40, 9, 0, 0, 0, 1), LOG2, "usecs")
    assert h.percentiles() == {"p50": 1, "p90": 3, "p99": 7, "max": 127}
    assert h.percentile_line() == ("p50 <= 1  p90 <= 3  p99 <= 7  max <= 127 usecs"
                                   " (bucket upper bounds, 100 samples)")


def test_percentiles_linear_and_empty() -> None:
    h = Histogram((10, 0, 80, 9, 1), LINEAR)
    assert h.percentiles() == {"p50": 2, "p90": 2, "p99": 3, "max": 4}
    assert Histogram((0, 0, 0), LOG2).percentiles() is None
    assert Histogram((7,), LOG2).percentiles() is None  # slot 0 only: BCC prints nothing
    assert Histogram((7, 1), LOG2).hidden == 7


def test_one_sample() -> None:
    h = Histogram((0, 0, 0, 0, 0, 0, 1), LOG2)
    assert h.percentiles() == {"p50": 63, "p90": 63, "p99": 63, "max": 63}


# -- collecting entries -----------------------------------------------------------------------------


def test_collect_struct_key_groups_and_sum() -> None:
    spec = detect(_shape("dist", "pid_key", "u64"))
    assert spec is not None
    entries = [({"id": 7, "slot": 3}, 2), ({"id": 7, "slot": 1}, 5), ({"id": 3, "slot": 3}, 1),
               ({"id": 10, "slot": 1}, 1)]
    hs = collect(spec, entries)
    assert [k for k, _ in hs.groups.values()] == [{"id": 3}, {"id": 7}, {"id": 10}]
    found = hs.find("7")
    assert found is not None and found[1].counts == (0, 5, 0, 2)
    assert hs.find('{"id": 3}') is not None and hs.find("99") is None
    assert hs.sum().counts == (0, 6, 0, 3)
    # keys that differ only in padding bytes decode alike: their counts add up (BCC's printer keeps one)
    dup = collect(spec, [({"id": 7, "slot": 3}, 2), ({"id": 7, "slot": 3}, 4)])
    assert dup.sum().counts == (0, 0, 0, 6)


def test_collect_libbpf_slots_shift_and_percpu_sum() -> None:
    spec = detect(_shape("hists", "u32", "hist", "percpu_hash"))
    assert spec is not None
    v0 = {"slots": [1, 2] + [0] * 24, "comm": "a"}
    v1 = {"slots": [0, 3] + [0] * 24, "comm": "a"}
    hs = collect(spec, [(0, [v0, v1])], percpu=True)
    (_, h), = hs.groups.values()
    # libbpf-tools slot 0 is "0 -> 1": BCC's slot 1
    assert h.rows()[0] == (0, 1, 1) and h.rows()[1] == (2, 3, 5)


def test_collect_drops_keys_too_large_to_be_buckets() -> None:
    spec = detect(_shape("hi_x", "u32", "u64", "array"), guess=False)
    assert spec is not None
    hs = collect(spec, [(1, 4), (100000, 9)])
    assert hs.dropped == 9
    assert hs.sum().counts == (0, 4)
    raw = [(["0x02", "0x00", "0x00", "0x00"], ["0x05"] + ["0x00"] * 7)]
    assert collect(spec, raw).sum().counts == (0, 0, 5)


def test_module_is_pure() -> None:
    import subprocess
    import sys

    code = ("import sys, mapexplorer.histogram, mapexplorer.histdetect; bad = [m for m in sys.modules if "
            "m.startswith(('textual', 'mapexplorer.kernel'))]; sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
