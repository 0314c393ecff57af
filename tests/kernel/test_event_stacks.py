"""An event's stack id followed through the stack_trace map its programs also use (KernelSource.stack_frames,
what the event detail screen shows), on a real BCC program: openat events into a ringbuf carrying
bpf_get_stackid ids."""

from __future__ import annotations

import os

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
        frames = source.stack_frames(rb_id, ids[0], False)
        assert frames and all(f.startswith("[k] ") for f in frames)
        assert any("syscall" in f for f in frames)  # a syscall tracepoint: entered from do_syscall_64
        assert source.stack_frames(rb_id, 63 if ids[0] != 63 else 62, False) is None
        st.close()
    finally:
        b.cleanup()
