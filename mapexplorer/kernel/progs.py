"""BPF programs through bpf(): enumerate ids, read prog info (with the ids of the maps each uses),
and invert that into map id -> programs.
"""

from __future__ import annotations

import ctypes
import os
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
