"""Snapshots of write mode's dialogs over the recorded demo_proc_stats map: the edit form (one input per BTF
field with its C type, a changed field and an invalid one flagged as typed) and the confirmation (before /
after with the changed field highlighted, and a field the program changed since the form opened).

The form and the plan are built by the same code the live source uses (:class:`mapexplorer.edit.TypedMap`),
from the recorded bytes and a BTF blob describing ``struct proc_stats`` as the demo declares it."""

from __future__ import annotations

import struct

from textual.pilot import Pilot
from textual.widgets import Input

from mapexplorer.app import make_app
from mapexplorer.btf import Btf
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.codec import MapCodec
from mapexplorer.edit import TypedMap
from mapexplorer.kernel.maps import MapInfo
from mapexplorer.screens.write_screens import ConfirmWriteScreen, EditFormScreen
from tests.ui.helpers import fixture_source, press, settle

SIZE = (120, 36)
KEY = struct.pack("<I", 18218)
VALUE = bytes.fromhex(
    "626173680000000000000000000000002a470000000000002c000000000000000000000000000000000000000000000000"
    "000000000000005e9faa51cb0100004563cb53cb010000"
)


def proc_stats() -> TypedMap:
    """demo_proc_stats (id 2492 in the recording) with its BTF: u32 -> struct proc_stats."""
    b = BtfBuilder()
    u32 = b.typedef("u32", b.int("__u32", 4))
    u64 = b.typedef("u64", b.int("__u64", 8))
    char = b.int("char", 1, char=True)
    comm = b.array(char, 16, u32)
    names = ["tgid", "threads_seen", "syscalls", "reads", "writes", "opens", "first_seen_ns", "last_seen_ns"]
    members = [("comm", comm, 0), ("tgid", u32, 128), ("threads_seen", u32, 160)]
    members += [(n, u64, 192 + 64 * i) for i, n in enumerate(names[2:])]
    value = b.struct("proc_stats", 72, members)
    btf = Btf.parse(b.blob())
    info = MapInfo(id=2492, type=1, type_name="hash", name="demo_proc_stats", key_size=4, value_size=72,
                   max_entries=1024, flags=0, btf_id=7, btf_key_type_id=u32, btf_value_type_id=value,
                   btf_vmlinux_value_type_id=0, map_extra=0, ifindex=0, memlock=0, frozen=False)
    return TypedMap(info, MapCodec(info, btf, u32, btf, value), 4)


def app_behind():  # type: ignore[no-untyped-def]
    return make_app(fixture_source(4), refresh=0, open_map="demo_proc_stats", write=True)


def test_edit_form(snap_compare) -> None:
    form = proc_stats().form_for("update", KEY, VALUE)

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.push_screen(EditFormScreen(form))
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#field-3", Input).value = "100"  # syscalls
        bad = screen.query_one("#field-2", Input)  # threads_seen (u32)
        bad.value = "-1"
        bad.focus()
        await settle(pilot)

    assert snap_compare(app_behind(), terminal_size=SIZE, run_before=run)


def test_confirmation(snap_compare) -> None:
    typed = proc_stats()
    seen = bytearray(VALUE)
    struct.pack_into("<Q", seen, 24, 40)  # when the form opened, syscalls was 40; the program made it 44
    plan = typed.update_plan(KEY, VALUE, '{"opens": 7}', seen=bytes(seen))

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.push_screen(ConfirmWriteScreen(plan))
        await settle(pilot)

    assert snap_compare(app_behind(), terminal_size=SIZE, run_before=run)


async def test_confirmation_escape_returns_false() -> None:
    plan = proc_stats().update_plan(KEY, VALUE, '{"opens": 7}')
    results: list[bool | None] = []
    app = app_behind()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(ConfirmWriteScreen(plan), results.append)
        await press(pilot, "escape")
    assert results == [False]
