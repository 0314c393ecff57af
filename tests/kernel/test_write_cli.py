"""The write commands on real maps (``wr_*``, created and closed here): update / delete / push / pop / pin /
freeze and the reads lookup / getnext / peek. Every write is checked by reading the map back with the kernel
layer, and every refused write by checking the map is as it was."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from helpers import needs_root, run_cli
from writemaps import STATS_SIZE, WriteMaps

from mapexplorer.kernel import maps
from mapexplorer.kernel import syscall as sc

pytestmark = [needs_root, pytest.mark.kernel]

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")


@pytest.fixture
def wm() -> Iterator[WriteMaps]:
    with ExitStack() as stack:
        yield WriteMaps(stack)


def cli(*args: object, check: bool = True):  # type: ignore[no-untyped-def]
    return run_cli(*map(str, args), check=check)


def snapshot(m: maps.Map) -> dict[bytes, bytes]:
    return dict(m.entries())


def stats_value(**fields: int) -> bytes:
    """A struct stats with count / in.a set (the rest zero)."""
    buf = bytearray(STATS_SIZE)
    U64.pack_into(buf, 0, fields.get("count", 0))
    struct.pack_into("<H", buf, 8, fields.get("a", 0))
    buf[10] = fields.get("flags", 0)
    return bytes(buf)


def test_hash_nested_struct_edit_one_field_keeps_the_others(wm: WriteMaps) -> None:
    m = wm.stats_hash()
    m.update(U32.pack(1), stats_value(count=41, a=3, flags=9))
    out = cli("update", m.info.id, 1, '{"in": {"a": 7}}').stdout
    assert "changed: value.in.a 3 -> 7" in out
    got = json.loads(cli("lookup", m.info.id, 1, "--json").stdout)
    assert got["value"]["count"] == 41 and got["value"]["in"] == {"a": 7, "flags": 9, "tag": ""}
    raw = m.lookup(U32.pack(1))
    assert raw == stats_value(count=41, a=7, flags=9)


def test_enum_string_and_float_fields_by_name(wm: WriteMaps) -> None:
    m = wm.stats_hash()
    cli("update", m.info.id, 5, '{"c": "GREEN", "in": {"tag": "abc"}, "f": 1.5, "on": true, "neg": -3}')
    v = json.loads(cli("lookup", m.info.id, 5, "--json").stdout)["value"]
    assert (v["c"], v["in"]["tag"], v["f"], v["on"], v["neg"]) == ("GREEN", "abc", 1.5, True, -3)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ('{"in": {"flags": 300}}', "value.in.flags"),
        ('{"in": {"tag": "longer than eight"}}', "value.in.tag"),
        ('{"c": "PURPLE"}', "value.c"),
        ('{"nope": 1}', "value.nope"),
        ('{"arr": [1, 2, 3, 4]}', "value.arr"),
        ('{"neg": -3000000000}', "value.neg"),
    ],
)
def test_a_value_that_does_not_fit_is_one_line_naming_the_field(
    wm: WriteMaps, value: str, field: str
) -> None:
    m = wm.stats_hash()
    m.update(U32.pack(1), stats_value(count=1))
    before = snapshot(m)
    proc = cli("update", m.info.id, 1, value, check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"mapexplorer: {field}:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(m) == before


def test_array_update_and_delete_refused(wm: WriteMaps) -> None:
    m = wm.u64_map("array", "wr_array", 4)
    cli("update", m.info.id, 2, "0x1234")
    assert m.lookup(U32.pack(2)) == U64.pack(0x1234)
    proc = cli("delete", m.info.id, 2, check=False)
    assert proc.returncode == 1 and "cannot be deleted" in proc.stderr
    assert m.lookup(U32.pack(2)) == U64.pack(0x1234)
    proc = cli("update", m.info.id, 9, 1, check=False)  # beyond max_entries
    assert proc.returncode == 1 and "E2BIG" in proc.stderr


def test_percpu_array_one_cpu_changes_only_that_cpu(wm: WriteMaps) -> None:
    ncpu = maps.possible_cpu_count()
    if ncpu < 2:
        pytest.skip("needs two possible CPUs")
    m = wm.u64_map("percpu_array", "wr_pcpu", 4)
    m.update(U32.pack(0), b"".join(U64.pack(100 + c) for c in range(ncpu)))
    out = cli("update", m.info.id, 0, 5, "--cpu", 1).stdout
    assert "changed: cpu1 101 -> 5" in out
    assert "cpu0 rewritten" in out or "BPF_F_CPU" in out
    raw = m.lookup(U32.pack(0))
    per_cpu = [U64.unpack_from(raw, c * 8)[0] for c in range(ncpu)]
    assert per_cpu == [100, 5] + [100 + c for c in range(2, ncpu)]
    cli("update", m.info.id, 0, 9, "--all-cpus")
    raw = m.lookup(U32.pack(0))
    assert {U64.unpack_from(raw, c * 8)[0] for c in range(ncpu)} == {9}
    proc = cli("update", m.info.id, 0, 9, check=False)
    assert proc.returncode == 1 and "--cpu N" in proc.stderr
    proc = cli("update", m.info.id, 0, 9, "--cpu", ncpu, check=False)
    assert proc.returncode == 1 and "does not exist" in proc.stderr


def test_lru_hash_update_noexist_exist_delete(wm: WriteMaps) -> None:
    m = wm.u64_map("lru_hash", "wr_lru", 8)
    cli("update", m.info.id, 3, 30, "--noexist")
    proc = cli("update", m.info.id, 3, 31, "--noexist", check=False)
    assert proc.returncode == 1 and "EEXIST" in proc.stderr
    assert m.lookup(U32.pack(3)) == U64.pack(30)
    proc = cli("update", m.info.id, 4, 40, "--exist", check=False)
    assert proc.returncode == 1 and "ENOENT" in proc.stderr
    assert snapshot(m) == {U32.pack(3): U64.pack(30)}
    out = cli("delete", m.info.id, 3).stdout
    assert "removed: 30" in out
    assert snapshot(m) == {}


def test_lpm_trie_by_cidr(wm: WriteMaps) -> None:
    m = wm.make("lpm_trie", "wr_lpm", 8, 4, 16, key_type=wm.t.lpm_key, value_type=wm.t.u32,
                flags=sc.BPF_F_NO_PREALLOC)
    cli("update", m.info.id, "10.1.0.0/16", 7)
    assert m.lookup(U32.pack(16) + bytes([10, 1, 0, 0])) == U32.pack(7)
    got = json.loads(cli("lookup", m.info.id, "10.1.0.0/16", "--json").stdout)
    assert got == {"key": {"prefixlen": 16, "data": [10, 1, 0, 0]}, "value": 7}
    proc = cli("update", m.info.id, "10.1.0.0/40", 7, check=False)
    assert proc.returncode == 1 and "key.prefixlen" in proc.stderr
    proc = cli("update", m.info.id, "::1/128", 7, check=False)
    assert proc.returncode == 1 and "IPv4" in proc.stderr
    cli("delete", m.info.id, "10.1.0.0/16")
    assert snapshot(m) == {}


def test_queue_push_pop_in_fifo_order_and_stack_lifo(wm: WriteMaps) -> None:
    q = wm.make("queue", "wr_queue", 0, 4, 4)
    s = wm.make("stack", "wr_stack", 0, 4, 4)
    for v in (1, 2, 3):
        cli("push", q.info.id, v)
        cli("enqueue", s.info.id, v)
    assert json.loads(cli("peek", q.info.id, "--json").stdout) == {"value": ["0x01", "0x00", "0x00", "0x00"]}
    popped_q = [json.loads(cli("pop", q.info.id, "--json").stdout)["removed"] for _ in range(3)]
    popped_s = [json.loads(cli("dequeue", s.info.id, "--json").stdout)["removed"] for _ in range(3)]
    as_int = [int.from_bytes(bytes(int(b, 16) for b in v), "little") for v in popped_q]
    assert as_int == [1, 2, 3]
    assert [int.from_bytes(bytes(int(b, 16) for b in v), "little") for v in popped_s] == [3, 2, 1]
    proc = cli("pop", q.info.id, check=False)
    assert proc.returncode == 1 and "empty" in proc.stderr
    assert cli("peek", q.info.id).stdout.strip() == "(empty)"


def test_full_map_is_e2big_and_unchanged(wm: WriteMaps) -> None:
    m = wm.u64_map("hash", "wr_full", 2)
    for k in (1, 2):
        cli("update", m.info.id, k, k)
    before = snapshot(m)
    proc = cli("update", m.info.id, 3, 3, check=False)
    assert proc.returncode == 1 and "map is full (E2BIG)" in proc.stderr
    assert snapshot(m) == before
    q = wm.make("queue", "wr_fullq", 0, 4, 1)
    cli("push", q.info.id, 1)
    proc = cli("push", q.info.id, 2, check=False)
    assert proc.returncode == 1 and "E2BIG" in proc.stderr
    assert q.peek() == U32.pack(1)


def test_frozen_map_refuses_and_stays(wm: WriteMaps) -> None:
    m = wm.u64_map("array", "wr_frozen", 2)
    m.update(U32.pack(0), U64.pack(5))
    out = cli("freeze", m.info.id, "--yes").stdout
    assert "froze map" in out
    assert maps.map_info(m.fd).frozen
    proc = cli("update", m.info.id, 0, 6, check=False)
    assert proc.returncode == 1 and "map is frozen (EPERM)" in proc.stderr, proc.stderr
    assert m.lookup(U32.pack(0)) == U64.pack(5)
    proc = cli("freeze", m.info.id, "--yes", check=False)
    assert proc.returncode == 1 and "already frozen" in proc.stderr


def test_dry_run_writes_nothing(wm: WriteMaps) -> None:
    m = wm.stats_hash()
    m.update(U32.pack(1), stats_value(count=1))
    before = snapshot(m)
    out = cli("update", m.info.id, 1, '{"count": 2}', "--dry-run").stdout
    assert "dry run" in out and "value.count 1 -> 2" in out
    out = cli("delete", m.info.id, 1, "--dry-run").stdout
    assert "would remove" in out
    assert snapshot(m) == before


def test_hex_keys_and_values_like_bpftool(wm: WriteMaps) -> None:
    m = wm.u64_map("hash", "wr_hex", 4)
    cli("update", m.info.id, "hex", "02", "00", "00", "00", "hex", "ff", *["00"] * 7)
    assert m.lookup(U32.pack(2)) == U64.pack(255)
    assert json.loads(cli("lookup", m.info.id, "hex 02 00 00 00", "--json").stdout)["value"] == 255
    proc = cli("update", m.info.id, "hex", "02", "00", 5000, check=False)
    assert proc.returncode == 1 and "key: 2 bytes given, 4 needed" in proc.stderr


def test_getnext_walks_keys(wm: WriteMaps) -> None:
    m = wm.u64_map("array", "wr_gnk", 2)
    assert json.loads(cli("getnext", m.info.id, "--json").stdout)["next_key"] == 0
    assert json.loads(cli("getnext", m.info.id, 0, "--json").stdout)["next_key"] == 1
    proc = cli("getnext", m.info.id, 1, check=False)
    assert proc.returncode == 1 and "no key after 1" in proc.stderr


def test_spin_lock_values_are_written_with_f_lock(wm: WriteMaps) -> None:
    from mapexplorer.edit import MapEditor

    m = wm.make("hash", "wr_locked", 4, 8, 4, key_type=wm.t.u32, value_type=wm.t.locked)
    with MapEditor(m.info.id, write=True) as ed:
        assert ed.lock == sc.BPF_F_LOCK
        plan = ed.plan_update(ed.key("1"), '{"v": 77}')
        assert plan.flags & sc.BPF_F_LOCK
        ed.apply(plan)
    assert m.lookup(U32.pack(1))[4:] == U32.pack(77)


def test_pin_with_yes_and_pinned_path_argument(wm: WriteMaps) -> None:
    if not os.path.ismount("/sys/fs/bpf"):
        pytest.skip("bpffs not mounted")
    m = wm.u64_map("hash", "wr_pin", 4)
    path = f"/sys/fs/bpf/wr_pin_{os.getpid()}"
    try:
        out = cli("pin", m.info.id, path, "--yes").stdout
        assert f"pinned map {m.info.id} at {path}" in out
        cli("update", "pinned", path, 1, 11)
        assert m.lookup(U32.pack(1)) == U64.pack(11)
        proc = cli("pin", m.info.id, path, "--yes", check=False)
        assert proc.returncode == 1 and "already exists" in proc.stderr
        proc = cli("pin", m.info.id, "/tmp/wr_not_bpffs", "--yes", check=False)
        assert proc.returncode == 1 and "bpffs" in proc.stderr
    finally:
        if os.path.exists(path):
            os.unlink(path)


def _on_a_terminal(args: list[str], answer: bytes) -> tuple[int, str]:
    """Run mapexplorer with stdin on a pseudo-terminal, answer its question, return (exit code, output)."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "mapexplorer", *args], stdin=follower,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        os.write(leader, answer)
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    return proc.returncode, out.decode()


def test_freeze_and_pin_ask_on_a_terminal(wm: WriteMaps) -> None:
    m = wm.u64_map("array", "wr_ask", 2)
    code, out = _on_a_terminal(["freeze", str(m.info.id)], b"n\n")
    assert code == 1 and "not frozen" in out and "Freeze map" in out
    assert not maps.map_info(m.fd).frozen
    code, out = _on_a_terminal(["pin", str(m.info.id), f"/sys/fs/bpf/wr_ask_{os.getpid()}"], b"\n")
    assert code == 1 and "not pinned" in out
    assert not os.path.exists(f"/sys/fs/bpf/wr_ask_{os.getpid()}")
    code, out = _on_a_terminal(["freeze", str(m.info.id)], b"y\n")
    assert code == 0 and maps.map_info(m.fd).frozen
