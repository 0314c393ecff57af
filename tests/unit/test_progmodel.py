"""The programs screen's pure values: rates between two snapshots and writers/readers of a map."""

from __future__ import annotations

from mapexplorer.progmodel import MapUsers, ProgListSnapshot, ProgRow, map_users, rates


def snap(t: float, *counters: tuple[int, int, int], ncpus: int = 2) -> ProgListSnapshot:
    rows = tuple(ProgRow(i, f"p{i}", "xdp", run_cnt=c, run_time_ns=ns) for i, c, ns in counters)
    return ProgListSnapshot(rows, t, True, "", ncpus)


def test_rates_per_second_average_and_share_of_all_cpus():
    a = snap(10.0, (1, 100, 10_000), (2, 5, 500), (3, 7, 70))
    b = snap(12.0, (1, 300, 50_000), (2, 5, 500), (4, 1, 1))
    r = rates(a, b)
    assert set(r) == {1, 2}  # 3 is gone, 4 is new: no rate yet
    assert r[1].runs_per_s == 100.0
    assert r[1].avg_ns == 200.0
    assert r[1].cpu_pct == 100 * 40_000 / (2.0 * 1e9 * 2)
    assert (r[2].runs_per_s, r[2].avg_ns, r[2].cpu_pct) == (0.0, None, 0.0)


def test_rates_skip_counters_that_went_back_and_need_two_snapshots():
    a = snap(1.0, (1, 100, 1000))
    b = snap(2.0, (1, 10, 100))  # a new program reusing nothing: counters smaller
    assert rates(a, b) == {}
    assert rates(None, b) == {}
    assert rates(b, b) == {}  # no time passed


def test_map_users_writers_readers_and_unknown():
    users = map_users(
        [
            ("writer", "w", ""),
            ("both", "rw", ""),
            ("maybe", "rw?", ""),
            ("reader", "r", ""),
            ("hidden", "?", "constant blinding is on"),
        ]
    )
    assert users.writers == ("writer", "both", "maybe (probably)")
    assert users.readers == ("both", "maybe", "reader")
    assert users.note == "reads/writes unknown for hidden (constant blinding is on)"
    assert users.text() == "written by writer, both, maybe (probably) · read by both, maybe, reader"
    assert MapUsers().text() == ""
