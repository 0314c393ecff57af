"""The Textual application: composition and routing between the screens, nothing else.

``make_app(source=...)`` builds it over any :class:`mapexplorer.model.MapSource`: the live kernel for users,
recorded fixtures for snapshot tests and screenshots.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, ClassVar, cast

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Input
from textual.worker import Worker

from mapexplorer.caps import explain_refusal
from mapexplorer.messages import NoPermission, OpenMap
from mapexplorer.model import MapSource, ResolvedStack
from mapexplorer.pacing import DEFAULT_BUDGET
from mapexplorer.screens.help import HelpScreen
from mapexplorer.screens.map_list import MapListScreen
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.screens.no_permission import NoPermissionScreen
from mapexplorer.screens.programs import ProgramsScreen
from mapexplorer.widgets.common import report_worker_error
from mapexplorer.widgets.keys import key_rows
from mapexplorer.widgets.timebar import TimeBar


class MapExplorerApp(App[int]):
    """Every eBPF map: the list, one map's entries, per-CPU drill-downs, event streams."""

    CSS_PATH = "app.tcss"
    TITLE = "mapexplorer"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-too-narrow"), (80, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-too-short"), (24, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        # replay only (check_action): the time bar's keys
        Binding("space", "replay_play", "Play/pause", show=False, priority=True),
        Binding("comma", "replay_step(-1)", "Step back", show=False, priority=True),
        Binding("full_stop", "replay_step(1)", "Step", show=False, priority=True),
        Binding("left_square_bracket", "replay_speed(-1)", "Slower replay", show=False, priority=True),
        Binding("right_square_bracket", "replay_speed(1)", "Faster replay", show=False, priority=True),
        Binding("g", "replay_jump", "Jump to", show=False, priority=True),
        Binding("P", "programs", "Programs", show=False),
    ]
    REPLAY_TICK_S = 0.25
    """How often a playing replay moves on (times its speed)."""

    def __init__(
        self,
        source: MapSource,
        *,
        refresh: float = 1.0,
        open_map: str | None = None,
        write: bool = False,
        demo: Any = None,
        replay: bool = False,
        hist_guess: bool = True,
        clock: Callable[[], float] = time.monotonic,
        budget: float = DEFAULT_BUDGET,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        super().__init__()
        self.source = source
        self.refresh_interval = refresh
        """Seconds between two polls of the visible screen (0: manual refresh only)."""
        self.open_map_ref = open_map
        self.write = write
        self.demo = demo
        """A demo session (mapexplorer.demo_bpf.DemoSession) started in the background, or None."""
        self.hist_guess = hist_guess
        """Open the histogram view by itself for maps that look like histograms (H opens it anyway)."""
        self.clock = clock
        self.budget = budget
        """Share of one core the map list's background refreshes may use (``--budget``; 0: no budget)."""
        self.cpu_clock = cpu_clock
        """CPU seconds of the calling thread: what a refresh's cost is measured with (a fake one in tests)."""
        """Seconds, monotonic: what the screens' periodic decisions (a big map's full re-read) are timed by.
        Tests pass a clock they move themselves, so a slow machine cannot change what a step does."""
        self.sub_title = source.name
        self.title = f"mapexplorer · {'WRITE MODE' if write else 'replay' if replay else 'read-only'}"
        """Every screen's header says whether writes are possible."""
        self.timeline: Any = getattr(source, "timeline", None) if replay else None
        """The replay's timeline (mapexplorer.replay_source.Timeline) under ``--replay``, else None."""
        self._round = -1

    def on_mount(self) -> None:
        if not self.open_map_ref:
            # with --map, the list comes with the map (_under_the_map): its first read of every map
            # (seconds with 20,000 maps) would compete with the map's own first read
            self.push_screen(MapListScreen())
        if self.timeline is not None:
            self._round = self._current_round()
            self.set_interval(self.REPLAY_TICK_S, self._replay_tick)
        # Move the objects of the started app out of the collector's reach: a full collection over them takes
        # ~90 ms (measured), a visible hitch in the middle of scrolling.
        self.call_after_refresh(gc.freeze)
        if self.open_map_ref:
            self._resolve(self.open_map_ref)
        if self.demo is not None:
            self._start_demo()
        if getattr(self.source, "prog_stats", False):
            self.run_worker(lambda: self.source.set_prog_stats(True), thread=True, group="prog-stats",
                            exit_on_error=False, description="run statistics on")

    # -- routing -------------------------------------------------------------------------------------

    def on_open_map(self, message: OpenMap) -> None:
        self._under_the_map()
        self.push_screen(MapViewScreen(message.map_id))

    def _under_the_map(self) -> None:
        """The map list at the bottom of the stack (``--map`` starts without it)."""
        if not any(isinstance(s, MapListScreen) for s in self.screen_stack):
            self.push_screen(MapListScreen())

    @work(thread=True, exclusive=True, group="resolve", exit_on_error=False)
    def _resolve(self, ref: str) -> None:
        try:
            map_id = self.source.resolve(ref)
        except LookupError as exc:
            self.call_from_thread(self._under_the_map)
            self.call_from_thread(self.notify, str(exc.args[0] if exc.args else exc), severity="error")
            return
        except PermissionError as exc:
            self.call_from_thread(self._under_the_map)
            self.post_message(NoPermission(explain_refusal(exc.strerror)))
            return
        except OSError as exc:
            self.call_from_thread(self._under_the_map)
            self.call_from_thread(self.notify, f"opening {ref}: {exc.strerror or exc}", severity="error")
            return
        self.post_message(OpenMap(map_id))

    def on_no_permission(self, message: NoPermission) -> None:
        """The kernel refuses us: one screen says why (shown once, whatever asked), q quits."""
        if not any(isinstance(s, NoPermissionScreen) for s in self.screen_stack):
            self.push_screen(NoPermissionScreen(message.explanation))

    def map_vanished(self, screen: Screen, reason: str) -> None:
        """A viewed map is gone: say so and return to the map list."""
        self.notify(f"{reason}: back to the map list", severity="warning", timeout=6)
        while len(self.screen_stack) > 2 and not isinstance(self.screen, MapListScreen):
            self.pop_screen()

    def watch_map(self, map_id: int) -> None:
        """Open the event stream view of a ringbuf / perf_event_array map."""
        try:
            from mapexplorer.widgets.event_view import EventViewScreen
        except ImportError:
            self.notify("event streaming is not available in this build", severity="warning")
            return
        factory = self.source.stream_factory(map_id)
        if factory is None:
            self.notify("this source cannot stream events", severity="warning")
            return
        name = getattr(self.screen, "snapshot", None)
        name = name.facts.row.name if name is not None and name.map_id == map_id else ""
        title = f"events of {name} (map {map_id})" if name else f"events of map {map_id}"
        self.push_screen(EventViewScreen(factory, title=title, map_id=map_id))

    def stack_resolver(self, map_id: int) -> Callable[[int, bool, int | None], ResolvedStack | None] | None:
        """For the event detail: frames of a stack id of map ``map_id``'s events (blocking), when the
        source knows a stack map next to it; user addresses through the event's process when alive."""
        frames = getattr(self.source, "stack_frames", None)
        if not callable(frames):
            return None

        def resolve(stack_id: int, user: bool, pid: int | None) -> ResolvedStack | None:
            return cast("ResolvedStack | None", frames(map_id, stack_id, user, pid))

        return resolve

    def action_programs(self) -> None:
        """``P``: every program; from a map view, the programs of that map."""
        screen = self.screen
        map_id, name = None, ""
        if isinstance(screen, MapViewScreen):
            map_id = screen.map_id
            if screen.snapshot is not None:
                name = screen.snapshot.facts.row.name
        if isinstance(screen, ProgramsScreen) and screen.map_id == map_id:
            return
        self.push_screen(ProgramsScreen(map_id, name))

    def set_refresh(self, seconds: float) -> None:
        self.refresh_interval = seconds
        self.notify(f"refresh every {seconds:g}s", timeout=1.5)

    def action_help(self) -> None:
        """Every key of the screen in front, from its bindings (plus its ``help_legend`` when it has one)."""
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        name = getattr(screen, "help_title", None) or screen.sub_title or screen.name or "this screen"
        title = f"Keys: {name}"
        self.push_screen(HelpScreen(title, key_rows(screen), getattr(screen, "help_legend", "")))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands, then every key of the screen in front (the same rows as ``?``), then the
        screen's ``palette_commands`` that no key runs."""
        yield from super().get_system_commands(screen)
        bound: set[str] = set()
        for row in key_rows(screen):
            bound.add(row.action)
            yield SystemCommand(row.description, f"key: {row.keys}",
                                partial(self.call_later, self.run_action, row.action, row.node))
        if not any(a in bound for a in ("programs", "app.programs")):
            yield SystemCommand("Programs", "Every BPF program with run statistics (P)", self.action_programs)
        commands = getattr(screen, "palette_commands", None)
        if commands is not None:
            for title, help_text, action in commands():
                if action not in bound:
                    yield SystemCommand(title, help_text, partial(self.call_later, screen.run_action, action))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of the app died of an unexpected error: show it (screens report their own)."""
        report_worker_error(self, event)

    # -- demo ----------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="demo", exit_on_error=False)
    def _start_demo(self) -> None:
        def progress(text: str) -> None:
            self.call_from_thread(self._demo_progress, str(text))

        try:
            self.demo.start(progress=progress)
        except (OSError, RuntimeError, ImportError) as exc:
            self.call_from_thread(self.notify, f"demo failed: {exc}", severity="error", timeout=10)
            return
        summary = getattr(self.demo, "summary", "")
        self.call_from_thread(self._demo_progress, f"demo running · {summary}" if summary else "demo running")

    def _demo_progress(self, text: str) -> None:
        self.sub_title = f"{self.source.name} · {text}"

    def stop_demo(self) -> None:
        if self.demo is not None:
            self.demo.stop()

    def on_unmount(self) -> None:
        self.source.close()

    # -- replay --------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action.startswith("replay_"):
            # only in a replay, and never while typing (a filter, the jump prompt)
            return self.timeline is not None and not isinstance(self.focused, Input)
        return True

    def _current_round(self) -> int:
        return bisect.bisect_right(self.timeline.rounds, self.timeline.now() + 1e-9)

    def _replay_moved(self) -> None:
        """Repaint the time bars; when the position entered another refresh round, re-read the screen."""
        for bar in self.screen.query(TimeBar):
            bar.show()
        r = self._current_round()
        if r != self._round:
            self._round = r
            refresh = getattr(self.screen, "action_refresh_now", None)
            if refresh is not None:
                refresh()

    def _replay_tick(self) -> None:
        if self.timeline.playing:
            self.timeline.advance(self.REPLAY_TICK_S)
            self._replay_moved()

    def action_replay_play(self) -> None:
        tl = self.timeline
        if not tl.playing and tl.now() >= tl.duration:
            tl.seek(0.0)  # at the end: play from the start again
        tl.playing = not tl.playing
        self._replay_moved()

    def action_replay_step(self, direction: int) -> None:
        self.timeline.playing = False
        self.timeline.step(direction)
        self._replay_moved()

    def action_replay_speed(self, direction: int) -> None:
        speed = self.timeline.change_speed(direction)
        self.notify(f"replay speed x{speed:g}", timeout=1.5)
        self._replay_moved()

    def action_replay_jump(self) -> None:
        from mapexplorer.screens.jump import JumpScreen, parse_jump

        tl = self.timeline

        def jump(text: str | None) -> None:
            if text is None:
                return
            t = parse_jump(text, tl.rounds, tl.duration)
            if t is None:
                self.notify(f"{text!r}: type seconds (4.5) or a frame (frame 3)", severity="warning")
                return
            tl.playing = False
            tl.seek(t)
            self._replay_moved()

        self.push_screen(JumpScreen(tl.duration, len(tl.rounds)), jump)


def make_app(
    source: MapSource | None = None,
    *,
    refresh: float = 1.0,
    open_map: str | None = None,
    write: bool = False,
    demo: Any = None,
    replay: bool = False,
    hist_guess: bool = True,
    prog_stats: bool = False,
    clock: Callable[[], float] = time.monotonic,
    budget: float = DEFAULT_BUDGET,
    cpu_clock: Callable[[], float] = time.thread_time,
) -> MapExplorerApp:
    """The app over ``source`` (the live kernel when None); ``replay``: a recording moved by the time bar;
    ``prog_stats`` keeps BPF run statistics on for the whole session (otherwise only while the programs
    screen shows)."""
    if source is None:
        from mapexplorer.kernel_source import KernelSource

        source = KernelSource(write=write, prog_stats=prog_stats)
    return MapExplorerApp(source, refresh=refresh, open_map=open_map, write=write, demo=demo, replay=replay,
                          hist_guess=hist_guess, clock=clock, budget=budget, cpu_clock=cpu_clock)
