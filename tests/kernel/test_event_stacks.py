"""An event's stack id followed through the stack_trace map its programs also use (KernelSource.stack_frames,
what the event detail screen shows), on a real BCC program: openat events into a ringbuf carrying
bpf_get_stackid ids; user stacks resolved through the event's process's /proc/PID/maps while it lives."""

from __future__ import annotations

import ctypes
import os
import re

import pytest
from helpers import needs_root

pytestmark = [needs_root, pytest.mark.kernel, pytest.mark.bcc]

SOURCE = r"""
BPF_RINGBUF_OUTPUT(ky_evts, 4);
BPF_STACK_TRACE(ky_stacks, 64);
struct ev { u32 pid; s32 kstack; };
TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
    if ((bpf_get_current_pid_tgid() >> 32) != TEST_PID) return 0;
    struct ev e = {.pid = TEST_PID};
    e.kstack = ky_stacks.get_stackid(args, 0);
    ky_evts.ringbuf_output(&e, sizeof(e), 0);
    return 0;
}
"""


def test_stack_ids_of_events_resolve_to_kernel_frames() -> None:
    bcc = pytest.importorskip("bcc")
    from mapexplorer.kernel.maps import Map
    from mapexplorer.kernel_source import KernelSource

    b = bcc.BPF(text=SOURCE.encode(), cflags=[f"-DTEST_PID={os.getpid()}"])
    try:
        rb_id = Map(os.dup(b.get_table("ky_evts").get_fd())).info.id
        st = Map(os.dup(b.get_table("ky_stacks").get_fd()))
        for _ in range(3):
            with open("/proc/self/stat"):
                pass
        ids = [int.from_bytes(k, "little") for k, _ in st.entries()]
        assert ids, "the program recorded no stack"
        source = KernelSource()
        stack = source.stack_frames(rb_id, ids[0], False)
        assert stack is not None and stack.pid is None and not stack.mapped
        frames = stack.frames
        assert frames and all(f.startswith("[k] ") for f in frames)
        assert any("syscall" in f for f in frames)  # a syscall tracepoint: entered from do_syscall_64
        assert source.stack_frames(rb_id, 63 if ids[0] != 63 else 62, False) is None
        st.close()
    finally:
        b.cleanup()


USER_SOURCE = r"""
BPF_RINGBUF_OUTPUT(dsx_evts, 64);
BPF_STACK_TRACE(dsx_stacks, 256);
struct dsx_ev { u32 tgid; u32 tid; s32 kernel_stack_id; s32 user_stack_id; };
BPF_ARRAY(dsx_last, struct dsx_ev, 1); /* makes struct dsx_ev reachable from BTF */
TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
    u64 id = bpf_get_current_pid_tgid();
    char comm[16];
    bpf_get_current_comm(&comm, sizeof(comm));
    int child = comm[0] == 'd' && comm[1] == 's' && comm[2] == 'x' && comm[3] == 'g';
    if ((u32)id != TEST_PID && !child) return 0; /* our main thread, or the child */
    struct dsx_ev e = {.tgid = id >> 32, .tid = (u32)id};
    e.kernel_stack_id = dsx_stacks.get_stackid(args, 0);
    e.user_stack_id = dsx_stacks.get_stackid(args, BPF_F_USER_STACK);
    dsx_evts.ringbuf_output(&e, sizeof(e), 0);
    return 0;
}
"""

# A child that names itself dsxgone (PR_SET_NAME), opens a file and exits: its events outlive it.
CHILD = ("import ctypes; ctypes.CDLL(None).prctl(15, b'dsxgone', 0, 0, 0); "
         "[open('/proc/self/stat').close() for _ in range(3)]")


async def test_event_detail_resolves_user_stacks_through_the_live_process_maps() -> None:
    """Enter on a real event: its user stack's first frame (the syscall's return address, in libc or the
    interpreter) is named through /proc/PID/maps while the process lives; an exited process's stack
    stays hex and says so."""
    bcc = pytest.importorskip("bcc")
    import subprocess
    import sys

    from textual.app import App
    from textual.widgets import Static

    from mapexplorer.kernel.maps import Map, map_info_by_id
    from mapexplorer.kernel_source import KernelSource
    from mapexplorer.streams import build_decoders, new_event
    from mapexplorer.widgets.event_detail import EventDetailScreen, event_pid

    me = os.getpid()
    b = bcc.BPF(text=USER_SOURCE.encode(), cflags=[f"-DTEST_PID={me}"])
    try:
        rb_id = Map(os.dup(b.get_table("dsx_evts").get_fd())).info.id
        # Our own ring, read by BCC's consumer: nothing in between opens files in bulk (a stream's
        # idle liveness check scans /proc, which would fill the ring with our own opens).
        info = map_info_by_id(rb_id)
        decoders = build_decoders(rb_id, info, "dsx_ev")
        raws: list[bytes] = []

        def collect(_ctx: object, data: int, size: int) -> int:
            raws.append(ctypes.string_at(data, size))
            return 0

        b[b"dsx_evts"].open_ring_buffer(collect)
        b.ring_buffer_consume()
        for _ in range(3):
            with open("/proc/self/stat"):
                pass
        subprocess.run([sys.executable, "-c", CHILD], check=True)
        b.ring_buffer_consume()
        events = [new_event(None, len(r), r, decoders.for_size(len(r))) for r in raws]
        mine = [e for e in events if e.fields["tgid"] == me and e.fields["user_stack_id"] >= 0]
        gone = [e for e in events if e.fields["tgid"] != me and e.fields["user_stack_id"] >= 0]
        assert mine and gone, [e.fields for e in events]
        source = KernelSource()

        def resolver(sid: int, user: bool, pid: int | None):  # what app.stack_resolver builds
            return source.stack_frames(rb_id, sid, user, pid)

        # The source: alive -> mapped, with the owning file's name; exited -> hex only.
        ev = mine[0]
        assert event_pid(ev.fields) == me
        live = resolver(ev.fields["user_stack_id"], True, me)
        assert live is not None and live.mapped and live.pid == me
        assert re.match(r"\[u\] 0x[0-9a-f]+ \S+\+0x[0-9a-f]+$", live.frames[0]), live.frames
        dead_pid = gone[0].fields["tgid"]
        dead = resolver(gone[0].fields["user_stack_id"], True, dead_pid)
        assert dead is not None and not dead.mapped
        assert dead.frames[0].startswith("[u] 0x") and "+0x" not in dead.frames[0]

        # The screen: Enter on the event shows the resolved frames and where they come from.
        class DetailApp(App[None]):
            def on_mount(self) -> None:
                self.push_screen(EventDetailScreen(ev, 1, None, title="dsx", resolve_stack=resolver))

        app = DetailApp()
        async with app.run_test(size=(160, 50)) as pilot:
            screen = app.screen
            assert isinstance(screen, EventDetailScreen)
            for _ in range(200):
                if "user_stack_id" in screen.stacks and "kernel_stack_id" in screen.stacks:
                    break
                await pilot.pause(0.02)
            text = str(screen.query_one("#event-text", Static).render())
        assert f"(user addresses in /proc/{me}/maps)" in text
        assert live.frames[0] in text
        assert "[k] " in text  # the kernel stack next to it

        class GoneApp(App[None]):
            def on_mount(self) -> None:
                self.push_screen(EventDetailScreen(gone[0], 2, None, title="dsx", resolve_stack=resolver))

        app = GoneApp()
        async with app.run_test(size=(160, 50)) as pilot:
            screen = app.screen
            assert isinstance(screen, EventDetailScreen)
            for _ in range(200):
                if "user_stack_id" in screen.stacks:
                    break
                await pilot.pause(0.02)
            text = str(screen.query_one("#event-text", Static).render())
        assert f"(pid {dead_pid} has exited: user addresses only)" in text
    finally:
        b.cleanup()
