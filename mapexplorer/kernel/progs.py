"""BPF programs through bpf(): enumerate ids, read prog info (with the ids of the maps each uses),
and invert that into map id -> programs.
"""

from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.names import prog_type_name


@dataclass(frozen=True, slots=True)
class ProgInfo:
    """What BPF_OBJ_GET_INFO_BY_FD says about a program."""

    id: int
    type: int
    type_name: str
    name: str
    tag: str
    btf_id: int
    map_ids: tuple[int, ...]


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
    return sc.bpf(sc.BPF_PROG_GET_FD_BY_ID, sc.GetIdAttr(start_id=prog_id))


def prog_info(fd: int) -> ProgInfo:
    """Info about the program behind ``fd``, including the ids of the maps it uses."""
    raw = sc.ProgInfoStruct()
    attr = sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(raw), info=ctypes.addressof(raw))
    sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)
    nr = raw.nr_map_ids
    ids: tuple[int, ...] = ()
    if nr:
        buf = (ctypes.c_uint32 * nr)()
        raw2 = sc.ProgInfoStruct(nr_map_ids=nr, map_ids=ctypes.addressof(buf))
        attr = sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(raw2), info=ctypes.addressof(raw2))
        sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)
        ids = tuple(buf[: min(nr, raw2.nr_map_ids)])
    return ProgInfo(
        id=raw.id,
        type=raw.type,
        type_name=prog_type_name(raw.type),
        name=raw.name.decode(errors="replace"),
        tag=bytes(raw.tag).hex(),
        btf_id=raw.btf_id,
        map_ids=ids,
    )


def prog_info_by_id(prog_id: int) -> ProgInfo:
    fd = open_prog(prog_id)
    try:
        return prog_info(fd)
    finally:
        os.close(fd)


def all_progs() -> list[ProgInfo]:
    """Info on every program still alive; programs freed while we look are skipped."""
    out: list[ProgInfo] = []
    for pid in prog_ids():
        try:
            out.append(prog_info_by_id(pid))
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
