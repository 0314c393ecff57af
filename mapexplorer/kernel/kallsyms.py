"""Names of the kernel functions a BPF program's translated instructions call.

In ``xlated_prog_insns`` a helper call's ``imm`` is the callee's offset from ``__bpf_call_base`` (the
verifier has already replaced map helpers by the map type's own functions, e.g. ``htab_map_update_elem``).
This module resolves such addresses through /proc/kallsyms, keeping only the functions that matter for
telling map reads from map writes, so the table stays small. Loaded once per process, on first use (from a
worker: reading kallsyms takes about 0.1 s).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

KALLSYMS = "/proc/kallsyms"

# Only symbols whose names say something about map access are kept.
_WORDS = ("elem", "ringbuf", "event_output", "stackid", "storage", "redirect", "sock_map", "sock_hash",
          "tail_call", "for_each", "perf_event_read", "lookup")
_BASE = re.compile(rb"^([0-9a-fA-F]+) [tTwW] __bpf_call_base$", re.M)


@dataclass(frozen=True, slots=True)
class CallTable:
    """``__bpf_call_base`` and address -> name for the kept functions."""

    base: int
    names: dict[int, str]
    hidden: str = ""
    """Why addresses cannot be resolved ("" when they can)."""

    def name_of(self, imm: int) -> str | None:
        """The function a helper call with this ``imm`` reaches, or None when unknown."""
        if not self.base:
            return None
        return self.names.get(self.base + imm)


_table: CallTable | None = None
_lock = threading.Lock()


def parse(lines: list[str] | None = None, path: str = KALLSYMS) -> CallTable:
    """Build the call table from kallsyms text (``lines``) or the file at ``path``."""
    if lines is None:
        try:
            text = _read(path)
        except OSError as exc:
            return CallTable(0, {}, f"{path} is not readable ({exc.strerror})")
    else:
        text = "".join(lines).encode()
    m = _BASE.search(text)
    if m is None:
        return CallTable(0, {}, "kallsyms has no __bpf_call_base: helper calls cannot be named")
    base = int(m[1], 16)
    if not base:
        why = "kallsyms hides addresses (kernel.kptr_restrict): helper calls cannot be named"
        return CallTable(0, {}, why)
    return CallTable(base, _interesting(text))


def _read(path: str) -> bytes:
    """The whole file in 1 MiB reads (the kernel writes /proc/kallsyms, 5 MB, a third faster into large
    reads than into the default buffer's)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        parts = []
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


def _interesting(text: bytes) -> dict[int, str]:
    """Address -> name of the built-in text symbols whose names hold one of the words (the first such
    name of an address, in file order). The words are found by ``bytes.find`` and only their lines are
    split: splitting all 120,000 lines of a kallsyms cost a one-shot ``list`` a tenth of a second."""
    starts: set[int] = set()
    for word in _WORDS:
        w = word.encode()
        at = text.find(w)
        while at >= 0:
            starts.add(text.rfind(b"\n", 0, at) + 1)
            at = text.find(w, at + len(w))
    names: dict[int, str] = {}
    for start in sorted(starts):
        end = text.find(b"\n", start)
        parts = text[start : end if end >= 0 else len(text)].split(None, 3)
        # three fields only: a module's symbol has a fourth ([module]), and helpers are never in modules
        if len(parts) == 3 and parts[1] in (b"t", b"T", b"w", b"W"):
            names.setdefault(int(parts[0], 16), parts[2].decode(errors="replace"))
    return names


def call_table() -> CallTable:
    """The process-wide call table (read from /proc/kallsyms on first use)."""
    global _table
    with _lock:
        if _table is None:
            _table = parse()
        return _table
