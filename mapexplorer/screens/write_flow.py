"""The write flow of a map view: e / a / d open a form or a confirmation, and every step that needs the
kernel (the form's current value, the plan, the write) asks the source in a thread worker.

edit:   source.edit_form  -> EditFormScreen -> source.plan_write -> ConfirmWriteScreen -> source.apply_write
delete: source.plan_write (delete / pop) -> ConfirmWriteScreen -> source.apply_write
Each result (or the refusal, errno in words) is a notice, and the map view reads the map again at once.
Without ``--write`` the keys only say how to enable writing.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from mapexplorer.screens.write_screens import ConfirmWriteScreen, EditFormScreen
from mapexplorer.writemodel import EditForm, WriteError, WritePlan, WriteRequest, WriteResult

if TYPE_CHECKING:
    from mapexplorer.screens.map_view import MapViewScreen

READ_ONLY_HINT = "read-only: start mapexplorer with --write to {what} (every write is confirmed first)"
PEEK_TYPES = frozenset({"queue", "stack"})
NOT_WRITABLE = frozenset({
    "ringbuf", "user_ringbuf", "perf_event_array", "arena", "sk_storage", "task_storage", "inode_storage",
    "cgrp_storage", "prog_array", "array_of_maps", "hash_of_maps", "sockmap", "sockhash", "xskmap",
    "reuseport_sockarray", "cgroup_array", "stack_trace", "struct_ops",
})
"""Map types whose entries cannot be typed as values here (streams, fd-keyed storage, fds of other
objects)."""


class WriteFlow:
    """Write actions of one :class:`MapViewScreen` (which owns the workers and the refresh)."""

    def __init__(self, screen: MapViewScreen) -> None:
        self.screen = screen

    # -- entry points (key bindings) -------------------------------------------------------------------

    def edit(self) -> None:
        if not self._allowed("edit entries"):
            return
        if self._type() in PEEK_TYPES:
            self.screen.notify("queues and stacks have no entries to edit: a pushes, d pops",
                               severity="warning")
            return
        selected = self._selected()
        if selected is None:
            self.screen.notify("no entry selected", severity="warning")
            return
        key, cpu = selected
        self._run(partial(self.screen.explorer.source.edit_form, self.screen.map_id, "update", key, cpu),
                  self._open_form, "open edit form")

    def add(self) -> None:
        if not self._allowed("add entries"):
            return
        op = "push" if self._type() in PEEK_TYPES or self._type() == "bloom_filter" else "add"
        self._run(partial(self.screen.explorer.source.edit_form, self.screen.map_id, op, None, None),
                  self._open_form, "open add form")

    def delete(self) -> None:
        if not self._allowed("delete entries"):
            return
        if self._type() in PEEK_TYPES:
            req = WriteRequest("pop", self.screen.map_id)
        else:
            selected = self._selected()
            if selected is None:
                self.screen.notify("no entry selected", severity="warning")
                return
            req = WriteRequest("delete", self.screen.map_id, key=selected[0])
        self._plan(req)

    # -- steps -----------------------------------------------------------------------------------------

    def _open_form(self, form: EditForm) -> None:
        self.screen.app.push_screen(EditFormScreen(form), self._form_done)

    def _form_done(self, req: WriteRequest | None) -> None:
        if req is None:
            self.screen.notify("cancelled: nothing written", timeout=2)
            return
        self._plan(req)

    def _plan(self, req: WriteRequest) -> None:
        self._run(partial(self.screen.explorer.source.plan_write, req), self._confirm, "plan write")

    def _confirm(self, plan: WritePlan) -> None:
        self.screen.app.push_screen(ConfirmWriteScreen(plan), partial(self._confirmed, plan))

    def _confirmed(self, plan: WritePlan, ok: bool | None) -> None:
        if not ok:
            self.screen.notify("cancelled: nothing written", timeout=2)
            return
        self._run(partial(self.screen.explorer.source.apply_write, plan), self._written, "write")

    def _written(self, result: WriteResult) -> None:
        text = result.message + (f" ({result.note})" if result.note else "")
        self.screen.notify(text, title="written", timeout=6)
        self.screen.action_refresh_now()

    # -- helpers ---------------------------------------------------------------------------------------

    def _allowed(self, what: str) -> bool:
        if not self.screen.explorer.write:
            self.screen.notify(READ_ONLY_HINT.format(what=what), severity="warning", timeout=5)
            return False
        t = self._type()
        if t is None:
            return False
        if t in NOT_WRITABLE:
            self.screen.notify(f"{t} maps cannot be edited from here", severity="warning")
            return False
        if self.screen.snapshot is not None and self.screen.snapshot.facts.row.frozen:
            self.screen.notify("this map is frozen: user space can no longer write it", severity="warning")
            return False
        return True

    def _type(self) -> str | None:
        snap = self.screen.snapshot
        return None if snap is None else snap.facts.row.type_name

    def _selected(self) -> tuple[bytes, int | None] | None:
        """The raw key under the cursor, and the CPU of the column under the cursor (per-CPU maps)."""
        from mapexplorer.widgets.entry_table import EntryTable

        table = self.screen.query_one("#entries", EntryTable)
        snap = table.snapshot
        row = table.current_row()
        if snap is None or row is None or not snap.key_size:
            return None
        cpu = None
        if table.plan is not None and table.plan.columns:
            col = table.plan.columns[min(table.cursor_col, len(table.plan.columns) - 1)]
            cpu = col.cpu if col.cpu >= 0 else None
        return snap.key_raw(row), cpu

    def _run(self, call: Any, then: Any, what: str) -> None:
        """``call()`` in a thread worker; ``then(result)`` on the UI thread; a refusal becomes a notice."""
        screen = self.screen

        def work() -> None:
            try:
                result = call()
            except WriteError as exc:
                screen.app.call_from_thread(screen.notify, str(exc), title="not written", severity="error",
                                            timeout=8)
                screen.app.call_from_thread(screen.action_refresh_now)
                return
            except OSError as exc:
                screen.app.call_from_thread(screen.notify, f"{what}: {exc.strerror or exc}", severity="error",
                                            timeout=8)
                return
            screen.app.call_from_thread(then, result)

        screen.run_worker(work, thread=True, group="write", exclusive=True, exit_on_error=False,
                          description=what)
