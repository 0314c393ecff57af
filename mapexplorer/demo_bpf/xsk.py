"""A minimal AF_XDP socket for the xskmap demo: a UMEM, fill/completion/RX rings sized but never used,
bound in copy mode to one queue of an interface. Enough for the kernel to accept it in an xskmap.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct

AF_XDP = 44
SOL_XDP = 283
XDP_RX_RING = 2
XDP_UMEM_REG = 4
XDP_UMEM_FILL_RING = 5
XDP_UMEM_COMPLETION_RING = 6
XDP_COPY = 1 << 1

FRAME_SIZE = 2048
NUM_FRAMES = 64
RING_SIZE = 64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.bind.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32]


class XdpSocket:
    """An AF_XDP socket bound to ``ifindex``/``queue``; ``close()`` releases it and its UMEM."""

    def __init__(self, ifindex: int, queue: int = 0) -> None:
        self._size = FRAME_SIZE * NUM_FRAMES
        addr = _libc.mmap(None, self._size, 3, 0x22, -1, 0)  # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
        if addr in (None, ctypes.c_void_p(-1).value):
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self._umem = addr
        self.sock = socket.socket(AF_XDP, socket.SOCK_RAW, 0)
        try:
            reg = struct.pack("<QQIIII", addr, self._size, FRAME_SIZE, 0, 0, 0)
            self.sock.setsockopt(SOL_XDP, XDP_UMEM_REG, reg)
            ring = struct.pack("<i", RING_SIZE)
            self.sock.setsockopt(SOL_XDP, XDP_UMEM_FILL_RING, ring)
            self.sock.setsockopt(SOL_XDP, XDP_UMEM_COMPLETION_RING, ring)
            self.sock.setsockopt(SOL_XDP, XDP_RX_RING, ring)
            sxdp = ctypes.create_string_buffer(struct.pack("<HHIII", AF_XDP, XDP_COPY, ifindex, queue, 0))
            if _libc.bind(self.sock.fileno(), ctypes.addressof(sxdp), len(sxdp.raw)) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"AF_XDP bind: {os.strerror(err)}")
        except BaseException:
            self.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
        if self._umem:
            _libc.munmap(self._umem, self._size)
            self._umem = 0
