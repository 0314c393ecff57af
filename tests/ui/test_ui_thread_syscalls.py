"""No syscall and no /proc or /sys read on the UI thread: program names (prog_array), inner map names (maps of
maps), interface names (devmap) and kernel symbols (stack_trace) are resolved by the worker that builds the
snapshot. The bpf() syscall, if_indextoname and opening /proc or /sys are wrapped by a guard that records (and
refuses) any call made from the main thread, then passes the rest to the real thing."""

from __future__ import annotations

import builtins
import os
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from mapexplorer.app import make_app
from mapexplorer.decoders import KERNEL_SPACE
from mapexplorer.kernel import maps, progs
from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.names import map_type_id
from mapexplorer.kernel_source import KernelSource
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.widgets.entry_table import EntryTable
from tests.ui.helpers import settle

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()"),
]

SOCKET_FILTER = 1
RETURN_0 = progs.insn(0xB7, 0, 0, 0, 0) + progs.insn(0x95)  # r0 = 0; exit


class MainThreadGuard:
    """Wraps the real calls; a call from the main (UI) thread is recorded and refused."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def _check(self, what: str) -> None:
        if threading.current_thread() is threading.main_thread():
            self.violations.append(what)
            raise AssertionError(f"{what} on the UI thread")

    def install(self, mp: pytest.MonkeyPatch) -> None:
        real_syscall, real_ifname, real_open = sc._syscall, socket.if_indextoname, builtins.open

        def guarded_syscall(*args: object) -> int:
            self._check(f"bpf() cmd {args[1]}")
            return real_syscall(*args)

        def guarded_ifname(index: int) -> str:
            self._check(f"if_indextoname({index})")
            return real_ifname(index)

        def guarded_open(file, *args, **kw):  # type: ignore[no-untyped-def]
            if isinstance(file, str) and file.startswith(("/proc/", "/sys/")):
                self._check(f"open({file})")
            return real_open(file, *args, **kw)

        mp.setattr(sc, "_syscall", guarded_syscall)
        mp.setattr(socket, "if_indextoname", guarded_ifname)
        mp.setattr(builtins, "open", guarded_open)


@pytest.fixture
def objects() -> Iterator[dict[str, int]]:
    """A program, a prog_array holding it, an array_of_maps holding an inner array, a devmap holding lo."""
    with ExitStack() as stack:
        fds: dict[str, int] = {}

        def keep(name: str, fd: int) -> int:
            stack.callback(os.close, fd)
            fds[name] = fd
            return fd

        prog = keep("prog", progs.load_prog(RETURN_0, SOCKET_FILTER, name="ar_ui_prog"))
        pa = maps.Map(keep("progs", maps.create_map(map_type_id("prog_array"), 4, 4, 4, name="ar_ui_progs")))
        pa.update(struct.pack("<I", 1), struct.pack("<I", prog))
        inner = keep("inner", maps.create_map(map_type_id("array"), 4, 8, 2, name="ar_ui_inner"))
        outer = maps.Map(
            keep(
                "outer",
                maps.create_map(
                    map_type_id("array_of_maps"), 4, 4, 2, name="ar_ui_outer", inner_map_fd=inner
                ),
            )
        )
        outer.update(struct.pack("<I", 0), struct.pack("<I", inner))
        dev = maps.Map(keep("dev", maps.create_map(map_type_id("devmap"), 4, 4, 2, name="ar_ui_dev")))
        dev.update(struct.pack("<I", 0), struct.pack("<I", socket.if_nametoindex("lo")))
        yield {name: maps.Map(fd).info.id for name, fd in fds.items() if name != "prog"}


@pytest.mark.parametrize(
    ("which", "field", "expected"),
    [("progs", "prog", "ar_ui_prog"), ("outer", "inner_map", "ar_ui_inner"), ("dev", "ifname", "lo")],
)
async def test_names_come_from_the_worker(
    objects: dict[str, int], monkeypatch: pytest.MonkeyPatch, which: str, field: str, expected: str
) -> None:
    guard = MainThreadGuard()
    source = KernelSource()  # built before the guard: the app is handed a ready source
    guard.install(monkeypatch)
    app = make_app(source, refresh=0, open_map=str(objects[which]))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapViewScreen)
        table = screen.query_one("#entries", EntryTable)
        labels = [c.label for c in table.plan.columns]
        col = next((n for n, label in enumerate(labels) if label.split(".")[-1] == field), None)
        assert col is not None, labels
        shown = [table._row(i).cells[col] for i in range(table.row_count)]
        assert expected in shown
        await pilot.press("r")  # a refresh: names come again from the worker (cache), still no UI-thread call
        await settle(pilot)
        await pilot.press("enter")  # the entry in full
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
    assert guard.violations == []


def test_stack_symbols_come_from_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack_trace snapshot carries the symbol table its worker loaded: decoding frames on the UI thread
    opens nothing (a stack_trace map cannot be filled from user space, so the frames are decoded directly)."""
    guard = MainThreadGuard()
    with ExitStack() as stack:
        fd = maps.create_map(map_type_id("stack_trace"), 4, 8 * 4, 4, name="ar_ui_stack")
        stack.callback(os.close, fd)
        map_id = maps.Map(fd).info.id
        source = KernelSource()
        guard.install(monkeypatch)
        snaps = []
        worker = threading.Thread(target=lambda: snaps.append(source.read_map(map_id)))
        worker.start()
        worker.join()
        table = source.ksyms.table()  # already loaded by the worker: no reading here
        assert table.addrs, "no kernel text symbols read from /proc/kallsyms"
        addr = table.addrs[len(table.addrs) // 2] + 4
        assert addr >= KERNEL_SPACE
        value = snaps[0].decoder.decode_value(struct.pack("<QQQQ", addr, 0, 0, 0))
        frame = table.symbolize(addr)
        assert value == {"depth": 1, "frames": [frame]}
        assert "+0x" in frame and frame.split("+")[0] in table.names
    assert guard.violations == []
