"""PollingScreen: the refresh loop the live screens share (map list, map view, drill-down).

The next poll is scheduled only when the last one has finished (``_schedule`` is called by the screen's
frame handler), so polls never overlap; ``p`` pauses, ``r`` polls now, ``+``/``-`` change the interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from textual.app import ScreenStackError
from textual.timer import Timer
from textual.worker import Worker

from mapexplorer.messages import MapVanished, SourceFailed
from mapexplorer.model import MapGone
from mapexplorer.widgets.common import report_worker_error
from mapexplorer.widgets.keys import KeyedScreen
from mapexplorer.widgets.timebar import TimeBar

if TYPE_CHECKING:
    from mapexplorer.app import MapExplorerApp

FASTEST, SLOWEST = 0.25, 60.0
T = TypeVar("T")


class PollingScreen(KeyedScreen):
    """A screen that polls its source on a timer; subclasses implement ``poll`` and ``show_refresh_state``."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.paused = False
        """No timed polls while True (``r`` still polls)."""
        self._timer: Timer | None = None
        self._gone = False
        """The map behind this screen vanished: no more polls."""

    def on_mount(self) -> None:
        # Textual calls this besides the subclasses' own on_mount (it walks the MRO)
        timeline = getattr(self.app, "timeline", None)
        if timeline is not None:
            self.mount(TimeBar(timeline))

    @property
    def on_top(self) -> bool:
        """This screen is the one on top. (Textual's ``is_current`` is also True for the screen right
        beneath the top one, which would keep a covered map list polling every second.)"""
        try:
            return self.app.screen is self
        except ScreenStackError:
            return False

    @property
    def explorer(self) -> MapExplorerApp:
        return self.app  # type: ignore[return-value]

    def poll(self) -> None:
        """Start one read of the source (in a worker); its result message calls ``_schedule``."""
        raise NotImplementedError

    def show_refresh_state(self) -> None:
        """Redraw whatever shows the pause state and the refresh interval."""
        raise NotImplementedError

    def read_map(self, map_id: int, read: Callable[[], T]) -> T | None:
        """Worker side: ``read()`` from the source; on failure post MapVanished or SourceFailed, None."""
        try:
            return read()
        except MapGone as exc:
            self.post_message(MapVanished(map_id, str(exc)))
        except OSError as exc:
            self.post_message(SourceFailed(f"reading map {map_id}", exc.strerror or str(exc)))
        return None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_error(self, event)

    def next_interval(self) -> float:
        """Seconds until the next timed poll (the refresh interval; a screen with a budget stretches it)."""
        return self.explorer.refresh_interval

    def _schedule(self) -> None:
        if self.paused or self._timer is not None or self._gone or self.explorer.refresh_interval <= 0:
            return
        self._timer = self.set_timer(self.next_interval(), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self.paused:
            self.poll()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self.paused:
            self.poll()
        self.show_refresh_state()

    def action_refresh_now(self) -> None:
        self.poll()

    def action_faster(self) -> None:
        self.explorer.set_refresh(max(FASTEST, self.explorer.refresh_interval / 2))
        self.show_refresh_state()

    def action_slower(self) -> None:
        self.explorer.set_refresh(min(SLOWEST, (self.explorer.refresh_interval or 0.5) * 2))
        self.show_refresh_state()


class OneMapScreen(PollingScreen):
    """A live screen over one map (drill-down, histogram): a vanished map closes it with a notice, a failed
    read is reported and retried at the next interval, and polling resumes when the screen is back on top."""

    def on_map_vanished(self, message: MapVanished) -> None:
        message.stop()
        if not self._gone:
            self._gone = True
            self.explorer.map_vanished(self, message.reason)

    def on_source_failed(self, message: SourceFailed) -> None:
        message.stop()
        self.notify(f"{message.what}: {message.reason}", severity="error")
        self._schedule()

    def on_screen_resume(self) -> None:
        self._schedule()
