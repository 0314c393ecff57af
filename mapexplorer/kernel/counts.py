"""Entry counts of every map in the kernel from one BPF iterator read.

The kernel keeps a per-CPU element counter for the hash-table family of maps (hash, percpu_hash,
lru_hash, lru_percpu_hash, hash_of_maps; Linux 6.6+). An ``iter/bpf_map`` program, hand-assembled here
(no BCC), visits every map and writes ``{u32 id, u32 pad, s64 count}`` to the iterator's seq_file using
the kfunc ``bpf_map_sum_elem_count``. The program and its link are loaded once per process and reused;
each :func:`entry_counts` call is one ``BPF_ITER_CREATE`` plus ``read()`` until EOF (well under a
millisecond for a few thousand maps), so nobody reads any map's entries to count them.

Public API (importable without Textual, for the UI source and the Prometheus exporter alike)::

    from mapexplorer.kernel import counts
    try:
        by_id = counts.entry_counts()      # {map_id: elements the kernel counts}
    except counts.CountsUnavailable as exc:
        print(exc.reason)                  # e.g. "kernel has no kfunc bpf_map_sum_elem_count (< 6.6)"
    counts.unavailable_reason()            # the same reason, or None when the iterator works

The kfunc reports 0 for map types without an element counter (arrays and everything outside the
hash family): :data:`KFUNC_COUNTED` says which types its number is the truth for. The
:mod:`mapexplorer.kernel.health` module turns these raw numbers into per-map counts (arrays as
max_entries, budgeted reads for the other types).
"""

from __future__ import annotations

import os
import struct
import sys
import threading
from dataclasses import dataclass

from mapexplorer.btf import Btf, BtfError
from mapexplorer.fill import KERNEL_COUNTED
from mapexplorer.kernel import progs
from mapexplorer.kernel import syscall as sc

VMLINUX_PATH = "/sys/kernel/btf/vmlinux"

# Map types whose element count the kernel maintains (kernel/bpf/hashtab.c calls bpf_map_inc_elem_count).
KFUNC_COUNTED = KERNEL_COUNTED

BPF_PROG_TYPE_TRACING = 26
BPF_TRACE_ITER = 28
BPF_PSEUDO_KFUNC_CALL = 2
BPF_FUNC_SEQ_WRITE = 127
RECORD = struct.Struct("<IIq")  # map id, pad, count
PROG_NAME = "mx_map_counts"


class CountsUnavailable(OSError):
    """The iterator cannot count on this kernel; ``reason`` says why in one sentence."""

    def __init__(self, reason: str, err: int = 0) -> None:
        super().__init__(err, reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IterLayout:
    """What the program needs from vmlinux BTF: type ids to attach and call, and field offsets."""

    iter_func_id: int  # FUNC bpf_iter_bpf_map (attach_btf_id)
    kfunc_id: int  # FUNC bpf_map_sum_elem_count
    ctx_meta_off: int  # struct bpf_iter__bpf_map: meta
    ctx_map_off: int  # struct bpf_iter__bpf_map: map
    meta_seq_off: int  # struct bpf_iter_meta: seq
    map_id_off: int  # struct bpf_map: id


def _member_offset(btf: Btf, struct_name: str, member: str) -> int:
    """Byte offset of ``member`` in ``struct struct_name``, looking through anonymous unions/structs
    (the iterator context wraps each pointer in an anonymous ``__bpf_md_ptr`` union).

    Raises:
        BtfError: no such struct or member.
    """
    tid = btf.find(struct_name, "struct")
    if tid is None:
        raise BtfError(f"no struct {struct_name} in vmlinux BTF")

    def search(type_id: int, base: int) -> int | None:
        t = btf.type(btf.resolve(type_id))
        for m in t.members:
            if m.name == member:
                return base + m.bit_offset // 8
            if not m.name:
                found = search(m.type, base + m.bit_offset // 8)
                if found is not None:
                    return found
        return None

    off = search(tid, 0)
    if off is None:
        raise BtfError(f"struct {struct_name} has no member {member!r}")
    return off


def read_layout(vmlinux: bytes) -> IterLayout:
    """The ids and offsets the counting program needs, from the running kernel's BTF blob.

    Raises:
        CountsUnavailable: the kernel lacks the iterator target or the kfunc.
        BtfError: the blob is malformed.
    """
    btf = Btf.parse(vmlinux)
    iter_func = btf.find("bpf_iter_bpf_map", "func")
    if iter_func is None:
        raise CountsUnavailable("kernel has no bpf_map iterator (iter/bpf_map needs Linux 5.8+)")
    kfunc = btf.find("bpf_map_sum_elem_count", "func")
    if kfunc is None:
        raise CountsUnavailable("kernel has no kfunc bpf_map_sum_elem_count (needs Linux 6.6+)")
    return IterLayout(
        iter_func_id=iter_func,
        kfunc_id=kfunc,
        ctx_meta_off=_member_offset(btf, "bpf_iter__bpf_map", "meta"),
        ctx_map_off=_member_offset(btf, "bpf_iter__bpf_map", "map"),
        meta_seq_off=_member_offset(btf, "bpf_iter_meta", "seq"),
        map_id_off=_member_offset(btf, "bpf_map", "id"),
    )


def assemble(layout: IterLayout) -> bytes:
    """The iter/bpf_map program: for each map, seq_write {map->id, 0, bpf_map_sum_elem_count(map)}."""
    i = progs.insn
    ldx_dw, ldx_w, stx_dw = 0x79, 0x61, 0x7B
    mov64_reg, mov64_imm, add64_imm, jeq_imm, call, exit_ = 0xBF, 0xB7, 0x07, 0x15, 0x85, 0x95
    body = [
        i(mov64_reg, 6, 1),  # r6 = ctx
        i(ldx_dw, 7, 6, layout.ctx_map_off),  # r7 = ctx->map
        i(jeq_imm, 7, 0, 11),  # if map == NULL (end of iteration) goto out
        i(mov64_reg, 1, 7),  # r1 = map
        i(call, 0, BPF_PSEUDO_KFUNC_CALL, 0, layout.kfunc_id),  # r0 = bpf_map_sum_elem_count(map)
        i(stx_dw, 10, 0, -8),  # record.count = r0
        i(ldx_w, 1, 7, layout.map_id_off),  # r1 = map->id
        i(stx_dw, 10, 1, -16),  # record.id (+ zero pad: r1 is zero-extended)
        i(ldx_dw, 1, 6, layout.ctx_meta_off),  # r1 = ctx->meta
        i(ldx_dw, 1, 1, layout.meta_seq_off),  # r1 = meta->seq
        i(mov64_reg, 2, 10),
        i(add64_imm, 2, 0, 0, -RECORD.size),  # r2 = &record
        i(mov64_imm, 3, 0, 0, RECORD.size),  # r3 = sizeof(record)
        i(call, 0, 0, 0, BPF_FUNC_SEQ_WRITE),  # bpf_seq_write(seq, &record, 16)
        i(mov64_imm, 0),  # out: r0 = 0
        i(exit_),
    ]
    # the jeq at index 2 skips 11 instructions, to "out" at index 14
    assert len(body) == 16
    return b"".join(body)


class IterCounter:
    """The loaded counting program and its link; :meth:`read` makes one iterator and reads it out.

    Thread-safe: the fds are created once under a lock and only read afterwards.
    """

    def __init__(self, layout: IterLayout) -> None:
        self.prog_fd = -1
        self.link_fd = -1
        try:
            self.prog_fd = progs.load_prog(
                assemble(layout),
                BPF_PROG_TYPE_TRACING,
                name=PROG_NAME,
                expected_attach_type=BPF_TRACE_ITER,
                attach_btf_id=layout.iter_func_id,
            )
            self.link_fd = progs.link_create(self.prog_fd, 0, BPF_TRACE_ITER)
        except BaseException:
            self.close()
            raise

    def read(self) -> dict[int, int]:
        """Map id -> the kernel's element count, for every map alive during the read."""
        fd = sc.bpf(sc.BPF_ITER_CREATE, sc.IterCreateAttr(link_fd=self.link_fd))
        try:
            parts = []
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                parts.append(chunk)
        finally:
            os.close(fd)
        data = b"".join(parts)
        usable = len(data) - len(data) % RECORD.size
        if sys.byteorder != "little" or RECORD.size != 16:
            return {mid: max(count, 0) for mid, _pad, count in RECORD.iter_unpack(data[:usable])}
        view = memoryview(data)[:usable]  # (u32 id, u32 pad, s64 count) records: two strided views
        ids, nums = view.cast("I")[0::4].tolist(), view.cast("q")[1::2].tolist()
        if nums and min(nums) < 0:  # per-CPU counters summed mid-update can read below zero
            nums = [max(n, 0) for n in nums]
        return dict(zip(ids, nums, strict=True))

    def close(self) -> None:
        for name in ("link_fd", "prog_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)


_lock = threading.Lock()
_counter: IterCounter | None = None
_reason: str | None = None


def _load() -> IterCounter:
    """The process-wide counter, loaded on first use; raises CountsUnavailable (remembered)."""
    global _counter, _reason
    with _lock:
        if _counter is not None:
            return _counter
        if _reason is not None:
            raise CountsUnavailable(_reason)
        try:
            with open(VMLINUX_PATH, "rb") as f:
                blob = f.read()
        except OSError as exc:
            _reason = f"no kernel BTF at {VMLINUX_PATH} ({exc.strerror})"
            raise CountsUnavailable(_reason, exc.errno or 0) from None
        try:
            layout = read_layout(blob)
            _counter = IterCounter(layout)
        except CountsUnavailable as exc:
            _reason = exc.reason
            raise
        except BtfError as exc:
            _reason = f"kernel BTF unreadable for the iterator: {exc}"
            raise CountsUnavailable(_reason) from None
        except PermissionError:
            raise  # not root: say so like every other command, and retry next time
        except OSError as exc:
            _reason = f"the bpf_map iterator could not be loaded: {exc.strerror or exc}"
            raise CountsUnavailable(_reason, exc.errno or 0) from None
        return _counter


def entry_counts() -> dict[int, int]:
    """Map id -> element count as the kernel keeps it, for every map, in one iterator read.

    Only :data:`KFUNC_COUNTED` types have a meaningful number; other types read 0.

    Raises:
        CountsUnavailable: the iterator cannot work on this kernel (``reason`` says why); the first
            failure is remembered, so later calls fail fast.
        PermissionError: not root.
    """
    return _load().read()


def unavailable_reason() -> str | None:
    """Why :func:`entry_counts` cannot work here, or None when it can (loads the program if needed)."""
    try:
        _load()
    except CountsUnavailable as exc:
        return exc.reason
    return None
