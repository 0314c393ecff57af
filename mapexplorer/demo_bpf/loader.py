"""Loading helpers for the demo: import BCC lazily, load BCC-compiled bytecode as program types BCC
0.26 cannot (struct_ops), and create links (XDP, cgroup, struct_ops) with raw bpf().

Every link is an fd: closing it detaches the program, so a crashed demo leaves nothing attached.
"""

from __future__ import annotations

import ctypes
import importlib
import sys
from types import ModuleType

from mapexplorer.kernel import syscall as sc

DISTRO_PATHS = ("/usr/lib/python3/dist-packages",)
BCC_PACKAGE_HINT = "install the distro BCC bindings: apt install python3-bpfcc (Debian/Ubuntu)"

# enum bpf_prog_type
PROG_TYPE_STRUCT_OPS = 27
PROG_TYPE_SK_REUSEPORT = 21
PROG_TYPE_LSM = 29
# enum bpf_attach_type
ATTACH_CGROUP_INET_INGRESS = 0
ATTACH_CGROUP_INET_EGRESS = 1
ATTACH_CGROUP_SOCK_OPS = 3
ATTACH_LSM_MAC = 27
ATTACH_XDP = 37
ATTACH_TCX_INGRESS = 46
ATTACH_TCX_EGRESS = 47
ATTACH_STRUCT_OPS = 44

BPF_F_LINK = 1 << 13


class BccUnavailable(RuntimeError):
    """The BCC Python bindings cannot be imported."""


def import_bcc() -> ModuleType:
    """``import bcc``, retrying with the distro's dist-packages on sys.path.

    Raises:
        BccUnavailable: with a message naming the package to install.
    """
    try:
        return importlib.import_module("bcc")
    except ImportError:
        pass
    for path in DISTRO_PATHS:
        if path not in sys.path:
            sys.path.append(path)
    try:
        return importlib.import_module("bcc")
    except ImportError as exc:
        raise BccUnavailable(f"BCC Python bindings not found ({exc}); {BCC_PACKAGE_HINT}") from None


def load_raw_prog(
    insns: bytes,
    prog_type: int,
    *,
    name: str,
    expected_attach_type: int = 0,
    attach_btf_id: int = 0,
    license: str = "GPL",
) -> int:
    """BPF_PROG_LOAD relocated instructions (e.g. from ``BPF.dump_func``); returns the program fd.

    Raises:
        OSError: with the verifier log's tail in the message.
    """
    ibuf = ctypes.create_string_buffer(insns, len(insns))
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
        expected_attach_type=expected_attach_type,
        attach_btf_id=attach_btf_id,
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
