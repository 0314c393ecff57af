"""Write mode's two dialogs: the edit form (one input per BTF field, checked as you type, with its C type) and
the confirmation (before / after with the changed fields highlighted). Both only show values the source
built (:mod:`mapexplorer.writemodel`); neither touches the kernel.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Select, Static

from mapexplorer.writemodel import EditForm, WritePlan, WriteRequest, flatten, form_json, short

ALL_CPUS = -1
MAX_ROWS = 40
"""Rows of the before/after table shown in full; beyond, only changed fields."""

_TITLES = {"update": "Edit", "add": "Add an entry to", "push": "Push a value onto"}


def _input_id(i: int) -> str:
    return f"field-{i}"


class EditFormScreen(ModalScreen[WriteRequest | None]):
    """Edit one entry's value (or a new entry, or a value to push). Dismisses with the request, or None."""

    DEFAULT_CSS = """
    EditFormScreen { align: center middle; }
    EditFormScreen > Vertical {
        width: 96; max-width: 100%; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    EditFormScreen #form-title { text-style: bold; width: 100%; }
    EditFormScreen #fields { height: auto; max-height: 30; }
    EditFormScreen .field-row { height: 1; margin-bottom: 1; }
    EditFormScreen .field-name { width: 24; padding-right: 1; text-align: right; }
    EditFormScreen .field-row Input { width: 36; height: 1; border: none; padding: 0 1; background: $boost; }
    EditFormScreen .field-row Input:focus { border: none; background: $accent 30%; }
    EditFormScreen .field-type { width: 1fr; padding-left: 1; color: $text-muted; }
    EditFormScreen .field-error { color: $error; height: auto; padding-left: 25; margin-top: -1; }
    EditFormScreen .field-row Input.-invalid, EditFormScreen .field-row Input.-invalid:focus {
        background: $error 40%;
    }
    EditFormScreen #cpu-row { height: 3; }
    EditFormScreen #cpu-row .field-name { padding-top: 1; }
    EditFormScreen #cpu-row Select { width: 36; }
    EditFormScreen #form-help { color: $text-muted; padding-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Review", show=False),
    ]

    def __init__(self, form: EditForm) -> None:
        super().__init__()
        self.form = form
        self.errors: dict[str, str] = {}
        self.cpu: int | None = form.cpu if form.percpu else None
        self._texts = {f.path: f.text for f in form.fields}
        """What each field showed when the form opened (or when the CPU changed): unchanged fields are not
        sent, so they keep whatever the program stores there meanwhile."""

    # -- layout --------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        f = self.form
        key = f" key {f.key_text}" if f.op == "update" else ""
        title = f"{_TITLES.get(f.op, f.op)} map {f.map_id} ({f.map_name}){key} · {f.value_c}"
        with Vertical():
            yield Label(Text(title), id="form-title")
            if f.percpu:
                options = [("all CPUs (the same value on each)", ALL_CPUS)]
                options += [(f"cpu{c} only", c) for c in range(f.ncpus)]
                with Horizontal(id="cpu-row"):
                    yield Label("write", classes="field-name")
                    yield Select(options, value=ALL_CPUS if f.cpu is None else f.cpu, allow_blank=False,
                                 id="cpu")
            with VerticalScroll(id="fields"):
                if f.op == "add":
                    with Horizontal(classes="field-row"):
                        yield Label("key", classes="field-name")
                        yield Input(placeholder="as dump --json prints it, or hex 01 02 ..", id="key")
                        yield Label(Text(f.key_c), classes="field-type")
                    yield Static("", id="key-error", classes="field-error")
                for i, field in enumerate(f.fields):
                    with Horizontal(classes="field-row"):
                        yield Label(Text(field.path or "value"), classes="field-name")
                        suggester = SuggestFromList(field.choices) if field.choices else None
                        yield Input(field.text, id=_input_id(i), suggester=suggester)
                        choices = f" ({' | '.join(field.choices[:6])})" if field.choices else ""
                        ctype = field.c_type + choices
                        yield Label(Text(ctype), classes="field-type")
                    yield Static("", id=f"error-{i}", classes="field-error")
            yield Static(self._help(), id="form-help")

    def _help(self) -> Text:
        what = ("only the fields you change are written" if self.form.op == "update" else
                "every field is written")
        return Text(f"Enter: review the write (nothing is written yet) · Escape: cancel · {what}")

    def on_mount(self) -> None:
        first = self.query_one("#key", Input) if self.form.op == "add" else self.query(Input).first()
        self.set_focus(first)
        for err in self.query(".field-error"):
            err.display = False

    # -- validation as you type ------------------------------------------------------------------------

    def _field_index(self, widget_id: str | None) -> int | None:
        if widget_id and widget_id.startswith("field-"):
            return int(widget_id.removeprefix("field-"))
        return None

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id == "key":
            check = self.form.check_key
            self._show_error(event.input, "key", "key-error", check(event.value) if check else None)
            return
        i = self._field_index(event.input.id)
        if i is None:
            return
        field = self.form.fields[i]
        self._show_error(event.input, field.path, f"error-{i}", self.form.check(field.path, event.value))

    def _show_error(self, widget: Input, path: str, error_id: str, error: str | None) -> None:
        box = self.query_one(f"#{error_id}", Static)
        if error:
            self.errors[path] = error
            box.update(Text(error))
        else:
            self.errors.pop(path, None)
        box.display = bool(error)
        widget.set_class(bool(error), "-invalid")

    @on(Select.Changed, "#cpu")
    def _cpu_changed(self, event: Select.Changed) -> None:
        value = event.value
        self.cpu = None if value == ALL_CPUS or not isinstance(value, int) else value
        texts = self.form.cpu_texts[self.cpu or 0] if self.form.cpu_texts else ()
        for i, text in enumerate(texts):
            self._texts[self.form.fields[i].path] = text
            self.query_one(f"#{_input_id(i)}", Input).value = text

    # -- submit ----------------------------------------------------------------------------------------

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    def current_texts(self) -> dict[str, str]:
        fields = self.form.fields
        return {f.path: self.query_one(f"#{_input_id(i)}", Input).value for i, f in enumerate(fields)}

    def action_submit(self) -> None:
        if self.errors:
            path, error = next(iter(self.errors.items()))
            self.notify(Text(f"fix {path or 'the value'} first: {error}").plain, severity="error")
            return
        f = self.form
        texts = self.current_texts()
        if f.op == "update":
            changed = {p: t for p, t in texts.items() if t != self._texts.get(p)}
            if not changed:
                self.notify("nothing changed", severity="warning")
                return
        else:
            changed = texts
        key_text = None
        if f.op == "add":
            key_text = self.query_one("#key", Input).value
            if not key_text.strip():
                self.notify("type the new entry's key first", severity="error")
                return
        value_text = form_json(f.fields, changed, texts)
        op = "update" if f.op in ("update", "add") else f.op
        self.dismiss(WriteRequest(
            op=op, map_id=f.map_id, key=f.key, key_text=key_text, value_text=value_text,
            cpu=self.cpu if f.percpu else None, all_cpus=f.percpu and self.cpu is None,
            # add: create only (BPF_NOEXIST); edit: replace only (BPF_EXIST), never resurrect a deleted entry
            mode=1 if f.op == "add" else 2 if f.op == "update" else 0, seen=f.seen,
        ))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _cell(value: Any) -> Text:
    return Text("—" if value is None else short(value, 40))


def changes_table(plan: WritePlan) -> tuple[Table, int]:
    """Before / after of every field (changed ones highlighted); returns the table and the rows left out."""
    prefix = "cpu" if plan.percpu else "value"
    before = _leaves(plan.before_json, prefix, plan.percpu)
    after = _leaves(plan.after_json, prefix, plan.percpu)
    changed = {c.path for c in plan.changes}
    paths = list(dict.fromkeys([*before, *after]))
    hidden = 0
    if len(paths) > MAX_ROWS:
        keep = [p for p in paths if p in changed][:MAX_ROWS]
        hidden = len(paths) - len(keep)
        paths = keep
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    table.add_column("field")
    table.add_column("before", max_width=40)
    table.add_column("after", max_width=40)
    for p in paths:
        style = "bold" if plan.op in ("delete", "pop") else "bold reverse" if p in changed else ""
        table.add_row(Text(p), _cell(before.get(p)), _cell(after.get(p)), style=style)
    return table, hidden


def _leaves(value: Any, prefix: str, percpu: bool) -> dict[str, Any]:
    if value is None:
        return {}
    if percpu and isinstance(value, list):
        out: dict[str, Any] = {}
        for c, v in enumerate(value):
            out.update(flatten(v, f"cpu{c}"))
        return out
    return flatten(value, prefix)


class ConfirmWriteScreen(ModalScreen[bool]):
    """Before / after of one planned write. Enter writes, Escape cancels."""

    DEFAULT_CSS = """
    ConfirmWriteScreen { align: center middle; }
    ConfirmWriteScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 90%;
        border: thick $error; background: $surface; padding: 0 1;
    }
    ConfirmWriteScreen #confirm-title { text-style: bold; }
    ConfirmWriteScreen #confirm-body { height: auto; max-height: 28; }
    ConfirmWriteScreen .warning { color: $warning; }
    ConfirmWriteScreen #confirm-help { padding-top: 1; text-style: bold; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "confirm", "Write"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, plan: WritePlan) -> None:
        super().__init__()
        self.plan = plan

    def compose(self) -> ComposeResult:
        p = self.plan
        with Vertical():
            yield Static(Text(f"Confirm: {p.title}"), id="confirm-title")
            with VerticalScroll(id="confirm-body"):
                if p.op in ("update", "delete", "pop"):
                    table, hidden = changes_table(p)
                    yield Static(table, id="changes")
                    if hidden:
                        yield Static(Text(f"({hidden} unchanged fields not shown)"))
                if p.op == "update" and p.before is None:
                    if p.flags & 2:  # BPF_EXIST: an edit of an entry that is gone
                        yield Static(Text("⚠ the entry is gone (deleted since the form opened): the kernel "
                                          "will refuse this write"), classes="warning")
                    else:
                        yield Static(Text("a new entry: the key is absent now"))
                if p.op == "push":
                    yield Static(Text(f"value to push: {short(p.after_json, 80)}"))
                    if p.type_name != "bloom_filter":
                        head = "(empty)" if p.before is None else short(p.before_json, 60)
                        yield Static(Text(f"head now: {head}"))
                if p.op in ("delete", "pop"):
                    what = "entry" if p.op == "delete" else "head"
                    yield Static(Text(f"this removes the {what} shown above"))
                if p.changed_meanwhile:
                    lines = "; ".join(f"{c.path} {short(c.before, 20)} -> {short(c.after, 20)}"
                                      for c in p.changed_meanwhile[:6])
                    yield Static(Text(f"⚠ changed by the program since the form opened: {lines}"),
                                 classes="warning")
                if p.note:
                    age = f" (the values above were read {p.age_ms():.0f} ms ago)" \
                        if p.percpu and p.cpu is not None else ""
                    yield Static(Text(f"note: {p.note}{age}"), classes="warning", id="note")
            yield Static(Text("Enter: write to the kernel · Escape: cancel"), id="confirm-help")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
