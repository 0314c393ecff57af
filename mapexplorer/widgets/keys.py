"""The keyboard model every screen shares, and the help and palette generated from the bindings.

- Moving: ``j``/``k`` (and arrows), PageUp/PageDown, ``g``/Home = first row, ``G``/End = last row,
  ``h``/``l`` = columns (:class:`NavDataTable` adds these to a DataTable; the entry table and event log
  have them too).
- ``q`` goes back (quits on the map list); Escape clears an active filter first, otherwise goes back, and
  never quits. ``s`` sorts by the column under the cursor, ``S`` reverses; Enter opens what is under the
  cursor.
- After a sub-screen closes, focus returns to the widget that had it when that widget is still shown
  (:class:`KeyedScreen`), never to a hidden filter that would swallow the keys typed next.
- :func:`key_rows` lists the keys of the screen in front from its active bindings: ``?`` shows them and
  the command palette offers them, so neither can drift from what the keys do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable


def shown(widget: Widget) -> bool:
    """The widget and all its ancestors are displayed (Textual's ``focusable`` ignores ``display``)."""
    node: object = widget
    while isinstance(node, Widget):
        if not node.display:
            return False
        node = node.parent
    return True


class KeyedScreen(Screen):
    """A screen that gives focus back where it was when a screen on top of it closes.

    ``MAIN_FOCUS`` (a selector) is what gets focus when the widget that had it is hidden now; with none
    shown, nothing is focused and the screen's own keys work.
    """

    MAIN_FOCUS: ClassVar[str] = "EntryTable, NavDataTable, DataTable, EventLog, VerticalScroll"

    def on_screen_resume(self) -> None:
        # Textual's auto focus ("*") has just focused the first focusable widget when none had focus,
        # even a hidden one (its ``focusable`` ignores ``display``): correct that before the next key.
        self.call_after_refresh(self.restore_focus)

    def restore_focus(self) -> None:
        """Focus the widget that had it if still shown, else the first shown main widget, else none."""
        focused = self.focused
        if focused is not None and shown(focused) and focused.focusable:
            return
        for widget in self.query(self.MAIN_FOCUS):
            if shown(widget) and widget.focusable:
                self.set_focus(widget)
                return
        self.set_focus(None)


class NavDataTable(DataTable):
    """A DataTable with the explorer's keys: ``j``/``k``, ``g``/Home first row, ``G``/End last row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("home,g", "first_row", "First row", show=False),
        Binding("end,G", "last_row", "Last row", show=False),
        Binding("enter", "select_cursor", "Open", show=False),
    ]

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0, animate=False)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)


TEXTUAL_KEYS = frozenset({"ctrl+c", "ctrl+q", "ctrl+p", "tab", "shift+tab", "super+c"})
"""Textual's own keys (focus cycling, copy, quit, palette): listed once under "Everywhere", not per screen."""


@dataclass(frozen=True)
class KeyRow:
    """One action of the screen in front: its keys as shown (``escape / q``), what it does, the action
    and the node that runs it."""

    keys: str
    description: str
    action: str
    node: DOMNode


def key_rows(screen: Screen) -> list[KeyRow]:
    """Every active binding of ``screen`` that has a description, its keys joined per action: the
    screen's first, then the focused widget's, then the app's (each in binding order). The words are
    the screen's ``palette_commands`` title for that action when it has one, else the binding's."""
    app = screen.app
    keys: dict[tuple[int, str], list[str]] = {}
    first: dict[tuple[int, str], tuple[str, DOMNode]] = {}
    for key, active in screen.active_bindings.items():
        b = active.binding
        if not b.description or key in TEXTUAL_KEYS:
            continue
        gid = (id(active.node), b.action)
        text = app.get_key_display(Binding(key, b.action, b.description))
        keys.setdefault(gid, [])
        if text not in keys[gid]:
            keys[gid].append(text)
        first.setdefault(gid, (b.description, active.node))

    def rank(node: DOMNode) -> int:
        return 0 if node is screen else 2 if node is app else 1

    # a screen's palette_commands give an action longer words ("Toggle hex view" for "Hex")
    words = {action: title for title, _help, action in getattr(screen, "palette_commands", list)()}
    rows = [KeyRow(" / ".join(ks), words.get(g[1], first[g][0]), g[1], first[g][1]) for g, ks in keys.items()]
    return sorted(rows, key=lambda r: rank(r.node))
