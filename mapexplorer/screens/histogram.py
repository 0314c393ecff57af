"""The histogram view of a map: a live bar chart of its buckets with the change since the last refresh and
p50/p90/p99/max; for per-key histograms (BCC struct keys ending in ``slot``, libbpf-tools ``slots[]``
values) a selector over the keys and "all keys" (their sum).

Opened over the map view automatically when the map looks like a histogram, or with ``H`` for any
integer-keyed counter map or integer array value. Reads go through the source in a thread worker; the
histograms are built there too (:func:`mapexplorer.histogram.collect`), and posted as one message.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from mapexplorer.histogram import LINEAR, LOG2, Histogram, HistSet, HistSpec, collect, key_label
from mapexplorer.messages import HistFrame
from mapexplorer.model import MapFacts
from mapexplorer.screens.polling import OneMapScreen
from mapexplorer.widgets.common import StatusLine, TooSmall
from mapexplorer.widgets.histogram import HistogramChart, summary

ALL_KEYS = "\x00all"
"""Option id of the "all keys" (sum) entry of the key selector."""


def _selector_label(key: object) -> str:
    """A key as the selector lists it: ``nr=59``, ``comm=bash pid=12``."""
    if isinstance(key, dict):
        return " ".join(f"{k}={key_label(v)}" for k, v in key.items())
    return key_label(key)


class HistogramScreen(OneMapScreen):
    """One map's histograms, live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Entries"),
        Binding("l", "toggle_scale", "log2/linear"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "refresh_now", "Refresh", show=False),
        Binding("plus,equals_sign", "faster", "Faster", show=False),
        Binding("minus", "slower", "Slower", show=False),
        Binding("question_mark", "app.help", "Help"),
    ]

    DEFAULT_CSS = """
    HistogramScreen #hist-title { height: auto; padding: 0 1; background: $panel; }
    HistogramScreen #hist-summary { height: auto; padding: 0 1; }
    HistogramScreen #hist-keys { width: 26; height: 1fr; border: none; border-right: vkey $panel; }
    HistogramScreen.-narrow #hist-keys { width: 20; }
    HistogramScreen #hist-body { height: 1fr; padding: 0 1; overflow-x: hidden; }
    """

    def __init__(self, map_id: int, facts: MapFacts, spec: HistSpec) -> None:
        super().__init__(name=f"hist-{map_id}")
        self.map_id = map_id
        self.facts = facts
        self.spec = spec
        self.hists: HistSet | None = None
        self.previous: HistSet | None = None
        self.selected = ALL_KEYS
        """Option id of the shown histogram: a key's JSON text, or ALL_KEYS."""
        self._frames = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="hist-title")
        yield Static("", id="hist-summary")
        with Horizontal():
            if self.spec.kind != "slot_key":
                yield OptionList(id="hist-keys")
            with VerticalScroll(id="hist-body"):
                yield HistogramChart(id="hist-chart")
        yield StatusLine("reading…", id="status")
        yield Footer()
        yield TooSmall()

    def on_resize(self) -> None:
        self.set_class(self.size.width < 120, "-narrow")

    def on_mount(self) -> None:
        r = self.facts.row
        self.sub_title = f"map {r.id} · {r.name} · histogram"
        self._show_title()
        self.poll()

    # -- polling -------------------------------------------------------------------------------------

    def poll(self) -> None:
        if not self._gone and self.is_current:
            self._read(self.spec)

    @work(thread=True, exclusive=True, group="hist", exit_on_error=False, description="histogram read")
    def _read(self, spec: HistSpec) -> None:
        worker = get_current_worker()
        snap = self.read_map(self.map_id, lambda: self.explorer.source.read_map(self.map_id))
        if snap is None or worker.is_cancelled:
            return
        entries = ((snap.key(i), snap.value(i)) for i in range(snap.count))
        hists = collect(spec, entries, percpu=snap.facts.row.percpu)
        if not worker.is_cancelled:
            self.post_message(HistFrame(hists, snap.taken_at))

    def on_hist_frame(self, message: HistFrame) -> None:
        message.stop()
        if message.hists.spec != self.spec:
            return  # read before a scale change
        self.previous, self.hists = self.hists, message.hists
        self._frames += 1
        self._update_keys()
        self._show()
        self._schedule()

    # -- showing -------------------------------------------------------------------------------------

    def _current(self, hs: HistSet | None) -> Histogram | None:
        if hs is None:
            return None
        if self.selected == ALL_KEYS or not hs.per_key:
            return hs.sum()
        found = hs.groups.get(self.selected)
        return found[1] if found is not None else None

    def _show_title(self) -> None:
        r = self.facts.row
        t = Text()
        t.append(f"{r.name or '-'} ", "bold")
        t.append(f"(map {r.id}, {r.type_name})  ", "dim")
        t.append(f"{self.spec.scale} histogram", "bold cyan")
        if self.spec.kind != "slot_key":
            t.append(" per key", "bold cyan")
        if self.spec.unit:
            t.append(f" · {self.spec.unit}", "bold")
        t.append(f"\n{self.spec.reason}", "dim")
        self.query_one("#hist-title", Static).update(t)

    def _update_keys(self) -> None:
        hs = self.hists
        if hs is None or not hs.per_key:
            return
        keys = self.query_one("#hist-keys", OptionList)
        total = hs.sum().total
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("all keys ", "bold")
        head.append(f"{total:,}", "dim")
        options = [Option(head, id=ALL_KEYS)]
        for gk, (key, h) in hs.groups.items():
            label = Text(no_wrap=True, overflow="ellipsis")
            label.append(_selector_label(key)[:18])
            label.append(f" {h.total:,}", "dim")
            options.append(Option(label, id=gk))
        if self.selected != ALL_KEYS and self.selected not in hs.groups:
            self.selected = ALL_KEYS
        current = [o.id for o in options]
        if [keys.get_option_at_index(i).id for i in range(keys.option_count)] == current:
            for i, o in enumerate(options):
                keys.replace_option_prompt_at_index(i, o.prompt)
        else:
            keys.set_options(options)
        keys.highlighted = current.index(self.selected)

    def _show(self) -> None:
        hist = self._current(self.hists)
        prev = self._current(self.previous)
        delta = hist.minus(prev) if hist is not None and prev is not None else None
        self.query_one("#hist-chart", HistogramChart).show(hist, delta)
        self.query_one("#hist-summary", Static).update(summary(hist) if hist else Text("reading…", "dim"))
        self.show_refresh_state()

    def show_refresh_state(self) -> None:
        hs = self.hists
        interval = self.explorer.refresh_interval
        paused = ("⏸ paused (p)" if self.paused else f"⟳ {interval:g}s" if interval > 0
                  else "manual refresh (r)")
        parts = [paused]
        if hs is not None:
            if hs.per_key:
                picked = hs.groups.get(self.selected)
                which = _selector_label(picked[0]) if picked is not None else "all keys"
                parts.append(f"{len(hs.groups)} keys · showing {which}")
            if hs.dropped:
                parts.append(f"{hs.dropped:,} samples in out-of-range slots left out")
            hidden = self._current(hs)
            if hidden is not None and hidden.hidden:
                parts.append(f"{hidden.hidden:,} in slot 0 not shown (as BCC)")
        parts.append("l: log2/linear · Escape: entries")
        self.query_one("#status", StatusLine).update("  ·  ".join(parts))

    # -- actions -------------------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#hist-keys")
    def _key_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        oid = event.option.id
        if oid is not None and oid != self.selected:
            self.selected = oid
            self._show()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_scale(self) -> None:
        self.spec = self.spec.with_scale(LINEAR if self.spec.scale == LOG2 else LOG2)
        self.hists = self.previous = None
        self._show_title()
        self._show()
        self.poll()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Back to the entries", "Close the histogram view (Escape)", "back"),
            ("Log2 / linear buckets", "Read the slots as log2 or linear buckets (l)", "toggle_scale"),
            ("Pause / resume refresh", "Stop or restart live refresh (p)", "toggle_pause"),
            ("Refresh now", "Read the map again (r)", "refresh_now"),
        ]
