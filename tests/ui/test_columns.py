"""The column logic of the entry table (pure functions): flattening, per-CPU columns, deltas, filter, sort."""

from __future__ import annotations

from mapexplorer.decoders import RawDecoder
from mapexplorer.model import MapFacts, MapRow, MapSnapshot
from mapexplorer.widgets.columns import cell_text, compute_order, flatten, fmt_rate, make_plan, row_cells
from tests.ui.helpers import FIXTURE_EPOCH, fixture_source


def test_flatten_nested_structs_and_small_arrays() -> None:
    value = {"a": {"b": 1, "c": "eth0"}, "d": [1, 2], "e": list(range(20)), "f": ["sym1", "sym2"]}
    assert flatten(value) == [
        ("a.b", 1),
        ("a.c", "eth0"),
        ("d[0]", 1),
        ("d[1]", 2),
        ("e", list(range(20))),
        ("f", ["sym1", "sym2"]),
    ]
    assert flatten(["0x01", "0x02"]) == [("", ["0x01", "0x02"])]


def test_cell_text() -> None:
    assert cell_text(["0x01", "0xff"]) == "01 ff"
    # bytes read without BTF (a queue element, a hash value) show their ASCII when they hold text
    raw = bytes(8) + b"dsx-comm" + bytes(8)
    assert cell_text([f"0x{b:02x}" for b in raw]) == f"{raw.hex(' ')}  |{'.' * 8}dsx-comm{'.' * 8}|"
    assert cell_text(None) == "\u2013"
    assert cell_text(["f", "g"]) == "f \u2190 g"
    assert fmt_rate(1500.0) == "1.5k/s" and fmt_rate(2.0) == "2.0/s"


def _percpu_snapshot(ncpus: int, values: list[list[int]], t: float) -> MapSnapshot:
    row = MapRow(id=1, name="t", type_name="percpu_array", key_size=4, value_size=8, max_entries=len(values))
    keys = b"".join(i.to_bytes(4, "little") for i in range(len(values)))
    vals = b"".join(v.to_bytes(8, "little") for cpus in values for v in cpus)
    dec = RawDecoder(4, 8, ncpus)
    return MapSnapshot(MapFacts(row, ncpus, False), keys, vals, len(values), 4, 8 * ncpus, t, dec)


def test_percpu_columns_sum_min_max_rate() -> None:
    before = _percpu_snapshot(3, [[1, 2, 3], [10, 0, 5]], 100.0)
    after = _percpu_snapshot(3, [[2, 4, 6], [10, 0, 5]], 102.0)
    plan = make_plan(after, moving=frozenset({""}))
    labels = [c.label for c in plan.columns]
    assert labels == ["key", "sum", "min", "max", "rate", "cpu0", "cpu1", "cpu2"]
    _, prev = row_cells(before, 0, plan)
    cells, _ = row_cells(after, 0, plan, prev, 2.0)
    assert cells == ["0", "12", "2", "6", "3.0/s", "2", "4", "6"]
    _, prev1 = row_cells(before, 1, plan)
    cells, _ = row_cells(after, 1, plan, prev1, 2.0)
    assert cells[4] == ""  # unchanged: no rate shown


def test_filter_and_sort_order() -> None:
    snap = _percpu_snapshot(2, [[5, 5], [1, 1], [9, 0]], FIXTURE_EPOCH)
    plan = make_plan(snap, moving=None)
    assert compute_order(snap, plan, sort_col=1, reverse=False, filter_text="") == [1, 2, 0]
    assert compute_order(snap, plan, sort_col=None, reverse=False, filter_text="cpu1:5") == [0]
    assert compute_order(snap, plan, sort_col=None, reverse=False, filter_text="") is None


def test_64_cpu_fixture_has_a_value_per_cpu() -> None:
    source = fixture_source(64)
    snap = source.read_map(source.resolve("fx_pcpu_stats"))
    assert snap.facts.ncpus == 64 and snap.stride == 16 * 64
    values = snap.value(0)
    assert len(values) == 64 and all(set(v) == {"packets", "bytes"} for v in values)
    assert values[2] != values[0]  # extended CPUs differ from the recorded ones


def test_integer_fast_path_sorts_like_the_decoded_path() -> None:
    row = MapRow(id=2, name="h", type_name="hash", key_size=4, value_size=8, max_entries=8)
    values = [7, 300, 2, 2**40, 0, 65]
    keys = b"".join(k.to_bytes(4, "little") for k in (5, 1, 9, 3, 8, 2))
    vals = b"".join(v.to_bytes(8, "little") for v in values)
    snap = MapSnapshot(MapFacts(row, 2, False), keys, vals, 6, 4, 8, 0.0, RawDecoder(4, 8, 2))
    plan = make_plan(snap)
    assert snap.int_column("value") == values
    fast = compute_order(snap, plan, sort_col=1, reverse=True, filter_text="")
    slow = sorted(range(6), key=lambda i: values[i], reverse=True)
    assert fast == slow
    assert compute_order(snap, plan, sort_col=0, reverse=False, filter_text="") == [1, 5, 3, 0, 4, 2]


def test_kallsyms_symbolizes_kernel_addresses_and_marks_user_ones(tmp_path) -> None:
    from mapexplorer.decoders import Kallsyms

    syms = tmp_path / "kallsyms"
    syms.write_text(
        "ffffffff81000000 T _stext\nffffffff81001000 T schedule\nffffffff81002000 t helper [mod]\n"
    )
    k = Kallsyms(str(syms))
    assert k.symbolize(0xFFFFFFFF81001010) == "schedule+0x10"
    assert k.symbolize(0xFFFFFFFF81002004) == "helper+0x4"
    assert k.symbolize(0x7F0000001000) == "0x7f0000001000 (user)"
    # string bytes a frame-pointer walk took for a return address are said to be text, as dump says
    assert k.symbolize(0x64662F393537) == "0x64662f393537 (user) '759/fd': text bytes, not code"
