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
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mapexplorer.maptypes import MAP_OF_MAPS_TYPES
from mapexplorer.semantics import Clock, humanize


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

    def int_layout(self, side: str) -> dict[str, tuple[int, str]]:
        """Keys / values read as little-endian unsigned integers: ``{"": (0, "<uN")}``, else {}."""
        if side == "key":
            return {"": (0, f"<u{self.key_size}")} if self.key_int else {}
        return {"": (0, f"<u{self.value_size}")} if self.value_int else {}

    def decode_value(self, b: bytes) -> Any:
        return int.from_bytes(b[: self.value_size], "little") if self.value_int else hex_bytes(b)

    def decode_percpu(self, b: bytes) -> list[Any]:
        s, vs = self.slot, self.value_size
        return [self.decode_value(b[c * s : c * s + vs]) for c in range(self.ncpus)]



KERNEL_SPACE = 0xFFFF_8000_0000_0000
"""Lowest kernel address on x86-64 and arm64: anything below is a user-space address (not in kallsyms)."""

KALLSYMS_TTL_S = 60.0
"""How long a loaded /proc/kallsyms stays in use (modules load and unload: their symbols come and go)."""


def text_bytes(addr: int) -> str | None:
    """An "address" whose bytes are all printable ASCII is string data a frame-pointer walk read as a
    return address (a binary without frame pointers): the text, so the reader sees what it is."""
    raw = addr.to_bytes(8, "little").rstrip(b"\0")
    if len(raw) >= 3 and all(32 <= b < 127 for b in raw):
        return raw.decode("ascii")
    return None


@dataclass(frozen=True, slots=True, eq=False)
class SymbolTable:
    """Kernel text symbols at one moment, sorted by address: symbolizing is a pure lookup."""

    addrs: tuple[int, ...] = ()
    names: tuple[str, ...] = ()

    def symbolize(self, addr: int) -> str:
        if addr < KERNEL_SPACE:
            text = text_bytes(addr)
            return f"0x{addr:x} (user)" + (f" {text!r}: text bytes, not code" if text is not None else "")
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return f"0x{addr:x}"
        return f"{self.names[i]}+0x{addr - self.addrs[i]:x}"


class Kallsyms:
    """Kernel symbol lookup from /proc/kallsyms, read by :meth:`table` (blocking: call it from a worker),
    and read again once it is older than ``ttl`` seconds."""

    def __init__(self, path: str = "/proc/kallsyms", ttl: float = KALLSYMS_TTL_S) -> None:
        self.path = path
        self.ttl = ttl
        self._table: SymbolTable | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def _load(self) -> SymbolTable:
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
        return SymbolTable(tuple(a for a, _ in pairs), tuple(n for _, n in pairs))

    def table(self) -> SymbolTable:
        """The symbols, read now when never read or older than ``ttl`` (blocking)."""
        with self._lock:
            if self._table is None or time.monotonic() - self._loaded_at > self.ttl:
                self._table = self._load()
                self._loaded_at = time.monotonic()
            return self._table

    def symbolize(self, addr: int) -> str:
        """``name+0xoff`` for a kernel address (blocking on the first call: reads /proc/kallsyms)."""
        return self.table().symbolize(addr)


def ifname(ifindex: int) -> str:
    """The interface's name now (an ioctl: blocking), or ``if#N`` when there is none."""
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return f"if#{ifindex}"


class NameCache:
    """Names of kernel objects by id, from a blocking ``resolve`` (call :meth:`lookup` from a worker); each
    answer is kept ``ttl`` seconds, so renamed or replaced objects show their new name after that."""

    def __init__(self, resolve: Callable[[int], str], ttl: float) -> None:
        self.resolve = resolve
        self.ttl = ttl
        self._names: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def lookup(self, ids: Iterable[int]) -> dict[int, str]:
        """``{id: name}`` for every id, resolving the ones not known or expired."""
        now = time.monotonic()
        out: dict[int, str] = {}
        for i in set(ids):
            with self._lock:
                hit = self._names.get(i)
            if hit is None or now - hit[1] > self.ttl:
                hit = (self.resolve(i), now)
                with self._lock:
                    self._names[i] = hit
            out[i] = hit[0]
        return out

    def clear(self) -> None:
        with self._lock:
            self._names.clear()


class Symbolizer(Protocol):
    """Kernel addresses to ``name+0xoff`` without blocking (a loaded :class:`SymbolTable`, a recording)."""

    def symbolize(self, addr: int) -> str: ...


@dataclass(frozen=True, slots=True, eq=False)
class ResolvedNames:
    """What a worker resolved for one snapshot (program, inner map and interface names, kernel symbols):
    :class:`TypeAwareDecoder` only looks things up here, so decoding on the UI thread makes no syscall."""

    progs: Mapping[int, str] = field(default_factory=dict)
    maps: Mapping[int, str] = field(default_factory=dict)
    ifnames: Mapping[int, str] = field(default_factory=dict)
    symbols: Symbolizer | None = None


NO_NAMES = ResolvedNames()


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


class FriendlyDecoder:
    """Wraps a BTF decoder: the fields whose names and types say what they are (times, addresses,
    errnos: :mod:`mapexplorer.semantics`) come out in their friendly forms; the raw bytes stay one key
    away (the hex view). Other attributes are the inner decoder's."""

    def __init__(self, inner: Decoder, key_kinds: Mapping[str, str], value_kinds: Mapping[str, str],
                 clock: Callable[[], Clock] = Clock.now) -> None:
        self.inner = inner
        self.key_kinds = dict(key_kinds)
        self.value_kinds = dict(value_kinds)
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def int_layout(self, side: str) -> dict[str, tuple[int, str]]:
        """The inner decoder's integer leaves, less those shown in a friendly form (times, addresses...)."""
        inner = getattr(self.inner, "int_layout", None)
        if inner is None:
            return {}
        kinds = self.key_kinds if side == "key" else self.value_kinds
        bases = [k.replace("[]", "") for k in kinds]
        return {
            p: leaf
            for p, leaf in inner(side).items()
            if not any(b == "" or p == b or p.startswith((b + ".", b + "[")) for b in bases)
        }

    def decode_key(self, b: bytes) -> Any:
        key = self.inner.decode_key(b)
        return humanize(key, self.key_kinds, self.clock()) if self.key_kinds else key

    def decode_value(self, b: bytes) -> Any:
        value = self.inner.decode_value(b)
        return humanize(value, self.value_kinds, self.clock()) if self.value_kinds else value

    def decode_percpu(self, b: bytes) -> list[Any]:
        values = self.inner.decode_percpu(b)
        if not self.value_kinds:
            return values
        clock = self.clock()
        return [humanize(v, self.value_kinds, clock) for v in values]


def friendly(codec: Any, clock: Callable[[], Clock] = Clock.now) -> Decoder:
    """``codec`` (a BTF codec with ``key_kinds``/``value_kinds``) wrapped in a :class:`FriendlyDecoder`
    when some of its fields have a kind; the codec itself otherwise."""
    kk, vk = codec.key_kinds, codec.value_kinds
    return FriendlyDecoder(codec, kk, vk, clock) if kk or vk else codec


REWRITTEN_KEY_TYPES = frozenset({"lpm_trie", "cpumap"})
"""Map types whose keys :class:`TypeAwareDecoder` shows in another form."""
REWRITTEN_VALUE_TYPES = MAP_OF_MAPS_TYPES | {
    "prog_array", "stack_trace", "devmap", "devmap_hash", "cpumap", "sockmap", "sockhash",
    "reuseport_sockarray",
}
"""Map types whose values :class:`TypeAwareDecoder` shows in another form."""


class TypeAwareDecoder:
    """Wraps a decoder and rewrites keys/values of map types whose raw numbers mean something else:
    prog_array (program names), maps of maps (inner map names), stack_trace (kernel symbols), lpm_trie
    (CIDR keys), devmap (interface names).

    Names and symbols come from ``names``, resolved by the source's worker for the snapshot this decoder
    belongs to (:meth:`with_names`): an id it does not hold shows as ``?``, never as a syscall.
    """

    def __init__(self, inner: Decoder, type_name: str, names: ResolvedNames = NO_NAMES) -> None:
        self.inner = inner
        self.type_name = type_name
        self.names = names

    def with_names(self, names: ResolvedNames) -> TypeAwareDecoder:
        """This decoder over ``names`` (a new object: snapshots already handed out keep theirs)."""
        return TypeAwareDecoder(self.inner, self.type_name, names)

    def int_layout(self, side: str) -> dict[str, tuple[int, str]]:
        """Integer leaves of keys or values that this map type does not rewrite (none for a rewritten
        side: CIDR keys, program / inner map / interface names, stack frames, socket cookies)."""
        if side == "key" and self.type_name in REWRITTEN_KEY_TYPES:
            return {}
        if side == "value" and self.type_name in REWRITTEN_VALUE_TYPES:
            return {}
        inner = getattr(self.inner, "int_layout", None)
        return inner(side) if inner is not None else {}

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
            return {"prog_id": pid, "prog": self.names.progs.get(pid, "?")}
        if t in MAP_OF_MAPS_TYPES and len(b) >= 4:
            mid = int.from_bytes(b[:4], "little")
            return {"inner_map_id": mid, "inner_map": self.names.maps.get(mid, "?")}
        if t == "stack_trace":
            addrs = [a for (a,) in struct.iter_unpack("<Q", b[: len(b) - len(b) % 8]) if a]
            syms = self.names.symbols
            frames = [syms.symbolize(a) if syms is not None else f"0x{a:x}" for a in addrs]
            return {"depth": len(addrs), "frames": frames}
        if t in ("devmap", "devmap_hash") and len(b) >= 4:
            idx = int.from_bytes(b[:4], "little")
            return {"ifindex": idx, "ifname": self.names.ifnames.get(idx, f"if#{idx}")}
        if t == "cpumap" and len(b) >= 4:
            return {"qsize": int.from_bytes(b[:4], "little")}
        if t in ("sockmap", "sockhash", "reuseport_sockarray") and len(b) == 8:
            return {"socket_cookie": int.from_bytes(b, "little")}
        return self.inner.decode_value(b)
