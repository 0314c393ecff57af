"""Doctor rules, memory grouping and count texts on synthesized facts (pure: no root, no kernel)."""

from __future__ import annotations

from dataclasses import replace

from mapexplorer import doctor
from mapexplorer.kernel.health import EntryCount
from mapexplorer.kernel.inventory import MapRecord, ProgRef
from mapexplorer.kernel.maps import MapInfo
from mapexplorer.kernel.owners import Owner
from mapexplorer.memory import Member, group_maps

BASE = MapInfo(id=1, type=1, type_name="hash", name="m", key_size=4, value_size=8, max_entries=100, flags=0,
               btf_id=0, btf_key_type_id=0, btf_value_type_id=0, btf_vmlinux_value_type_id=0, map_extra=0,
               ifindex=0, memlock=1000, frozen=False)
PROG = (ProgRef(9, "p", "xdp"),)


def rec(map_id: int, **kw: object) -> MapRecord:
    info_kw = {k: kw.pop(k) for k in list(kw) if k in MapInfo.__slots__}
    kw.setdefault("progs", PROG)
    return MapRecord(info=replace(BASE, id=map_id, **info_kw), **kw)


def kinds(facts: doctor.Facts) -> list[tuple[str, str, tuple[int, ...]]]:
    return [(f.severity, f.kind, f.map_ids) for f in doctor.diagnose(facts)]


def test_fill_rules_per_type():
    records = (
        rec(1, name="a"), rec(2, name="b"), rec(3, name="c", type_name="lru_hash"),
        rec(4, name="d", type_name="array"), rec(5, name="e", type_name="ringbuf"), rec(6, name="f"),
    )
    counts = {
        1: EntryCount(100, "iterator", 1.0),
        2: EntryCount(90, "iterator", 0.9),
        3: EntryCount(100, "iterator", 1.0),
        4: EntryCount(100, "max_entries", 1.0),  # arrays are always "full": never a finding
        5: EntryCount(None, "backlog", 0.6, backlog=600),
        6: EntryCount(89, "iterator", 0.89),
    }
    got = kinds(doctor.Facts(records, counts))
    assert got == [
        ("error", "full", (1,)),
        ("warning", "nearly-full", (2,)),
        ("warning", "lru-evicting", (3,)),
        ("warning", "ringbuf-backlog", (5,)),
    ]
    assert doctor.exit_status(doctor.diagnose(doctor.Facts(records, counts))) == 4


def test_duplicates_orphans_and_inner_maps():
    records = (
        rec(1, name="twin", pinned=("/sys/fs/bpf/old",), progs=()),
        rec(2, name="twin", owners=(Owner(7, "agent"),)),
        rec(3, name="lonely", progs=()),
        rec(4, name="inner", progs=()),  # held by a map-of-maps: not an orphan
        rec(5, name="outer", type_name="array_of_maps"),
    )
    facts = doctor.Facts(records, {}, inner={5: [4]})
    got = doctor.diagnose(facts)
    assert [(f.kind, f.map_ids) for f in got] == [
        ("orphan-pin", (1,)), ("duplicate-name", (1, 2)), ("unheld", (3,)),
    ]
    dup = got[1].message
    assert "id 1: used by no program; pinned at /sys/fs/bpf/old" in dup
    assert "id 2: used by prog 9 p; held by agent[7]" in dup
    assert "the pinned one no program uses (1) is likely stale" in dup


def test_perf_and_percpu_rules():
    records = (rec(1, name="a", type_name="perf_event_array"),
               rec(2, name="b", type_name="perf_event_array", progs=(), owners=(Owner(7, "x"),)),
               rec(3, name="c", type_name="percpu_array"))
    facts = doctor.Facts(records, {}, perf_slots={1: {0: True, 1: False}, 2: {0: False, 1: False}},
                         percpu_idle={3: ((0,), (1,))})
    assert kinds(facts) == [("warning", "perf-rings-missing", (1,)), ("warning", "percpu-idle-cpus", (3,))]


def test_percpu_activity_per_cpu():
    def value(*per_cpu: int) -> bytes:
        return b"".join(v.to_bytes(8, "little") for v in per_cpu)  # value_size 4: 8-byte slots

    before = value(1, 0, 5) + value(0, 0, 5)
    after = value(2, 0, 5) + value(0, 0, 5)
    assert doctor.percpu_activity(4, 3, before, after, [0, 1, 2]) == ((0,), (1,))
    assert doctor.percpu_activity(4, 3, before, before, [0, 1, 2]) == ((), (1,))
    assert doctor.percpu_activity(4, 3, before, after, [0, 2]) == ((0,), ())  # cpu 1 offline


def test_group_maps_counts_inner_maps_with_their_outer_map():
    members = [
        Member(1, "outer", 100, owners=("agent[7]",), pinned=("/sys/fs/bpf/tc/outer",), entries=1),
        Member(2, "inner", 50, entries=10),
        Member(3, "other", 10, owners=("agent[7]", "tool[8]"), entries=None),
    ]
    by_owner = {g.key: g for g in group_maps(members, "owner", inner={1: [2]})}
    assert by_owner["agent[7]"].map_ids == (1, 2, 3)
    assert (by_owner["agent[7]"].memlock, by_owner["agent[7]"].entries) == (160, 11)
    assert by_owner["tool[8]"].map_ids == (3,)
    assert by_owner["(no process)"].map_ids == (2,)
    dirs = [g.key for g in group_maps(members, "pin-dir", inner={1: [2]})]
    assert dirs == ["/sys/fs/bpf/tc", "(not pinned)"]


def test_entry_count_texts():
    assert EntryCount(5, "read", 0.05, approx=True).entries_text() == "~5"
    assert EntryCount(5, "read", 0.05, approx=True).fill_text() == "~5.0%"
    assert EntryCount(None, "read", pending=True).entries_text() == "counting"
    assert EntryCount(None, "none").fill_text() == "-"
    assert EntryCount(None, "backlog", 0.5, backlog=8).to_json() == {
        "entries": None, "fill": 0.5, "count_method": "backlog", "count_approx": False, "backlog": 8}


def test_throttled_runs_within_its_budget():
    from mapexplorer.kernel.budget import Throttled

    now = [0.0]
    calls = []
    t = Throttled(lambda: calls.append(now[0]) or len(calls), min_interval=5.0, cpu_share=0.01,
                  clock=lambda: now[0])
    assert t.get() == 1
    now[0] = 4.9
    assert t.get() == 1  # not due: the last result
    now[0] = 5.0
    assert t.get() == 2
    t.invalidate()
    assert t.get() == 3
    assert calls == [0.0, 5.0, 5.0]
