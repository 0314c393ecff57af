"""OwnerScanner on real maps held by another process: a second walk sees maps opened and closed since the
first, and reads only the fds it has not seen (counted through the module's fd reader)."""

from __future__ import annotations

import os

import pytest
from helpers import MapHolder, needs_root

from mapexplorer.kernel import maps, owners

pytestmark = [pytest.mark.kernel, needs_root]


def spec(name: str) -> dict:
    return {"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4, "name": name}


def test_second_walk_sees_new_and_closed_maps_and_rereads_only_new_fds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scanner = owners.OwnerScanner()
    with MapHolder([spec("os_first")]) as first:
        got = scanner.scan()
        assert [o.pid for o in got[first.ids[0]]] == [first.pid]
        own = maps.map_info_by_id(first.ids[0])  # read through our own fd's fdinfo
        assert scanner.fdinfo_facts[first.ids[0]] == (own.memlock, int(own.frozen))
        assert maps.map_info_by_id(first.ids[0], scanner.fdinfo_facts[first.ids[0]]) == own
        reads: list[tuple[int, str]] = []
        real = owners._fd_map
        monkeypatch.setattr(owners, "_fd_map", lambda d, pid, fd: reads.append((pid, fd)) or real(d, pid, fd))
        with MapHolder([spec("os_second"), spec("os_third")]) as second:
            got = scanner.scan()
            assert [o.pid for o in got[first.ids[0]]] == [first.pid]
            assert all([o.pid for o in got[mid]] == [second.pid] for mid in second.ids)
            assert not any(pid == first.pid for pid, _ in reads)  # unchanged process: nothing re-read
            assert {pid for pid, _ in reads} >= {second.pid}
            second_ids = second.ids
        got = scanner.scan()
        assert not any(mid in got for mid in second_ids)  # the holder exited: its maps are gone
        assert owners.map_owners()[first.ids[0]] == got[first.ids[0]]  # same answer as a full walk


def test_this_process_owns_only_what_it_keeps_between_walks() -> None:
    from mapexplorer.kernel.names import map_type_id

    scanner = owners.OwnerScanner()
    kept = maps.create_map(map_type_id("hash"), 4, 8, 4, name="os_kept")
    try:
        kept_id = maps.map_info(kept).id
        me = os.getpid()
        assert me in [o.pid for o in scanner.scan().get(kept_id, [])]  # the first walk takes what it sees
        transient = maps.create_map(map_type_id("hash"), 4, 8, 4, name="os_moment")
        transient_id = maps.map_info(transient).id
        got = scanner.scan()
        os.close(transient)  # opened for a moment, as a read would
        assert me in [o.pid for o in got.get(kept_id, [])]  # held across two walks: still an owner
        assert me not in [o.pid for o in got.get(transient_id, [])]  # new since the last walk: not
        assert me in [o.pid for o in scanner.scan().get(kept_id, [])]
    finally:
        os.close(kept)


def test_a_map_this_process_only_reads_never_lists_it_as_owner() -> None:
    """A map view keeps a read-only fd open as long as it shows: across many walks that fd never makes
    this process an owner; the holder stays the owner, and the fd reused for a map this process holds
    otherwise (created here) counts again."""
    from mapexplorer.kernel.names import map_type_id

    me = os.getpid()
    scanner = owners.OwnerScanner()
    with MapHolder([spec("os_viewed")]) as holder:
        viewed = maps.Map.open(holder.ids[0])
        try:
            assert maps.READER_FDS[viewed.fd] == holder.ids[0]
            for _ in range(3):
                got = scanner.scan()
                assert [o.pid for o in got[holder.ids[0]]] == [holder.pid]
        finally:
            viewed.close()
        assert viewed.fd == -1 and holder.ids[0] not in maps.READER_FDS.values()
    made = maps.create_map(map_type_id("hash"), 4, 8, 4, name="os_made")
    try:
        made_id = maps.map_info(made).id
        scanner.scan()
        assert me in [o.pid for o in scanner.scan().get(made_id, [])]  # created and held here: an owner
    finally:
        os.close(made)


MIXED_HOLDER = r"""
import json, os, sys
from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id
fds = [maps.create_map(map_type_id("hash"), 4, 8, 4, name=f"os_mix{i}") for i in range(30)]
keep = [os.pipe(), os.open("/dev/null", os.O_RDONLY)]  # fds that are not maps, after 30 that are
fds += [maps.create_map(map_type_id("array"), 4, 8, 2, name=f"os_mixb{i}") for i in range(30)]
print(json.dumps([maps.map_info(fd).id for fd in fds]), flush=True)
sys.stdin.read()
"""


def test_a_process_holding_many_maps_reads_the_same_with_and_without_links_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After DIRECT_AFTER maps in a row the fdinfo is read without the readlink: the answer (owners and
    the fdinfo facts) is what reading every link first gives, also across fds that are not maps."""
    import json
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", MIXED_HOLDER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        ids = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        modes: list[bool] = []
        real = owners._fd_map

        def watched(d: owners._ProcFds, pid: int, fd: str) -> tuple[int, int, int] | None:
            if pid == proc.pid:
                modes.append(d.direct)
            return real(d, pid, fd)

        monkeypatch.setattr(owners, "_fd_map", watched)
        scanner = owners.OwnerScanner()
        direct = scanner.scan()
        # links first, then direct reads, back to links at the pipe, then direct again
        assert modes[:owners.DIRECT_AFTER] == [False] * owners.DIRECT_AFTER
        assert True in modes and modes.count(False) > owners.DIRECT_AFTER
        monkeypatch.setattr(owners, "_fd_map", real)
        direct_facts = {m: scanner.fdinfo_facts[m] for m in ids}
        monkeypatch.setattr(owners, "DIRECT_AFTER", 1 << 30)  # links first for every fd
        scanner = owners.OwnerScanner()
        linked = scanner.scan()
        assert {m: [o.pid for o in direct[m]] for m in ids} == {m: [proc.pid] for m in ids}
        assert {m: direct[m] for m in ids} == {m: linked[m] for m in ids}
        assert direct_facts == {m: scanner.fdinfo_facts[m] for m in ids}
        assert all(memlock > 0 for memlock, _frozen in direct_facts.values())
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=30)
