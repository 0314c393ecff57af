"""Read-only proof: every read path (list, show, dump, lookup, getnext, peek, doctor, record, watch in tap
mode, and the TUI browsing maps without --write) issues no bpf() command that changes a map.

The project's one syscall function, ``mapexplorer.kernel.syscall.bpf``, is wrapped to record each command
and then call the real syscall (results are the kernel's, nothing is mocked). The maps (``wr_ro_*``, one of
every type this kernel lets a test create without a program) are filled before counting starts.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from writemaps import WriteMaps

from mapexplorer import cli
from mapexplorer.kernel import maps
from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.names import map_type_id

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()")]

WRITE_NAMES = {
    sc.BPF_MAP_UPDATE_ELEM: "MAP_UPDATE_ELEM",
    sc.BPF_MAP_DELETE_ELEM: "MAP_DELETE_ELEM",
    sc.BPF_MAP_LOOKUP_AND_DELETE_ELEM: "MAP_LOOKUP_AND_DELETE_ELEM",
    sc.BPF_MAP_LOOKUP_AND_DELETE_BATCH: "MAP_LOOKUP_AND_DELETE_BATCH",
    sc.BPF_MAP_UPDATE_BATCH: "MAP_UPDATE_BATCH",
    sc.BPF_MAP_DELETE_BATCH: "MAP_DELETE_BATCH",
    sc.BPF_MAP_FREEZE: "MAP_FREEZE",
    sc.BPF_OBJ_PIN: "OBJ_PIN",
}
assert set(WRITE_NAMES) == sc.WRITE_COMMANDS


class BpfCounter:
    """Records every bpf() command (from any thread) while installed, then calls the real syscall."""

    def __init__(self) -> None:
        self.commands: list[int] = []
        self.lock = threading.Lock()
        self.real = sc.bpf

    def __call__(self, cmd: int, attr: object) -> int:
        with self.lock:
            self.commands.append(cmd)
        return self.real(cmd, attr)

    def writes(self) -> list[str]:
        return [WRITE_NAMES[c] for c in self.commands if c in sc.WRITE_COMMANDS]


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[BpfCounter]:
    c = BpfCounter()
    monkeypatch.setattr(sc, "bpf", c)
    yield c


def _try(make: Callable[[], maps.Map]) -> maps.Map | None:
    try:
        return make()
    except OSError:
        return None  # a type this kernel (or this test without a program) cannot create


@pytest.fixture(scope="module")
def every_map() -> Iterator[dict[str, int]]:
    """One filled map of every type a test can create here, by type name -> id."""
    u32 = struct.Struct("<I")
    with ExitStack() as stack:
        wm = WriteMaps(stack)
        ncpu = maps.possible_cpu_count()
        made: dict[str, maps.Map] = {}

        def raw(type_name: str, ks: int, vs: int, n: int, **kw: object) -> None:
            def make() -> maps.Map:
                fd = maps.create_map(map_type_id(type_name), ks, vs, n, name=f"wr_ro_{type_name}"[:15], **kw)
                m = maps.Map(fd)
                stack.callback(m.close)
                return m

            m = _try(make)
            if m is not None:
                made[type_name] = m

        made["hash"] = wm.stats_hash("wr_ro_hash")
        for t in ("array", "percpu_hash", "percpu_array", "lru_hash", "lru_percpu_hash"):
            made[t] = wm.u64_map(t, f"wr_ro_{t}"[:15], 8)
        made["lpm_trie"] = wm.make("lpm_trie", "wr_ro_lpm", 8, 4, 8, key_type=wm.t.lpm_key,
                                   value_type=wm.t.u32, flags=sc.BPF_F_NO_PREALLOC)
        raw("queue", 0, 4, 4)
        raw("stack", 0, 4, 4)
        raw("bloom_filter", 0, 4, 16, map_extra=3)
        raw("ringbuf", 0, 0, 4096)
        raw("user_ringbuf", 0, 0, 4096)
        raw("prog_array", 4, 4, 4)
        raw("perf_event_array", 4, 4, ncpu)
        raw("cgroup_array", 4, 4, 4)
        raw("stack_trace", 4, 8 * 4, 4)
        raw("devmap", 4, 4, 4)
        raw("devmap_hash", 4, 4, 4)
        raw("cpumap", 4, 4, ncpu)
        raw("sockmap", 4, 8, 4)
        raw("sockhash", 4, 8, 4)
        raw("xskmap", 4, 4, 4)
        raw("reuseport_sockarray", 4, 8, 4)
        raw("arena", 0, 0, 1, flags=sc.BPF_F_MMAPABLE)
        inner = made["array"]
        raw("array_of_maps", 4, 4, 4, inner_map_fd=inner.fd)
        raw("hash_of_maps", 4, 4, 4, inner_map_fd=inner.fd)

        # fill (before any counting starts)
        stats = bytes(range(56))
        made["hash"].update(u32.pack(1), stats)
        for t in ("array", "lru_hash"):
            made[t].update(u32.pack(1), struct.pack("<Q", 7))
        for t in ("percpu_hash", "percpu_array", "lru_percpu_hash"):
            made[t].update(u32.pack(1), b"".join(struct.pack("<Q", c + 1) for c in range(ncpu)))
        made["lpm_trie"].update(u32.pack(24) + bytes([10, 0, 0, 0]), u32.pack(3))
        for t in ("queue", "stack"):
            if t in made:
                made[t].update(None, u32.pack(5))
        if "bloom_filter" in made:
            made["bloom_filter"].update(None, u32.pack(5))
        for t in ("array_of_maps", "hash_of_maps"):
            if t in made:
                made[t].update(u32.pack(0), u32.pack(inner.fd))
        core = {"hash", "array", "percpu_hash", "percpu_array", "lru_hash", "lpm_trie", "queue", "stack",
                "ringbuf", "hash_of_maps"}
        assert core <= set(made), f"could not create {core - set(made)}"
        yield {t: m.info.id for t, m in made.items()}


def run(*argv: object) -> int:
    """``mapexplorer ARGV`` in this process (so the wrapped syscall sees it); output to /dev/null (the CLI
    refuses a stdout without a file descriptor)."""
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), \
            contextlib.redirect_stderr(io.StringIO()):
        return cli.main([str(a) for a in argv])


def test_cli_read_paths_issue_no_write(
    every_map: dict[str, int], counter: BpfCounter, tmp_path: Path
) -> None:
    codes: dict[str, int] = {}
    assert run("list") == 0
    assert run("list", "--json") == 0
    for t, map_id in every_map.items():
        codes[f"show {t}"] = run("show", map_id, "--json")
        codes[f"dump {t}"] = run("dump", map_id)
        codes[f"dump --json {t}"] = run("dump", map_id, "--json")
        codes[f"dump --raw {t}"] = run("dump", map_id, "--raw", "--json")
    assert all(codes[f"show {t}"] == 0 for t in every_map)
    assert codes["dump --json hash"] == codes["dump --json percpu_array"] == 0
    assert run("lookup", every_map["hash"], 1) == 0
    assert run("lookup", every_map["percpu_hash"], 1, "--json") == 0
    assert run("lookup", every_map["lpm_trie"], "10.0.0.0/24") == 0
    assert run("getnext", every_map["hash"]) == 0
    assert run("peek", every_map["queue"]) == 0
    assert run("peek", every_map["stack"], "--json") == 0
    for op in ("update", "delete", "pop"):  # dry runs are reads too
        args = {"update": [every_map["hash"], 1, '{"count": 1}'], "delete": [every_map["hash"], 1],
                "pop": [every_map["queue"]]}[op]
        assert run(op, *args, "--dry-run") == 0
    assert run("update", every_map["percpu_array"], 1, 9, "--cpu", 0, "--dry-run") == 0
    assert run("watch", every_map["ringbuf"], "--json", "--timeout", "0.3") == 0
    run("doctor", "--json")  # exit 0/3/4 by findings: only its syscalls matter here
    assert run("record", every_map["hash"], every_map["percpu_array"], "-o", tmp_path / "rec.jsonl",
               "--frames", "2", "--interval", "0.1") == 0
    assert len(counter.commands) > 100
    assert sc.BPF_MAP_LOOKUP_BATCH in counter.commands and sc.BPF_MAP_LOOKUP_ELEM in counter.commands
    assert counter.writes() == []


async def test_tui_browsing_without_write_issues_no_write(
    every_map: dict[str, int], counter: BpfCounter
) -> None:
    from mapexplorer.app import make_app
    from mapexplorer.screens.map_view import MapViewScreen
    from tests.ui.helpers import press, settle

    app = make_app(refresh=0)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press(pilot, "down", "down", "r")
        for t, map_id in every_map.items():
            app.push_screen(MapViewScreen(map_id))
            await settle(pilot)
            keys = ["down", "r"]
            if t in ("percpu_hash", "percpu_array", "lru_percpu_hash"):
                keys += ["enter", "escape"]
            for k in ("e", "a", "d"):  # write keys without --write: a hint, never a write
                keys.append(k)
            await press(pilot, *keys)
            assert isinstance(app.screen, MapViewScreen), t
            app.pop_screen()
            await settle(pilot)
    assert sc.BPF_MAP_LOOKUP_BATCH in counter.commands
    assert counter.writes() == []
