"""Edit forms without a kernel: the editable leaves of a BTF type (with C types), the partial JSON a form
sends, and forms / plans built by TypedMap from bytes (what the TUI shows)."""

from __future__ import annotations

import json
import struct

from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.btf.fields import leaves
from mapexplorer.codec import MapCodec
from mapexplorer.edit import TypedMap
from mapexplorer.kernel.maps import MapInfo
from mapexplorer.writemodel import form_json
from tests.writemaps import STATS_SIZE, build_types


def typed(value_type: int, btf: Btf, value_size: int, *, type_name: str = "hash", ncpus: int = 2) -> TypedMap:
    info = MapInfo(id=9, type=1, type_name=type_name, name="wr_unit", key_size=4, value_size=value_size,
                   max_entries=8, flags=0, btf_id=1, btf_key_type_id=3, btf_value_type_id=value_type,
                   btf_vmlinux_value_type_id=0, map_extra=0, ifindex=0, memlock=0, frozen=False)
    return TypedMap(info, MapCodec(info, btf, 3, btf, value_type), ncpus)


def test_leaves_of_a_nested_struct() -> None:
    t = build_types()
    btf = Btf.parse(t.blob)
    got = [(lf.path, lf.c_type, lf.kind) for lf in leaves(btf, t.stats)]
    assert got[:6] == [("count", "u64", "int"), ("in.a", "u16", "int"), ("in.flags", "u8", "int"),
                       ("in.tag", "char[8]", "string"), ("c", "enum color", "enum"), ("arr[0]", "u32", "int")]
    assert ("on", "bool", "bool") in got and ("f", "float", "float") in got
    assert next(lf for lf in leaves(btf, t.stats) if lf.path == "c").choices == ("RED", "GREEN", "BLUE")


def test_anonymous_union_members_sit_in_the_parent() -> None:
    b = BtfBuilder()
    u32 = b.int("u32", 4)
    u16 = b.int("u16", 2)
    anon = b.union("", 4, [("word", u32, 0), ("half", u16, 0)])
    s = b.struct("s", 8, [("id", u32, 0), ("", anon, 32)])
    assert [lf.path for lf in leaves(Btf.parse(b.blob()), s)] == ["id", "word", "half"]


def test_form_json_sends_changed_fields_and_whole_arrays() -> None:
    t = build_types()
    form = typed(t.stats, Btf.parse(t.blob), STATS_SIZE).form_for("update", struct.pack("<I", 1),
                                                                  bytes(STATS_SIZE))
    texts = {f.path: f.text for f in form.fields}
    assert json.loads(form_json(form.fields, {"in.a": "7", "arr[1]": "5"}, texts)) == {
        "in": {"a": "7"}, "arr": ["0", "5", "0"]}
    error = form.check("in.flags", "300")
    assert error == "value.in.flags: 300 out of range for an unsigned 8-bit field (0..255)"
    assert form.check("c", "BLUE") is None
    assert form.check("in.tag", "x" * 8).startswith("value.in.tag: string of 8 bytes")


def test_update_plan_keeps_untouched_fields_and_lists_changes() -> None:
    t = build_types()
    tm = typed(t.stats, Btf.parse(t.blob), STATS_SIZE)
    before = struct.pack("<Q", 41) + bytes(STATS_SIZE - 8)
    plan = tm.update_plan(struct.pack("<I", 1), before, '{"c": "GREEN"}')
    assert [(c.path, c.before, c.after) for c in plan.changes] == [("value.c", "RED", "GREEN")]
    assert plan.after_json["count"] == 41


def test_percpu_form_shows_each_cpu_and_plans_one_slot() -> None:
    t = build_types()
    tm = typed(t.u64, Btf.parse(t.blob), 8, type_name="percpu_array")
    seen = struct.pack("<QQ", 100, 101)
    form = tm.form_for("update", struct.pack("<I", 0), seen, cpu=1)
    assert form.percpu and form.cpu_texts == (("100",), ("101",)) and form.fields[0].text == "101"
    plan = tm.update_plan(struct.pack("<I", 0), seen, "5", cpu=1)
    assert plan.after == struct.pack("<QQ", 100, 5)
    assert [(c.path, c.before, c.after) for c in plan.changes] == [("cpu1", 101, 5)]
