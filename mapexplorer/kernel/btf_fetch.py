"""Fetch BTF blobs from the kernel by id (BPF_BTF_GET_FD_BY_ID + BPF_OBJ_GET_INFO_BY_FD), and load a
BTF blob (BPF_BTF_LOAD) for maps and programs the tests and demos create.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

from mapexplorer.kernel import syscall as sc


@dataclass(frozen=True, slots=True)
class BtfObject:
    """A BTF object as the kernel holds it."""

    id: int
    name: str
    kernel_btf: bool
    data: bytes


def btf_info(fd: int) -> BtfObject:
    """The BTF behind ``fd``: its id, name (vmlinux or a module name), and raw bytes."""
    raw = sc.BtfInfoStruct()
    attr = sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(raw), info=ctypes.addressof(raw))
    sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)
    size = raw.btf_size
    data = ctypes.create_string_buffer(max(size, 1))
    name = ctypes.create_string_buffer(256)
    raw2 = sc.BtfInfoStruct(
        btf=ctypes.addressof(data), btf_size=size, name=ctypes.addressof(name), name_len=256
    )
    attr = sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(raw2), info=ctypes.addressof(raw2))
    sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)
    return BtfObject(
        id=raw2.id,
        name=name.value.decode(errors="replace"),
        kernel_btf=bool(raw2.kernel_btf),
        data=data.raw[: raw2.btf_size],
    )


def btf_by_id(btf_id: int) -> BtfObject:
    """The BTF object with this id. Raises FileNotFoundError when it is gone."""
    fd = sc.bpf(sc.BPF_BTF_GET_FD_BY_ID, sc.GetIdAttr(start_id=btf_id))
    try:
        return btf_info(fd)
    finally:
        os.close(fd)


def load_btf(blob: bytes) -> int:
    """BPF_BTF_LOAD a raw BTF blob; returns its fd. On failure the verifier log is in the message."""
    data = ctypes.create_string_buffer(blob, len(blob))
    log = ctypes.create_string_buffer(65536)
    attr = sc.BtfLoadAttr(
        btf=ctypes.addressof(data),
        btf_size=len(blob),
        btf_log_buf=ctypes.addressof(log),
        btf_log_size=len(log),
        btf_log_level=1,
    )
    try:
        return sc.bpf(sc.BPF_BTF_LOAD, attr)
    except OSError as exc:
        raise OSError(exc.errno, f"{exc.strerror}: {log.value.decode(errors='replace').strip()}") from None
