"""One entry in full: the decoded key and value as indented JSON (stack traces as one frame per line) and the
raw bytes beside them, for values too wide for a table cell."""

from __future__ import annotations

import json
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from mapexplorer.model import MapSnapshot
from mapexplorer.widgets.common import TooSmall


def _hexdump(b: bytes) -> str:
    lines = []
    for off in range(0, len(b), 16):
        chunk = b[off : off + 16]
        lines.append(
            f"{off:04x}  {chunk.hex(' '):<47}  {''.join(chr(x) if 32 <= x < 127 else '.' for x in chunk)}"
        )
    return "\n".join(lines) or "(no bytes)"


class EntryDetailScreen(Screen):
    """The whole of one entry."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, snapshot: MapSnapshot, row: int) -> None:
        super().__init__(name="entry")
        self.snapshot = snapshot
        self.row = row

    def compose(self) -> ComposeResult:
        snap, i = self.snapshot, self.row
        r = snap.facts.row
        yield Header()
        with VerticalScroll(id="detail"):
            t = Text()
            t.append(f"{r.name} (map {r.id}, {r.type_name})\n\n", "bold")
            value = snap.value(i)
            if snap.key_size:
                t.append("key\n", "bold cyan")
                t.append(json.dumps(snap.key(i), indent=2) + "\n\n")
            if isinstance(value, dict) and "frames" in value:
                t.append(f"stack ({value.get('depth', 0)} frames, innermost first)\n", "bold cyan")
                for n, frame in enumerate(value["frames"]):
                    t.append(f"  #{n:<3} {frame}\n")
            else:
                t.append("value\n", "bold cyan")
                t.append(json.dumps(value, indent=2) + "\n")
            t.append("\nraw key\n", "bold dim")
            t.append(_hexdump(snap.key_raw(i)) + "\n", "dim")
            t.append("raw value\n", "bold dim")
            t.append(_hexdump(snap.value_raw(i)), "dim")
            yield Static(t)
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.sub_title = f"map {self.snapshot.map_id} · entry"

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [("Back", "Close the entry (Escape)", "app.pop_screen")]
