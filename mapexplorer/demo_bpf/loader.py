"""Loading helpers for the demo: import BCC lazily, and create links (XDP, cgroup, struct_ops) with raw
bpf(). Programs BCC 0.26 cannot load itself go through ``mapexplorer.kernel.progs.load_prog``.

Every link is an fd: closing it detaches the program, so a crashed demo leaves nothing attached.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from mapexplorer.kernel.progs import link_create  # noqa: F401  (re-exported for the demos)

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

