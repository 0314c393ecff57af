"""The explorer without permission: one screen saying why (which capabilities are missing), no toast per
refresh, no worker error leaking (``_resolve: PermissionError``), and ``q`` quits with exit code 1.

Two ways in: the capabilities are missing at start (``mapexplorer`` run under ``setpriv`` without
CAP_BPF/CAP_SYS_ADMIN, in a real pseudo-terminal), or the kernel refuses a read (EPERM) although they are
there (a source whose reads raise it, as a security module would make them).
"""

from __future__ import annotations

import errno
import os
import pty
import select
import shutil
import struct
import sys
import time
from pathlib import Path

import pytest

from mapexplorer.app import make_app
from mapexplorer.replay_source import ReplaySource
from mapexplorer.screens.no_permission import NoPermissionScreen
from tests.ui.helpers import FIXTURE

REPO = str(Path(__file__).resolve().parents[2])


class RefusingSource(ReplaySource):
    """Recorded maps, but every kernel-facing read is refused with EPERM."""

    def list_maps(self):  # type: ignore[override]
        raise PermissionError(errno.EPERM, "Operation not permitted")

    def resolve(self, ref: str) -> int:
        raise PermissionError(errno.EPERM, "Operation not permitted")


async def test_eperm_shows_one_screen_no_toasts_and_q_quits_with_1() -> None:
    app = make_app(RefusingSource(FIXTURE), refresh=0.25, open_map="5")
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(10):  # several refresh intervals: nothing may pile up
            await pilot.pause(0.1)
        screens = [s for s in app.screen_stack if isinstance(s, NoPermissionScreen)]
        assert len(screens) == 1 and app.screen is screens[0]
        text = str(app.screen.query_one("#np-text").render())
        assert "Operation not permitted" in text or "lacks" in text
        assert list(app._notifications) == []  # no "listing maps: ..." toast, no "_resolve: ..." error
        await pilot.press("q")
    assert app.return_code == 1


def _run_in_pty(argv: list[str], wait_for: bytes, timeout: float = 30.0) -> tuple[bytes, int]:
    """Run ``argv`` on a 120x36 pseudo-terminal until ``wait_for`` shows, then press q.

    Returns:
        (every byte written to the terminal, exit code).
    """
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec, never return into pytest
        os.chdir(REPO)
        os.execvp(argv[0], argv)
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
    out = b""
    deadline = time.monotonic() + timeout
    pressed = False
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child exited and the terminal closed
                    break
                if not chunk:
                    break
                out += chunk
            if not pressed and wait_for in out:
                time.sleep(0.5)  # let it idle: no repeated failures may come
                os.write(fd, b"q")
                pressed = True
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return out, os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to drop the capabilities")
@pytest.mark.parametrize("extra", [[], ["--map", "5"]])
def test_tui_without_capabilities_explains_and_quits_on_q(extra: list[str]) -> None:
    argv = ["setpriv", "--bounding-set=-bpf,-sys_admin", sys.executable, "-m", "mapexplorer", *extra]
    out, code = _run_in_pty(argv, b"cannot read BPF maps here")
    assert code == 1
    assert b"lacks CAP_BPF and CAP_SYS_ADMIN" in out
    assert b"PermissionError" not in out and b"Operation not permitted" not in out
    assert b"Traceback" not in out
