"""What decoded values mean, guessed from BTF field names and types, and how to show them to a person.

One module shared by the TUI, ``dump`` (text) and ``watch`` (text): ``dump --json`` and ``watch --json``
keep the raw numbers for scripts.

- :func:`mapexplorer.codec.fields_from_btf` (or :func:`fields_from_c` for C text) describes every leaf
  of a type as a :class:`Field` (path, name, type names, size);
  :func:`classify` gives each a kind; :func:`kinds_of` does both.
- :func:`humanize` rewrites a decoded value (bpftool's formatted shape) with those kinds:

  ``time``  8-byte ``*_ns`` / ``ts`` / ``*time*`` fields: a timestamp (``bpf_ktime_get_ns``, ns since
            boot) as wall-clock time and age, a duration (``lat_ns``, ``delta_ns``, or a value too large
            to be a past timestamp) as ``1.234 ms``. Times become text, so they never get a rate column.
  ``ipv4`` / ``ipv6``  ``__be32``, or fields named like addr/ip/saddr/daddr/nexthop of 4 or 16 bytes.
  ``be16``  ``__be16`` (ports) in host order.
  ``errno`` ``ret`` / ``err`` / ``errno`` fields: ``-2 (ENOENT)``.

- :func:`bytes_ascii` shows bytes as hex with their ASCII when they hold text (mostly printable, or a
  printable run of 4 bytes, such as a name inside a struct read without BTF).
- :class:`CounterTracker` tells counters (values that only grew over the refreshes) from gauges.

Pure: no syscalls beyond reading the clocks in :meth:`Clock.now`, no Textual, no BTF (so the UI may use
it).
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TIME, IPV4, IPV6, BE16, ERRNO = "time", "ipv4", "ipv6", "be16", "errno"

MAX_DEPTH = 8  # nested structs deeper than this are left as decoded
_DURATION_WORDS = frozenset(
    {"lat", "latency", "dur", "duration", "delta", "elapsed", "runtime", "wait", "total", "sum", "avg",
     "mean", "min", "max", "interval", "period", "timeout", "budget", "slack", "spent", "cost"})
_ADDR_WORDS = frozenset({"addr", "ip", "ip4", "ip6", "ipv4", "ipv6", "saddr", "daddr", "nexthop", "gw",
                         "gateway", "src_ip", "dst_ip", "addr4", "addr6"})
_ERRNO_NAMES = frozenset({"ret", "err", "errno", "error", "retval", "rc"})
_UNIT_SUFFIX = {"ns": 1, "nsec": 1, "us": 1_000, "usec": 1_000, "ms": 1_000_000, "msec": 1_000_000,
                "sec": 1_000_000_000, "secs": 1_000_000_000}
_WORD = re.compile(r"[a-z]+\d*")


@dataclass(frozen=True, slots=True)
class Field:
    """One leaf of a key or value type, as :func:`humanize` addresses it.

    ``path`` is the leaf's place in the decoded value: ``a.b`` for struct members, ``arr[]`` for every
    element of an array (``""`` for the whole value). ``types`` are the type names met from the field's
    declaration down to the base type (``("__be32", "__u32", "unsigned int")``); ``size`` its bytes;
    ``elem_size`` the element size of an array (0 for scalars).
    """

    path: str
    name: str
    types: tuple[str, ...]
    size: int
    elem_size: int = 0
    signed: bool = False


def _words(name: str) -> list[str]:
    """``daddr6_hi`` -> ``["daddr", "hi"]`` (digits dropped: ``ip6`` and ``ip`` are both an address)."""
    return [w.rstrip("0123456789") for w in _WORD.findall(name.lower())]


def classify(f: Field) -> str | None:
    """The kind of a leaf (see the module docstring), or None when it is shown as decoded."""
    name = f.name.lower()
    words = _words(name)
    types = {t.lower() for t in f.types}
    if f.elem_size == 0:
        if "__be32" in types and f.size == 4:
            return BE16 if "port" in name else IPV4
        if "__be16" in types and f.size == 2:
            return BE16
        if f.size == 8 and (name == "ts" or name.endswith(("_ns", "_ts")) or name.startswith("ts_")
                            or "time" in name or "stamp" in name):
            return TIME
        addr_like = name in _ADDR_WORDS or any(w in _ADDR_WORDS for w in words)
        if f.size == 4 and addr_like and "port" not in name:
            return IPV4
        if name in _ERRNO_NAMES or (words and words[-1] in _ERRNO_NAMES and f.signed):
            return ERRNO
        return None
    if f.elem_size == 1 and (name in _ADDR_WORDS or any(w in _ADDR_WORDS for w in words)):
        return IPV4 if f.size == 4 else IPV6 if f.size == 16 else None
    if f.elem_size == 4 and f.size == 16 and (name in _ADDR_WORDS or any(w in _ADDR_WORDS for w in words)):
        return IPV6
    return None


# -- fields of a type (from BTF: mapexplorer.codec.fields_from_btf; from C text: below) ------------


_C_SIZES = {"char": 1, "u8": 1, "s8": 1, "__u8": 1, "__s8": 1, "unsigned char": 1, "signed char": 1,
            "u16": 2, "s16": 2, "__u16": 2, "__s16": 2, "__be16": 2, "short": 2, "unsigned short": 2,
            "u32": 4, "s32": 4, "__u32": 4, "__s32": 4, "__be32": 4, "int": 4, "unsigned int": 4,
            "u64": 8, "s64": 8, "__u64": 8, "__s64": 8, "__be64": 8, "long": 8, "unsigned long": 8,
            "long long": 8, "unsigned long long": 8, "long unsigned int": 8, "long long unsigned int": 8}
_C_MEMBER = re.compile(r"^\s*((?:const |volatile )*[A-Za-z_][\w ]*?)\s+(\w+)(?:\[(\d+)\])?;$")


def fields_from_c(c_text: str | None) -> list[Field]:
    """Leaves of a flat C type as :mod:`mapexplorer.btf.cprint` prints it (``struct x { u64 ts_ns; ... }``
    or ``typedef __u64 u64;``): for recordings, which keep the C text but not the BTF. Nested structs
    are skipped."""
    if not c_text:
        return []
    text = c_text.strip()
    if text.startswith("typedef ") or "{" not in text:
        base = text.removeprefix("typedef ").rstrip(";").split()
        tname = " ".join(base[:-1]) if text.startswith("typedef ") else " ".join(base)
        size = _C_SIZES.get(tname, 0)
        signed = tname.startswith(("s", "__s", "int", "long"))
        return [Field("", "", (tname,), size, 0, signed)] if size else []
    out = []
    lines = text.splitlines()[1:-1]
    for line in lines:
        m = _C_MEMBER.match(line)
        if not m or line.startswith("        "):
            continue
        tname, name, n = m.group(1).strip(), m.group(2), m.group(3)
        if tname.startswith("enum "):
            size = 4
        else:
            size = _C_SIZES.get(tname.removeprefix("const ").removeprefix("volatile "), 0)
        if not size:
            continue
        signed = tname.startswith(("s", "__s", "int", "long", "enum"))
        out.append(Field(name, name, (tname,), size * int(n), size, False) if n else
                   Field(name, name, (tname,), size, 0, signed))
    return out


def kinds_of(fields: Iterable[Field]) -> dict[str, str]:
    """``{path: kind}`` for the leaves that have a kind."""
    out = {}
    for f in fields:
        k = classify(f)
        if k is not None:
            out[f.path] = k
    return out


# -- showing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clock:
    """The clocks a timestamp is shown against: wall time (s) and CLOCK_MONOTONIC (ns), which is what
    ``bpf_ktime_get_ns`` returns, read at the same moment."""

    wall: float
    mono_ns: int

    @classmethod
    def now(cls) -> Clock:
        return cls(time.time(), time.monotonic_ns())

    def wall_of(self, mono_ns: int) -> float:
        """Wall-clock seconds of a CLOCK_MONOTONIC timestamp."""
        return self.wall - (self.mono_ns - mono_ns) / 1e9


def fmt_duration(ns: float) -> str:
    """``451 ns``, ``3.2 µs``, ``1.234 ms``, ``12.3 s``, ``5m12s``, ``2h03m``, ``3d04h``."""
    a = abs(ns)
    sign = "-" if ns < 0 else ""
    if a < 1_000:
        return f"{sign}{a:.0f} ns"
    if a < 1_000_000:
        return f"{sign}{a / 1e3:.3g} µs"
    if a < 1_000_000_000:
        return f"{sign}{a / 1e6:.4g} ms"
    s = a / 1e9
    if s < 60:
        return f"{sign}{s:.3g} s" if s < 10 else f"{sign}{s:.1f} s"
    if s < 3600:
        return f"{sign}{int(s // 60)}m{int(s % 60):02d}s"
    if s < 86400:
        return f"{sign}{int(s // 3600)}h{int(s % 3600 // 60):02d}m"
    return f"{sign}{int(s // 86400)}d{int(s % 86400 // 3600):02d}h"


def fmt_age(seconds: float) -> str:
    """How long ago: ``now``, ``850ms ago``, ``3.2s ago``, ``5m12s ago``; ``in 2.0s`` for the future."""
    if abs(seconds) < 0.0005:
        return "now"
    text = fmt_duration(abs(seconds) * 1e9).replace(" ", "")
    return f"{text} ago" if seconds > 0 else f"in {text}"


def fmt_wall(t: float, *, ms: bool = True, now: float | None = None) -> str:
    """``15:20:48.123`` (local time; the date too when it is not the day of ``now``, today by default:
    a caller showing times against a clock passes the clock's wall time)."""
    lt = time.localtime(t)
    text = time.strftime("%H:%M:%S", lt)
    if ms:
        text += f".{int(t % 1 * 1000):03d}"
    if time.strftime("%Y-%m-%d", lt) != time.strftime("%Y-%m-%d", time.localtime(now)):
        text = time.strftime("%Y-%m-%d ", lt) + text
    return text


def time_text(name: str, ns: int, clock: Clock) -> str:
    """A time field as text: a timestamp as wall clock and age, else a duration (see module doc)."""
    words = _words(name)
    scale = _UNIT_SUFFIX.get(words[-1], 1) if words else 1
    v = ns * scale
    if ns == 0:
        return "0"
    if any(w in _DURATION_WORDS for w in words):
        return fmt_duration(v)
    if not 0 < v <= clock.mono_ns + 60_000_000_000:
        # later than now: not a past bpf_ktime_get_ns (or the clock is unknown, as in a synthetic
        # recording): still a point in time, counted from boot
        return f"boot+{fmt_duration(v).replace(' ', '')}"
    wall = clock.wall_of(v)
    return f"{fmt_wall(wall, now=clock.wall)} ({fmt_age(clock.wall - wall)})"


def age_text(seconds: float) -> str:
    """:func:`fmt_age` in one function (no :func:`fmt_duration` call, no space to remove): the same text,
    for the formatter that shows millions of ages."""
    a = abs(seconds)
    if a < 0.0005:
        return "now"
    a *= 1e9
    if a < 1_000:
        t = f"{a:.0f}ns"
    elif a < 1_000_000:
        t = f"{a / 1e3:.3g}µs"
    elif a < 1_000_000_000:
        t = f"{a / 1e6:.4g}ms"
    else:
        s = a / 1e9
        if s < 60:
            t = f"{s:.3g}s" if s < 10 else f"{s:.1f}s"
        elif s < 3600:
            t = f"{int(s // 60)}m{int(s % 60):02d}s"
        elif s < 86400:
            t = f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"
        else:
            t = f"{int(s // 86400)}d{int(s % 86400 // 3600):02d}h"
    return f"{t} ago" if seconds > 0 else f"in {t}"


class TimeFormatter:
    """:func:`time_text` of one field for many values against one clock (``watch`` text, in bulk): what
    the field's name says is worked out once, and each second's wall-clock text once per second seen.

    Call :meth:`set_clock` before each batch; then ``formatter.text(ns) == time_text(name, ns, clock)``
    (the date is compared with today as of :meth:`set_clock`, not at each call). ``text`` is a plain
    function (no method binding per call, the clock in closure cells).
    """

    MAX_SECONDS = 4096  # distinct seconds remembered (the cache is dropped when it holds more)

    def __init__(self, name: str) -> None:
        words = _words(name)
        self.set_clock, self.text = _time_formatter(
            _UNIT_SUFFIX.get(words[-1], 1) if words else 1, any(w in _DURATION_WORDS for w in words),
            self.MAX_SECONDS,
        )

    def __call__(self, ns: int) -> str:
        return self.text(ns)


_MS: dict[float, str] = {i: f".{i:03d}" for i in range(1001)}
"""int(x % 1 * 1000) -> fmt_wall's milliseconds (keyed by the float floor: 3.0 finds 3)."""


def _time_formatter(scale: int, duration: bool, max_seconds: int
                    ) -> tuple[Callable[[Clock], None], Callable[[int], str]]:
    wall0, mono0, limit, today = 0.0, 0, 0, ""
    seconds: dict[float, str] = {}
    floor, localtime, strftime = math.floor, time.localtime, time.strftime

    def set_clock(clock: Clock) -> None:
        nonlocal wall0, mono0, limit, today
        wall0, mono0, limit = clock.wall, clock.mono_ns, clock.mono_ns + 60_000_000_000
        now_day = strftime("%Y-%m-%d", localtime())
        if now_day != today:
            today = now_day
            seconds.clear()

    def text(ns: int) -> str:
        if ns == 0:
            return "0"
        v = ns * scale
        if duration:
            return fmt_duration(v)
        if not 0 < v <= limit:
            return f"boot+{fmt_duration(v).replace(' ', '')}"
        wall = wall0 - (mono0 - v) / 1e9  # Clock.wall_of
        sec = wall // 1  # the second time.localtime(wall) shows (a float equal to floor(wall))
        head = seconds.get(sec)
        if head is None:
            lt = localtime(floor(wall))
            head = strftime("%H:%M:%S", lt)
            if strftime("%Y-%m-%d", lt) != today:
                head = strftime("%Y-%m-%d ", lt) + head
            if len(seconds) >= max_seconds:
                seconds.clear()
            seconds[sec] = head
        # fmt_age(wall0 - wall), as age_text writes it, inline for the usual ages (below a minute)
        head += _MS[wall % 1 * 1000 // 1]  # int(wall % 1 * 1000), as fmt_wall writes it
        age = wall0 - wall
        a = abs(age)
        if a < 0.0005:
            return head + " (now)"
        a *= 1e9
        if a < 1_000:
            t = f"{a:.0f}ns"
        elif a < 1_000_000:
            t = f"{a / 1e3:.3g}µs"
        elif a < 1_000_000_000:
            t = f"{a / 1e6:.4g}ms"
        elif (s := a / 1e9) < 60:
            t = f"{s:.3g}s" if s < 10 else f"{s:.1f}s"
        else:
            return f"{head} ({age_text(age)})"
        return f"{head} ({t} ago)" if age > 0 else f"{head} (in {t})"

    return set_clock, text


def errno_text(v: int) -> str:
    """``-2 (ENOENT)`` for a negative errno, ``2 (ENOENT)`` for a field named errno; else the number."""
    name = _errno.errorcode.get(abs(v)) if v else None
    return f"{v} ({name})" if name else str(v)


def ip_text(v: Any, kind: str) -> Any:
    """An address from a ``__be32`` number (decoded little-endian) or a list of bytes; ``v`` unchanged
    when it has another shape."""
    try:
        if isinstance(v, int) and not isinstance(v, bool) and kind == IPV4:
            return str(ipaddress.IPv4Address((v & 0xFFFFFFFF).to_bytes(4, "little")))
        if isinstance(v, list) and all(isinstance(x, int) for x in v):
            if len(v) == 4 and kind == IPV4:
                return str(ipaddress.IPv4Address(bytes(x & 0xFF for x in v)))
            if len(v) == 16 and kind == IPV6:
                return str(ipaddress.IPv6Address(bytes(x & 0xFF for x in v)))
            if len(v) == 4 and kind == IPV6:  # __u32[4], each read little-endian
                return str(ipaddress.IPv6Address(b"".join((x & 0xFFFFFFFF).to_bytes(4, "little")
                                                          for x in v)))
    except ValueError:
        return v
    return v


def show(kind: str, name: str, v: Any, clock: Clock) -> Any:
    """One leaf of ``kind`` for a person (text), or ``v`` unchanged when it does not have the shape."""
    if kind in (IPV4, IPV6):
        return ip_text(v, kind)
    if not isinstance(v, int) or isinstance(v, bool):
        return v
    if kind == TIME:
        return time_text(name, v, clock)
    if kind == BE16:
        return int.from_bytes((v & 0xFFFF).to_bytes(2, "little"), "big")
    if kind == ERRNO:
        if v < 0 or name.lower() == "errno":
            return errno_text(v)
        return v
    return v


def humanize(value: Any, kinds: Mapping[str, str], clock: Clock, path: str = "") -> Any:
    """``value`` (decoded) with its leaves of known kinds replaced by their text (see :func:`show`)."""
    if not kinds:
        return value
    kind = kinds.get(path)
    if kind is not None:
        return show(kind, path.rsplit(".", 1)[-1].removesuffix("[]"), value, clock)
    if isinstance(value, dict):
        pre = f"{path}." if path else ""
        return {k: humanize(v, kinds, clock, pre + k) for k, v in value.items()}
    if isinstance(value, list):
        sub = f"{path}[]"
        if sub in kinds or any(p.startswith(sub + ".") for p in kinds):
            return [humanize(x, kinds, clock, sub) for x in value]
    return value


def printable_share(data: bytes) -> float:
    """Share of printable ASCII bytes before the trailing NULs (0 for no bytes)."""
    data = data.rstrip(b"\0")
    if not data:
        return 0.0
    return sum(32 <= b < 127 for b in data) / len(data)


_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{4,}")
"""Four printable ASCII bytes in a row: a string inside binary data (what ``strings`` looks for)."""


def has_text(data: bytes) -> bool:
    """Whether bytes are worth an ASCII column: at least half of them (before trailing NULs) and at
    least 4 are printable, or they hold a run of 4 printable bytes (a name inside a struct read
    without BTF, such as a queue element's ``comm``)."""
    if len(data.rstrip(b"\0")) >= 4 and printable_share(data) >= 0.5:
        return True
    return _PRINTABLE_RUN.search(data) is not None


def bytes_ascii(data: bytes, limit: int = 64) -> str:
    """``68 65 6c 6c 6f 00  |hello.|`` when the bytes hold text (:func:`has_text`: mostly printable, or
    a printable run of 4); plain hex otherwise. ``limit`` bytes at most, ``…`` after them."""
    part = data[:limit]
    more = "…" if len(data) > limit else ""
    hexed = part.hex(" ") + more
    if has_text(part):
        return f"{hexed}  |{''.join(chr(b) if 32 <= b < 127 else '.' for b in part)}|"
    return hexed


# -- counters and gauges ------------------------------------------------------------------------------


class CounterTracker:
    """Which numeric fields behave like counters: seen to change, and never seen to decrease.

    ``observe(path, before, now)`` for every compared pair of refreshes; a field is a counter once it grew
    and as long as it never went down (a gauge, a timestamp reset or an id that moves gets no rate).
    """

    def __init__(self) -> None:
        self.grew: set[str] = set()
        self.fell: set[str] = set()

    def observe(self, path: str, before: Any, now: Any) -> None:
        if not (isinstance(before, int | float) and isinstance(now, int | float)):
            return
        if isinstance(before, bool) or isinstance(now, bool):
            return
        if now > before:
            self.grew.add(path)
        elif now < before:
            self.fell.add(path)

    @property
    def counters(self) -> frozenset[str]:
        return frozenset(self.grew - self.fell)

    def is_counter(self, path: str) -> bool:
        return path in self.grew and path not in self.fell


def lpm_cidr(key: bytes) -> str | None:
    """An LPM trie key ``{u32 prefixlen; u8 data[4|16]}`` as ``10.0.0.0/8``; None for other shapes."""
    if len(key) not in (8, 20):
        return None
    plen = int.from_bytes(key[:4], "little")
    data = key[4:]
    addr = ipaddress.IPv4Address(data) if len(data) == 4 else ipaddress.IPv6Address(data)
    return f"{addr}/{plen}"
