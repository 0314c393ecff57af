"""BPF programs through bpf(): enumerate ids, read prog info (the ids of the maps each uses, load time,
sizes, run statistics), the full name from BTF func_info when the kernel's 15-character name is cut, the
translated instructions, BPF_ENABLE_STATS, and invert program info into map id -> programs.

Also the loader helpers (BPF_PROG_LOAD of hand-assembled or BCC-relocated instructions, one test run) that
tests and demos share.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.names import prog_type_name

BPF_OBJ_NAME_LEN = 16
BPF_STATS_RUN_TIME = 0


@dataclass(frozen=True, slots=True)
class ProgInfo:
    """What BPF_OBJ_GET_INFO_BY_FD says about a program."""

    id: int
    type: int
    type_name: str
    name: str
    """The kernel's name (at most 15 characters); see :func:`full_name` for the untruncated one."""
    tag: str
    btf_id: int
    map_ids: tuple[int, ...]
    load_time_ns: int = 0
    """CLOCK_BOOTTIME nanoseconds at load; :meth:`loaded_at` turns it into wall-clock time."""
    created_by_uid: int = 0
    jited_len: int = 0
    xlated_len: int = 0
    verified_insns: int = 0
    run_time_ns: int = 0
    run_cnt: int = 0
    recursion_misses: int = 0
    nr_func_info: int = 0
    ifindex: int = 0
    gpl_compatible: bool = False

    def loaded_at(self) -> float:
        """Load time as a Unix timestamp."""
        return boot_to_wall(self.load_time_ns)

    @property
    def name_truncated(self) -> bool:
        """True when the kernel's name may be a prefix of the real one (it fills all 15 characters)."""
        return len(self.name.encode()) >= BPF_OBJ_NAME_LEN - 1


def boot_to_wall(boot_ns: int) -> float:
    """A CLOCK_BOOTTIME timestamp in ns as a Unix timestamp."""
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - boot_ns / 1e9)


def prog_ids() -> Iterator[int]:
    """Every program id in the kernel, ascending."""
    attr = sc.GetIdAttr()
    while True:
        try:
            sc.bpf(sc.BPF_PROG_GET_NEXT_ID, attr)
        except FileNotFoundError:
            return
        yield attr.next_id
        attr.start_id = attr.next_id


def open_prog(prog_id: int) -> int:
    """A new fd for the program with this id. Raises FileNotFoundError when it is gone."""
    return sc.bpf(sc.BPF_PROG_GET_FD_BY_ID, sc.GetIdAttr(start_id=prog_id))


def _info_call(fd: int, raw: sc.ProgInfoStruct) -> None:
    attr = sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(raw), info=ctypes.addressof(raw))
    sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)


def prog_info(fd: int, *, with_maps: bool = True) -> ProgInfo:
    """Info about the program behind ``fd``, including (``with_maps``) the ids of the maps it uses."""
    raw = sc.ProgInfoStruct()
    _info_call(fd, raw)
    nr = raw.nr_map_ids
    ids: tuple[int, ...] = ()
    if nr and with_maps:
        buf = (ctypes.c_uint32 * nr)()
        raw2 = sc.ProgInfoStruct(nr_map_ids=nr, map_ids=ctypes.addressof(buf))
        _info_call(fd, raw2)
        ids = tuple(buf[: min(nr, raw2.nr_map_ids)])
    return ProgInfo(
        id=raw.id,
        type=raw.type,
        type_name=prog_type_name(raw.type),
        name=raw.name.decode(errors="replace"),
        tag=bytes(raw.tag).hex(),
        btf_id=raw.btf_id,
        map_ids=ids,
        load_time_ns=raw.load_time,
        created_by_uid=raw.created_by_uid,
        jited_len=raw.jited_prog_len,
        xlated_len=raw.xlated_prog_len,
        verified_insns=raw.verified_insns,
        run_time_ns=raw.run_time_ns,
        run_cnt=raw.run_cnt,
        recursion_misses=raw.recursion_misses,
        nr_func_info=raw.nr_func_info,
        ifindex=raw.ifindex,
        gpl_compatible=bool(raw.gpl_compatible),
    )


def prog_info_by_id(prog_id: int, *, with_maps: bool = True) -> ProgInfo:
    """Info about the program with this id. Raises FileNotFoundError when it is gone."""
    fd = open_prog(prog_id)
    try:
        return prog_info(fd, with_maps=with_maps)
    finally:
        os.close(fd)


def all_progs(*, with_maps: bool = True) -> list[ProgInfo]:
    """Info on every program still alive; programs freed while we look are skipped."""
    out: list[ProgInfo] = []
    for pid in prog_ids():
        try:
            out.append(prog_info_by_id(pid, with_maps=with_maps))
        except FileNotFoundError:
            continue
    return out


def progs_by_map(progs: list[ProgInfo]) -> dict[int, list[ProgInfo]]:
    """Map id -> the programs that use that map."""
    out: dict[int, list[ProgInfo]] = {}
    for p in progs:
        for mid in p.map_ids:
            out.setdefault(mid, []).append(p)
    return out


@dataclass(frozen=True, slots=True)
class RunStats:
    """A program's cumulative run statistics (counted only while BPF_ENABLE_STATS is on)."""

    id: int
    run_cnt: int
    run_time_ns: int


def run_stats() -> dict[int, RunStats]:
    """Program id -> cumulative run count and time, for every program (one info call each, no map ids)."""
    out: dict[int, RunStats] = {}
    raw = sc.ProgInfoStruct()
    size = ctypes.sizeof(raw)
    addr = ctypes.addressof(raw)
    attr = sc.InfoAttr(info_len=size, info=addr)
    memset = ctypes.memset
    ida = sc.GetIdAttr()
    fda = sc.GetIdAttr()
    bpf, close = sc.bpf, os.close
    while True:
        try:
            bpf(sc.BPF_PROG_GET_NEXT_ID, ida)
        except FileNotFoundError:
            break
        ida.start_id = pid = ida.next_id
        fda.start_id = pid
        try:
            fd = bpf(sc.BPF_PROG_GET_FD_BY_ID, fda)
        except FileNotFoundError:
            continue
        try:
            memset(addr, 0, size)  # the kernel writes lengths back: stale ones would ask for copies
            attr.bpf_fd = fd
            attr.info_len = size
            bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)
        finally:
            close(fd)
        out[pid] = RunStats(pid, raw.run_cnt, raw.run_time_ns)
    return out


def read_fdinfo(fd: int) -> dict[str, str]:
    """The ``key: value`` lines of /proc/self/fdinfo/FD for a program fd (memlock, prog_id, ...)."""
    out: dict[str, str] = {}
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def prog_memlock(fd: int) -> int:
    """Bytes the program charges to memlock (fdinfo ``memlock:``); 0 when the kernel does not say."""
    try:
        return int(read_fdinfo(fd).get("memlock", "0") or 0)
    except (OSError, ValueError):
        return 0


def first_func_type_id(fd: int) -> int:
    """The BTF type id of the program's main function (its first func_info record); 0 without one."""
    rec = (ctypes.c_uint32 * 2)()
    raw = sc.ProgInfoStruct(nr_func_info=1, func_info_rec_size=8, func_info=ctypes.addressof(rec))
    _info_call(fd, raw)
    return rec[1] if raw.nr_func_info else 0


_btf_names: dict[tuple[int, int], str] = {}
_btf_lock = threading.Lock()


def btf_func_name(btf_id: int, type_id: int) -> str:
    """The name of FUNC ``type_id`` in the program BTF object ``btf_id`` ("" if not a named FUNC).

    Cached per (btf_id, type_id): BTF objects are immutable and their ids are not reused while alive.
    """
    key = (btf_id, type_id)
    with _btf_lock:
        hit = _btf_names.get(key)
    if hit is not None:
        return hit
    from mapexplorer.btf.types import FUNC, Btf, BtfError
    from mapexplorer.kernel.btf_fetch import btf_by_id

    name = ""
    try:
        obj = btf_by_id(btf_id)
        if not obj.kernel_btf:
            t = Btf.parse(obj.data).type(type_id)
            if t.kind == FUNC:
                name = t.name
    except (OSError, BtfError, IndexError, KeyError):
        name = ""
    with _btf_lock:
        _btf_names[key] = name
    return name


def full_name(fd: int, info: ProgInfo) -> str:
    """The program's name, untruncated: when the kernel's name fills its 15 characters, the name of the
    main function in the program's BTF func_info (as bpftool prints it); otherwise the kernel's name."""
    if not info.name_truncated or not info.btf_id or not info.nr_func_info:
        return info.name
    try:
        tid = first_func_type_id(fd)
    except OSError:
        return info.name
    name = btf_func_name(info.btf_id, tid) if tid else ""
    return name or info.name


def full_name_by_id(prog_id: int) -> str:
    """:func:`full_name` of the program with this id. Raises FileNotFoundError when it is gone."""
    fd = open_prog(prog_id)
    try:
        return full_name(fd, prog_info(fd, with_maps=False))
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Xlated:
    """A program's translated instructions, or why the kernel does not give them."""

    insns: bytes
    hidden: str = ""
    """Empty when ``insns`` holds the program; otherwise the reason the kernel hides them."""


def xlated_insns(fd: int, info: ProgInfo | None = None) -> Xlated:
    """BPF_OBJ_GET_INFO_BY_FD's xlated_prog_insns: the program as the verifier left it, with map
    references rewritten to map ids (ld_imm64 src_reg BPF_PSEUDO_MAP_FD / _VALUE, imm = map id)."""
    info = info or prog_info(fd, with_maps=False)
    if info.ifindex:
        return Xlated(b"", "offloaded to a device: its instructions live on the NIC")
    size = info.xlated_len
    if not size:
        return Xlated(b"", "the kernel reports no translated instructions (needs CAP_BPF / CAP_SYS_ADMIN)")
    buf = ctypes.create_string_buffer(size)
    raw = sc.ProgInfoStruct(xlated_prog_len=size, xlated_prog_insns=ctypes.addressof(buf))
    _info_call(fd, raw)
    if not raw.xlated_prog_insns:
        return Xlated(
            b"", "constant blinding is on (net.core.bpf_jit_harden) and raw dumps are not allowed"
        )
    return Xlated(buf.raw[: min(size, raw.xlated_prog_len)])


class StatsSession:
    """BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): programs' run_cnt and run_time_ns count while this is open.

    The kernel keeps counting as long as any such fd is open (ours or another tool's). Use as a context
    manager or call :meth:`close`; closing twice is harmless.
    """

    def __init__(self) -> None:
        attr = sc.EnableStatsAttr(type=BPF_STATS_RUN_TIME)
        self.fd: int | None = sc.bpf(sc.BPF_ENABLE_STATS, attr)

    @property
    def active(self) -> bool:
        return self.fd is not None

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> StatsSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One eBPF instruction (struct bpf_insn, little-endian)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def load_prog(
    insns: bytes,
    prog_type: int,
    *,
    name: str,
    license: str = "GPL",
    expected_attach_type: int = 0,
    attach_btf_id: int = 0,
    prog_flags: int = 0,
    prog_btf_fd: int = 0,
    func_info: bytes = b"",
) -> int:
    """BPF_PROG_LOAD instructions (hand-assembled, or relocated bytecode from BCC's ``dump_func``).

    ``func_info`` is packed ``struct bpf_func_info`` records (insn_off, type_id), needing ``prog_btf_fd``.

    Returns:
        The program fd (the caller closes it).

    Raises:
        OSError: the kernel's errno, with the tail of the verifier log in the message.
    """
    ibuf = ctypes.create_string_buffer(insns, len(insns))
    fbuf = ctypes.create_string_buffer(func_info, len(func_info)) if func_info else None
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(1 << 16)
    attr = sc.ProgLoadAttr(
        prog_type=prog_type,
        insn_cnt=len(insns) // 8,
        insns=ctypes.addressof(ibuf),
        license=ctypes.addressof(lic),
        log_level=1,
        log_size=len(log),
        log_buf=ctypes.addressof(log),
        prog_name=name.encode()[:15],
        prog_flags=prog_flags,
        expected_attach_type=expected_attach_type,
        attach_btf_id=attach_btf_id,
        prog_btf_fd=prog_btf_fd,
        func_info_rec_size=8 if func_info else 0,
        func_info=sc.addr(fbuf),
        func_info_cnt=len(func_info) // 8,
    )
    try:
        return sc.bpf(sc.BPF_PROG_LOAD, attr)
    except OSError as exc:
        tail = log.value.decode(errors="replace").strip().splitlines()[-3:]
        detail = f"{exc.strerror}: {' | '.join(tail)}" if tail else exc.strerror
        raise OSError(exc.errno, detail) from None


def link_create(prog_fd: int, target_fd: int, attach_type: int, flags: int = 0) -> int:
    """BPF_LINK_CREATE; returns the link fd (close it to detach)."""
    attr = sc.LinkCreateAttr(prog_fd=prog_fd, target_fd=target_fd, attach_type=attach_type, flags=flags)
    return sc.bpf(sc.BPF_LINK_CREATE, attr)


def run_once(prog_fd: int, ctx: bytes = b"") -> int:
    """BPF_PROG_TEST_RUN a program once (with ``ctx`` as its context, if any); its return value."""
    cbuf = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
    attr = sc.TestRunAttr(prog_fd=prog_fd, ctx_in=sc.addr(cbuf), ctx_size_in=len(ctx))
    sc.bpf(sc.BPF_PROG_TEST_RUN, attr)
    return ctypes.c_int32(attr.retval).value
