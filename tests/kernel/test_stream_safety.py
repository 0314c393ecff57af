"""Streams never take what is not theirs: a ringbuf that no process holds (pinned, or kept alive by a
program while its reader restarts) is tapped by ``watch`` and by the TUI's ``w`` (its consumer position
stays where it was); only ``watch --consume`` advances it. A perf takeover says what happens to the
owner, and that is what happens (a BCC reader gets nothing after we exit); this process's own demo's
perf map is never taken over: its streams are shared in-process instead (the demo keeps every event).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import needs_root, run_cli

from mapexplorer import streams
from mapexplorer.kernel import maps, perf

pytestmark = [needs_root, pytest.mark.kernel]

sys.path.insert(0, str(Path(__file__).parent))
from rb_emitter import RECORD, Emitter  # noqa: E402 - lives next to this file


@pytest.fixture(params=["pinned", "program-only"])
def unheld(request: pytest.FixtureRequest) -> Iterator[Emitter]:
    """A ringbuf with 10 unread records that no process holds an fd to: pinned, or held by a program."""
    with Emitter() as em:
        em.emit(10)
        if request.param == "pinned":
            em.pin(f"/sys/fs/bpf/hd_rb_{os.getpid()}")
        em.drop_map_fd()
        assert not streams.other_holders(em.map_id)
        yield em


def test_watch_taps_a_ringbuf_nobody_holds(unheld: Emitter) -> None:
    assert unheld.consumer_position() == 0
    proc = run_cli("watch", str(unheld.map_id), "--json", "--count", "5", "--timeout", "10")
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [int.from_bytes(bytes(int(b, 16) for b in e["data"]), "little") for e in got] == list(range(5))
    assert "tap mode" in proc.stderr
    assert unheld.consumer_position() == 0  # the records are still there for the real reader
    again = run_cli("watch", str(unheld.map_id), "--json", "--count", "10", "--timeout", "10")
    assert len(again.stdout.splitlines()) == 10


def test_watch_consume_is_the_only_way_to_advance(unheld: Emitter) -> None:
    proc = run_cli("watch", str(unheld.map_id), "--json", "--count", "4", "--timeout", "10", "--consume")
    assert len(proc.stdout.splitlines()) == 4
    assert "consume mode" in proc.stderr
    assert unheld.consumer_position() == 4 * (RECORD + 8)


def test_open_stream_taps_by_default(unheld: Emitter) -> None:
    with streams.open_stream(unheld.map_id) as s:
        assert s.mode == "tap"
        got = []
        for _ in range(50):
            got += s.read_batch(0.1)
            if len(got) >= 10:
                break
        assert len(got) == 10
    assert unheld.consumer_position() == 0


async def test_tui_w_taps_a_pinned_ringbuf_nobody_holds() -> None:
    from mapexplorer.app import make_app
    from mapexplorer.screens.map_view import MapViewScreen
    from mapexplorer.widgets.event_view import EventViewScreen
    from tests.ui.helpers import settle

    with Emitter() as em:
        em.emit(10)
        em.pin(f"/sys/fs/bpf/hd_rbtui_{os.getpid()}")
        em.drop_map_fd()
        app = make_app(refresh=0, open_map=str(em.map_id))
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, MapViewScreen)
            await pilot.press("w")
            for _ in range(200):  # the reader worker never completes: poll the screen's counter
                await pilot.pause(0.02)
                if isinstance(app.screen, EventViewScreen) and app.screen.total >= 10:
                    break
            screen = app.screen
            assert isinstance(screen, EventViewScreen)
            assert screen.total == 10
            assert "tap" in str(screen.query_one("#ev-title").render())
            await pilot.press("escape")
            await pilot.pause()
        assert em.consumer_position() == 0


async def test_tui_consumes_only_after_a_question_naming_whose_records() -> None:
    from mapexplorer.app import make_app
    from mapexplorer.widgets.event_view import ConfirmScreen, EventViewScreen
    from tests.ui.helpers import settle

    async def until(pilot, cond) -> None:  # the reader worker never completes: poll
        for _ in range(300):
            await pilot.pause(0.02)
            if cond():
                return
        raise AssertionError("timed out")

    with Emitter() as em:
        em.emit(10)
        em.pin(f"/sys/fs/bpf/hd_rbtc_{os.getpid()}")
        em.drop_map_fd()
        app = make_app(refresh=0, open_map=str(em.map_id))
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, EventViewScreen) and app.screen.total >= 10)
            view = app.screen
            await pilot.press("C")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            question = app.screen.question
            assert "gone for whichever reader drains it next" in question
            await pilot.press("n")  # No: still a tap
            await until(pilot, lambda: app.screen is view)
            await pilot.pause(0.3)
            assert em.consumer_position() == 0
            await pilot.press("C")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: app.screen is view and "consume" in str(
                view.query_one("#ev-title").render()) and view.total >= 10)
            await until(pilot, lambda: em.consumer_position() == 10 * (RECORD + 8))
            await pilot.press("escape")
            await pilot.pause()
        assert em.consumer_position() == 10 * (RECORD + 8)


# -- perf takeover -----------------------------------------------------------------------------------


class PerfOwner:
    """A bcc-style perf reader in another process (stream_producer.py perf-owner)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "stream_producer.py"), "perf-owner"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # stderr: BCC's own clean-up raises KeyError on the slots we emptied (that is the point)
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("perf owner failed to start")
        self.perf_id = json.loads(line)["perf"]

    def ask(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def emit(self, n: int) -> None:
        assert self.ask(str(n)) == "ok"

    def received(self) -> int:
        return int(self.ask("count"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


@pytest.mark.bcc
def test_perf_takeover_message_is_what_happens_to_the_owner() -> None:
    pytest.importorskip("bcc")
    owner = PerfOwner()
    try:
        owner.emit(100)
        assert owner.received() == 100  # the owner reads its own events
        watch = subprocess.Popen(
            [sys.executable, "-m", "mapexplorer", "watch", str(owner.perf_id), "--takeover", "--json",
             "--count", "10", "--timeout", "30"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        notes = []
        while not notes or "watching" not in notes[-1]:
            line = watch.stderr.readline()
            assert line, "".join(notes)
            notes.append(line)
        owner.emit(10)
        out, err = watch.communicate(timeout=60)
        assert watch.returncode == 0, err
        assert len(out.splitlines()) == 10  # every event of the takeover came to us
        said = "".join(notes)
        assert "took over the slots" in said
        assert "even after mapexplorer stops, until it restarts" in said
        # What the message says: our reader has exited, and still the owner gets nothing.
        owner.emit(4000)
        assert owner.received() == 100
    finally:
        owner.close()


def test_perf_of_this_process_s_own_demo_is_never_taken_over(new_map) -> None:
    m = new_map("perf_event_array", 4, 4, len(maps.possible_cpus()), name="hd_own_perf")
    perf.claim_own_reader(m.info.id)
    try:
        for kw in ({"ask": True}, {"takeover": True}, {}):
            with pytest.raises(streams.StreamError, match="this process's own demo") as info:
                streams.open_stream(m.info.id, **kw)
            assert not isinstance(info.value, streams.ConsentNeeded)  # refused, not offered
        assert not any(perf.occupied_slots(m.fd, perf.usable_cpus(m.info)).values())
    finally:
        perf.release_own_reader(m.info.id)
    with streams.open_stream(m.info.id) as s:  # once released: our readers go into the empty slots
        assert s.mode == "perf"


@pytest.mark.bcc
def test_the_in_process_demo_shares_its_streams_and_keeps_receiving() -> None:
    """The TUI's --demo runs in the TUI's process: w on demo_perf_evts (and demo_ringbuf) asks nothing and
    installs nothing; the stream gets a copy of what the demo's own BCC readers receive, and the demo keeps
    receiving every event (a perf_event_array + ringbuf demo only: a few seconds)."""
    pytest.importorskip("bcc")
    import time

    from mapexplorer.demo_bpf import DemoSession

    session = DemoSession(types=["perf_event_array", "ringbuf"])
    me = os.getpid()
    try:
        session.start(progress=lambda _msg: None)
        by_type = {s.type: s for s in session.summary}
        pst, rst = by_type["perf_event_array"], by_type["ringbuf"]
        assert pst.ok and rst.ok and pst.map_id in perf.own_readers()
        fd = maps.open_map(pst.map_id, write=True)
        try:
            slots_before = perf.occupied_slots(fd, perf.usable_cpus(maps.map_info(fd)))
        finally:
            os.close(fd)
        assert all(slots_before.values())  # BCC's perf events in every slot
        with streams.open_stream(pst.map_id, ask=True) as ps, streams.open_stream(rst.map_id, ask=True) as rs:
            # What the TUI's w does: no ConsentNeeded, no takeover, no tap of our own.
            for s in (ps, rs):
                assert s.mode == "shared with the demo"
                assert s.status_note == "sharing the demo's stream"
                assert s.consume_offer is None  # nothing to consume: the demo's reader consumes
                assert any("sharing the demo's stream" in n for n in s.take_notices())
            seen = session.events_seen
            got: dict[str, list[dict]] = {"perf": [], "ringbuf": []}
            deadline = time.monotonic() + 20
            while (len(got["perf"]) < 20 or len(got["ringbuf"]) < 20) and time.monotonic() < deadline:
                # The demo's events are file opens (sys_enter_openat); a demo without traffic programs
                # starts no traffic of its own, so the test opens files (and finds its own pid in them).
                for _ in range(5):
                    with open("/proc/self/stat", "rb"):
                        pass
                for name, s in (("perf", ps), ("ringbuf", rs)):
                    got[name] += [e.fields for e in s.read_batch(0.05) if e.fields and e.fields["pid"] == me]
            assert len(got["perf"]) >= 20 and len(got["ringbuf"]) >= 20, {k: len(v) for k, v in got.items()}
            for name in got:
                assert {e["filename"] for e in got[name]} >= {"/proc/self/stat"}, name
            assert ps.lost == 0 and ps.dropped == 0
            # The demo got the same events: it kept receiving while we watched.
            assert session.events_seen - seen >= 40
            fd = maps.open_map(pst.map_id, write=True)
            try:  # still the demo's perf events in every slot: nothing was installed or taken
                assert perf.occupied_slots(fd, perf.usable_cpus(maps.map_info(fd))) == slots_before
            finally:
                os.close(fd)
        # After the view closes, the demo still receives.
        seen = session.events_seen
        deadline = time.monotonic() + 10
        while session.events_seen == seen and time.monotonic() < deadline:
            with open("/proc/self/stat", "rb"):
                pass
            time.sleep(0.1)
        assert session.events_seen > seen
        # Asked explicitly, a takeover of the demo's own perf map is still refused.
        with pytest.raises(streams.StreamError, match="this process's own demo"):
            streams.open_stream(pst.map_id, takeover=True)
    finally:
        session.stop()
    assert pst.map_id not in perf.own_readers()
