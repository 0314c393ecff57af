"""Write mode in the TUI on real maps (``wr_*``, created and removed here): e / a / d open a form or a
confirmation, Enter writes, Escape cancels; every outcome is checked by reading the map back with the kernel
layer. Without --write the same keys only say how to enable writing."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from textual.widgets import Input

from mapexplorer.app import make_app
from mapexplorer.kernel import maps
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.screens.write_screens import ConfirmWriteScreen, EditFormScreen
from tests.ui.helpers import press, settle
from tests.writemaps import STATS_SIZE, WriteMaps

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()")]

U32 = struct.Struct("<I")
U64 = struct.Struct("<Q")
SIZE = (130, 45)


@pytest.fixture
def wm() -> Iterator[WriteMaps]:
    with ExitStack() as stack:
        yield WriteMaps(stack)


def stats(count: int, a: int = 0, flags: int = 0) -> bytes:
    buf = bytearray(STATS_SIZE)
    U64.pack_into(buf, 0, count)
    struct.pack_into("<H", buf, 8, a)
    buf[10] = flags
    return bytes(buf)


def set_field(form: EditFormScreen, path: str, text: str) -> Input:
    i = next(i for i, f in enumerate(form.form.fields) if f.path == path)
    box = form.query_one(f"#field-{i}", Input)
    box.value = text
    box.focus()
    return box


def messages(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(n.message) for n in app._notifications]


async def test_edit_one_nested_field_confirm_and_read_back(wm: WriteMaps) -> None:
    m = wm.stats_hash("wr_ui_hash")
    m.update(U32.pack(1), stats(10, a=3, flags=9))
    app = make_app(refresh=0, open_map=str(m.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "WRITE MODE" in app.title
        await press(pilot, "e")
        form = app.screen
        assert isinstance(form, EditFormScreen)
        assert [f.c_type for f in form.form.fields][:3] == ["u64", "u16", "u8"]
        set_field(form, "in.a", "7")
        await settle(pilot)
        await press(pilot, "enter")
        confirm = app.screen
        assert isinstance(confirm, ConfirmWriteScreen)
        assert [(c.path, c.before, c.after) for c in confirm.plan.changes] == [("value.in.a", 3, 7)]
        assert m.lookup(U32.pack(1)) == stats(10, a=3, flags=9)  # nothing written before Enter
        await press(pilot, "enter")
        assert isinstance(app.screen, MapViewScreen)
        assert m.lookup(U32.pack(1)) == stats(10, a=7, flags=9)
        assert any("updated map" in t for t in messages(app))
        snap = app.screen.snapshot
        assert snap is not None and snap.value(0)["in"]["a"] == 7  # the table was read again


async def test_escape_cancels_at_the_form_and_at_the_confirmation(wm: WriteMaps) -> None:
    m = wm.stats_hash("wr_ui_esc")
    m.update(U32.pack(1), stats(10))
    app = make_app(refresh=0, open_map=str(m.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "e")
        set_field(app.screen, "count", "99")
        await press(pilot, "escape")
        assert isinstance(app.screen, MapViewScreen)
        await press(pilot, "e")
        set_field(app.screen, "count", "99")
        await press(pilot, "enter")
        assert isinstance(app.screen, ConfirmWriteScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, MapViewScreen)
        await press(pilot, "d")
        assert isinstance(app.screen, ConfirmWriteScreen)
        await press(pilot, "escape")
    assert dict(m.entries()) == {U32.pack(1): stats(10)}


async def test_a_bad_value_is_flagged_as_typed_and_never_written(wm: WriteMaps) -> None:
    m = wm.stats_hash("wr_ui_bad")
    m.update(U32.pack(1), stats(10))
    app = make_app(refresh=0, open_map=str(m.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "e")
        form = app.screen
        box = set_field(form, "in.flags", "300")
        await settle(pilot)
        assert box.has_class("-invalid")
        assert "value.in.flags: 300 out of range" in form.errors["in.flags"]
        await press(pilot, "enter")
        assert isinstance(app.screen, EditFormScreen)  # refused: fix it first
        set_field(form, "in.flags", "30")
        await settle(pilot)
        assert not form.errors
        await press(pilot, "escape")
    assert m.lookup(U32.pack(1)) == stats(10)


async def test_percpu_edit_of_one_cpu_column(wm: WriteMaps) -> None:
    ncpu = maps.possible_cpu_count()
    if ncpu < 2:
        pytest.skip("needs two possible CPUs")
    m = wm.u64_map("percpu_array", "wr_ui_pcpu", 2)
    m.update(U32.pack(0), b"".join(U64.pack(100 + c) for c in range(ncpu)))
    app = make_app(refresh=0, open_map=str(m.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#entries")
        labels = [c.label for c in table.plan.columns]
        table.cursor_col = labels.index("cpu1")
        await press(pilot, "e")
        form = app.screen
        assert isinstance(form, EditFormScreen) and form.cpu == 1
        set_field(form, "", "5")
        await press(pilot, "enter")
        confirm = app.screen
        assert isinstance(confirm, ConfirmWriteScreen)
        assert [(c.path, c.before, c.after) for c in confirm.plan.changes] == [("cpu1", 101, 5)]
        assert "other CPUs' values are read again" in confirm.plan.note
        await press(pilot, "enter")
    raw = m.lookup(U32.pack(0))
    assert [U64.unpack_from(raw, 8 * c)[0] for c in range(ncpu)] == [100, 5, *range(102, 100 + ncpu)]


async def test_add_and_delete_entries(wm: WriteMaps) -> None:
    m = wm.u64_map("lru_hash", "wr_ui_lru", 8)
    m.update(U32.pack(1), U64.pack(11))
    app = make_app(refresh=0, open_map=str(m.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a")
        form = app.screen
        assert isinstance(form, EditFormScreen) and form.form.op == "add"
        form.query_one("#key", Input).value = "5"
        set_field(form, "", "55")
        await press(pilot, "enter", "enter")
        assert dict(m.entries()) == {U32.pack(1): U64.pack(11), U32.pack(5): U64.pack(55)}
        await press(pilot, "a")
        app.screen.query_one("#key", Input).value = "5"  # exists: the add form creates only (BPF_NOEXIST)
        set_field(app.screen, "", "56")
        await press(pilot, "enter", "enter")
        assert any("EEXIST" in t for t in messages(app))
        assert m.lookup(U32.pack(5)) == U64.pack(55)
        row_of_5 = next(i for i in range(app.screen.snapshot.count) if app.screen.snapshot.key_raw(i) ==
                        U32.pack(5))
        app.screen.query_one("#entries").cursor_row = row_of_5
        await press(pilot, "d")
        assert isinstance(app.screen, ConfirmWriteScreen) and app.screen.plan.op == "delete"
        await press(pilot, "enter")
    assert dict(m.entries()) == {U32.pack(1): U64.pack(11)}


async def test_queue_push_and_pop(wm: WriteMaps) -> None:
    q = wm.make("queue", "wr_ui_queue", 0, 4, 4)
    q.update(None, U32.pack(1))
    app = make_app(refresh=0, open_map=str(q.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "a")
        assert isinstance(app.screen, EditFormScreen) and app.screen.form.op == "push"
        set_field(app.screen, "", "2")
        await press(pilot, "enter", "enter")
        await press(pilot, "d")
        assert isinstance(app.screen, ConfirmWriteScreen) and app.screen.plan.op == "pop"
        await press(pilot, "enter")
        assert any("popped" in t for t in messages(app))
    assert q.pop() == U32.pack(2) and q.pop() is None


async def test_frozen_map_refusal_is_a_notice_and_nothing_changes(wm: WriteMaps) -> None:
    m = wm.u64_map("array", "wr_ui_frozen", 2)
    m.update(U32.pack(0), U64.pack(5))
    app = make_app(refresh=0, open_map=str(m.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "e")
        set_field(app.screen, "", "6")
        await press(pilot, "enter")
        assert isinstance(app.screen, ConfirmWriteScreen)
        m.freeze()  # frozen between the confirmation and the write
        await press(pilot, "enter")
        assert any("map is frozen (EPERM)" in t for t in messages(app))
    assert m.lookup(U32.pack(0)) == U64.pack(5)


async def test_a_change_by_the_program_meanwhile_is_shown(wm: WriteMaps) -> None:
    m = wm.stats_hash("wr_ui_race")
    m.update(U32.pack(1), stats(10))
    app = make_app(refresh=0, open_map=str(m.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "e")
        m.update(U32.pack(1), stats(12))  # "the program" counts on while the form is open
        set_field(app.screen, "in.a", "4")
        await press(pilot, "enter")
        confirm = app.screen
        assert isinstance(confirm, ConfirmWriteScreen)
        meanwhile = [(c.path, c.before, c.after) for c in confirm.plan.changed_meanwhile]
        assert meanwhile == [("value.count", 10, 12)]
        await press(pilot, "enter")
    assert m.lookup(U32.pack(1)) == stats(12, a=4)  # the field not edited keeps the program's value


async def test_without_write_the_keys_say_how_to_enable_writing(wm: WriteMaps) -> None:
    m = wm.stats_hash("wr_ui_ro")
    m.update(U32.pack(1), stats(10))
    app = make_app(refresh=0, open_map=str(m.info.id))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "read-only" in app.title
        await press(pilot, "e", "a", "d")
        assert isinstance(app.screen, MapViewScreen)
        hints = [t for t in messages(app) if "--write" in t]
        assert len(hints) == 3
    assert dict(m.entries()) == {U32.pack(1): stats(10)}


async def test_an_entry_deleted_while_editing_is_not_resurrected(wm: WriteMaps) -> None:
    m = wm.stats_hash("wr_ui_gone")
    m.update(U32.pack(1), stats(10))
    m.update(U32.pack(2), stats(20))
    app = make_app(refresh=0, open_map=str(m.info.id), write=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        key = app.screen.snapshot.key_raw(app.screen.query_one("#entries").current_row())
        await press(pilot, "e")
        m.delete(key)  # the program deletes the entry while the form is open
        set_field(app.screen, "count", "99")
        await press(pilot, "enter")
        confirm = app.screen
        assert isinstance(confirm, ConfirmWriteScreen) and confirm.plan.before is None
        await press(pilot, "enter")
        assert any("deleted meanwhile" in t and "ENOENT" in t for t in messages(app))
    assert key not in dict(m.entries())
