"""A BCC producer of known event sequences for the stream tests: a tracepoint on getppid that, for one
process only, writes ``struct test_ev`` records into a ringbuf or a perf_event_array.

Run as a script it is "another process" that owns the maps: it prints the two map ids as JSON, emits
``N`` events for each ``N`` line on stdin (answering ``ok``), and exits (freeing everything) at EOF.
With the argument ``perf-owner`` it also reads its perf_event_array as bcc tools do (``open_perf_buffer``
once at start) and answers ``count`` with the number of events it received.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

PROG = r"""
struct test_ev {
    u64 seq;
    u32 pid;
    s32 neg;
    char comm[16];
    u16 arr[2];
};
BPF_RINGBUF_OUTPUT(test_rb, RB_PAGES);
BPF_PERF_OUTPUT(test_perf);
BPF_ARRAY(test_seq, u64, 1);
BPF_ARRAY(test_mode, u32, 1);
BPF_ARRAY(test_evtype, struct test_ev, 1);  /* puts struct test_ev into the program's BTF */

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != TARGET_TGID)
        return 0;
    int zero = 0;
    u32 *mode = test_mode.lookup(&zero);
    u64 *seq = test_seq.lookup(&zero);
    if (!mode || !seq || *mode == 0)
        return 0;
    struct test_ev e = {};
    e.seq = __sync_fetch_and_add(seq, 1);
    e.pid = TARGET_TGID;
    e.neg = -(s32)e.seq;
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    e.arr[0] = e.seq & 0xffff;
    e.arr[1] = 7;
    if (*mode == 1)
        test_rb.ringbuf_output(&e, sizeof(e), 0);
    else
        test_perf.perf_submit(args, &e, sizeof(e));
    return 0;
}
"""

EV_SIZE = 40  # sizeof(struct test_ev): 8 + 4 + 4 + 16 + 4, padded to 8
RINGBUF, PERF = 1, 2


def import_bcc() -> Any:
    """The distro's BCC bindings (never PyPI's unrelated ``bcc``)."""
    try:
        import bcc
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
        import bcc
    return bcc


class Producer:
    """BCC maps and the getppid tracepoint, owned by this process."""

    def __init__(self, rb_pages: int = 16) -> None:
        bcc = import_bcc()
        text = PROG.replace("TARGET_TGID", str(os.getpid())).replace("RB_PAGES", str(rb_pages))
        self.bpf = bcc.BPF(text=text.encode())
        self.emitted = 0

    def table(self, name: str) -> Any:
        return self.bpf[name.encode()]

    def map_fd(self, name: str) -> int:
        return self.table(name).get_fd() if hasattr(self.table(name), "get_fd") else self.table(name).map_fd

    def map_id(self, name: str) -> int:
        from mapexplorer.kernel import maps

        return maps.map_info(self.map_fd(name)).id

    @property
    def ringbuf_id(self) -> int:
        return self.map_id("test_rb")

    @property
    def perf_id(self) -> int:
        return self.map_id("test_perf")

    def emit(self, n: int, mode: int = RINGBUF) -> None:
        """Make the program write ``n`` events (seq continues from the last call)."""
        self.table("test_mode")[ctypes.c_int(0)] = ctypes.c_uint32(mode)
        getppid = os.getppid
        for _ in range(n):
            getppid()
        self.table("test_mode")[ctypes.c_int(0)] = ctypes.c_uint32(0)
        self.emitted += n

    def close(self) -> None:
        self.bpf.cleanup()


def perf_owner() -> None:
    """A BCC perf reader like any bcc tool: ``open_perf_buffer`` once, then poll. Lines on stdin: ``N``
    emits N perf events and answers ``ok``; ``count`` polls until nothing more comes and answers the
    number of events its callback received."""
    p = Producer()
    received = 0

    def on_event(_cpu: int, _data: Any, _size: int) -> None:
        nonlocal received
        received += 1

    p.table("test_perf").open_perf_buffer(on_event, page_cnt=64, lost_cb=lambda _n: None)
    print(json.dumps({"ringbuf": p.ringbuf_id, "perf": p.perf_id}), flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            before = -1
            while before != received:  # drain what is pending in every ring
                before = received
                p.bpf.perf_buffer_poll(timeout=200)
            print(received, flush=True)
        else:
            p.emit(int(line), PERF)
            print("ok", flush=True)
    p.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "perf-owner":
        perf_owner()
        return
    mode = PERF if (len(sys.argv) > 1 and sys.argv[1] == "perf") else RINGBUF
    p = Producer()
    print(json.dumps({"ringbuf": p.ringbuf_id, "perf": p.perf_id}), flush=True)
    for line in sys.stdin:
        p.emit(int(line), mode)
        print("ok", flush=True)
    p.close()


if __name__ == "__main__":
    main()
