"""Decoders: raw key/value bytes -> JSON-able values (bpftool's ``-j`` "formatted" shape).

- :class:`Decoder`, the protocol every source's decoder follows;
- :class:`RawDecoder`, decoding without BTF (``"0xNN"`` lists, small values as integers);
- :class:`TypeAwareDecoder`, which rewrites the values of map types whose numbers mean something else
  (program names, inner map names, kernel symbols, CIDRs, interface names), plus the helpers it uses
  (:class:`Kallsyms`, :func:`ifname`, :func:`lpm_cidr`).
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Protocol

from mapexplorer.maptypes import MAP_OF_MAPS_TYPES


class Decoder(Protocol):
    """Turns raw key/value bytes into JSON-able values (bpftool's -j formatted shape)."""

    def decode_key(self, b: bytes) -> Any: ...

    def decode_value(self, b: bytes) -> Any: ...

    def decode_percpu(self, b: bytes) -> list[Any]: ...



def hex_bytes(b: bytes) -> list[str]:
    return [f"0x{x:02x}" for x in b]


class RawDecoder:
    """Decoding without BTF, like bpftool: lists of ``"0xNN"`` strings.

    Values of 1, 2, 4 or 8 bytes are the counters and ids of most BTF-less maps: ``as_int`` reads those as
    little-endian unsigned integers so per-CPU sums and rates work (the hex view still shows the bytes).
    """

    def __init__(self, key_size: int, value_size: int, ncpus: int, *, as_int: bool = True) -> None:
        self.key_size = key_size
        self.value_size = value_size
        self.ncpus = ncpus
        self.key_int = as_int and key_size in (1, 2, 4, 8)
        self.value_int = as_int and value_size in (1, 2, 4, 8)
        self.slot = (value_size + 7) & ~7

    def decode_key(self, b: bytes) -> Any:
        return int.from_bytes(b, "little") if self.key_int else hex_bytes(b)

    def decode_value(self, b: bytes) -> Any:
        return int.from_bytes(b[: self.value_size], "little") if self.value_int else hex_bytes(b)

    def decode_percpu(self, b: bytes) -> list[Any]:
        s, vs = self.slot, self.value_size
        return [self.decode_value(b[c * s : c * s + vs]) for c in range(self.ncpus)]



KERNEL_SPACE = 0xFFFF_8000_0000_0000
"""Lowest kernel address on x86-64 and arm64: anything below is a user-space address (not in kallsyms)."""


class Kallsyms:
    """Kernel symbol lookup from /proc/kallsyms (loaded once, on first use, in a worker)."""

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        self.path = path
        self._addrs: list[int] = []
        self._names: list[str] = []
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self) -> None:
        pairs: list[tuple[int, str]] = []
        try:
            with open(self.path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[1] in "tTwW":
                        addr = int(parts[0], 16)
                        if addr:
                            pairs.append((addr, parts[2]))
        except OSError:
            pairs = []
        pairs.sort()
        self._addrs = [a for a, _ in pairs]
        self._names = [n for _, n in pairs]
        self._loaded = True

    def symbolize(self, addr: int) -> str:
        with self._lock:
            if not self._loaded:
                self._load()
        if addr < KERNEL_SPACE:
            return f"0x{addr:x} (user)"
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return f"0x{addr:x}"
        return f"{self._names[i]}+0x{addr - self._addrs[i]:x}"


def ifname(ifindex: int) -> str:
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return f"if#{ifindex}"


def lpm_cidr(b: bytes) -> str | None:
    """``{u32 prefixlen; u8 data[4|16]}`` as ``10.0.0.0/8``; None for other shapes."""
    if len(b) not in (8, 20):
        return None
    plen = int.from_bytes(b[:4], "little")
    data = b[4:]
    try:
        addr = ipaddress.IPv4Address(data) if len(data) == 4 else ipaddress.IPv6Address(data)
    except ValueError:
        return None
    return f"{addr}/{plen}"


class TypeAwareDecoder:
    """Wraps a decoder and rewrites keys/values of map types whose raw numbers mean something else:
    prog_array (program names), maps of maps (inner map names), stack_trace (kernel symbols), lpm_trie
    (CIDR keys), devmap (interface names)."""

    def __init__(
        self,
        inner: Decoder,
        type_name: str,
        *,
        prog_name: Callable[[int], str],
        map_name: Callable[[int], str],
        ksyms: Kallsyms,
        ifname: Callable[[int], str] = ifname,
    ) -> None:
        self.inner = inner
        self.type_name = type_name
        self.prog_name = prog_name
        self.map_name = map_name
        self.ksyms = ksyms
        self.ifname = ifname

    def decode_key(self, b: bytes) -> Any:
        try:
            return self._decode_key(b)
        except ValueError:  # bytes that do not fit the BTF type: show them raw rather than fail the view
            return hex_bytes(b)

    def decode_value(self, b: bytes) -> Any:
        try:
            return self._decode_value(b)
        except ValueError:
            return hex_bytes(b)

    def decode_percpu(self, b: bytes) -> list[Any]:
        try:
            return self.inner.decode_percpu(b)
        except ValueError:
            return [hex_bytes(b)]

    def _decode_key(self, b: bytes) -> Any:
        if self.type_name == "lpm_trie":
            cidr = lpm_cidr(b)
            if cidr is not None:
                return cidr
        if self.type_name == "cpumap":
            return f"cpu{int.from_bytes(b[:4], 'little')}"
        return self.inner.decode_key(b)

    def _decode_value(self, b: bytes) -> Any:
        t = self.type_name
        if t == "prog_array" and len(b) >= 4:
            pid = int.from_bytes(b[:4], "little")
            return {"prog_id": pid, "prog": self.prog_name(pid)}
        if t in MAP_OF_MAPS_TYPES and len(b) >= 4:
            mid = int.from_bytes(b[:4], "little")
            return {"inner_map_id": mid, "inner_map": self.map_name(mid)}
        if t == "stack_trace":
            addrs = [a for (a,) in struct.iter_unpack("<Q", b[: len(b) - len(b) % 8]) if a]
            return {"depth": len(addrs), "frames": [self.ksyms.symbolize(a) for a in addrs]}
        if t in ("devmap", "devmap_hash") and len(b) >= 4:
            idx = int.from_bytes(b[:4], "little")
            return {"ifindex": idx, "ifname": self.ifname(idx)}
        if t == "cpumap" and len(b) >= 4:
            return {"qsize": int.from_bytes(b[:4], "little")}
        if t in ("sockmap", "sockhash", "reuseport_sockarray") and len(b) == 8:
            return {"socket_cookie": int.from_bytes(b, "little")}
        return self.inner.decode_value(b)
