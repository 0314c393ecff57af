"""Stack frames as text: kernel addresses through /proc/kallsyms (``[k] do_sys_openat2+0x7f``), user
addresses as hex, with the owning process's mapping from /proc/PID/maps when that process still exists
(``0x7f13cdc29001 libc.so.6+0x29001``).

Reads /proc only (no bpf(), no Textual); :class:`Kallsyms` loads on first use, so call it off the UI thread.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

from mapexplorer.decoders import KERNEL_SPACE, text_bytes
from mapexplorer.decoders import Kallsyms as SymbolTableKallsyms


class Kallsyms(SymbolTableKallsyms):
    """The TUI's kallsyms reader (:class:`mapexplorer.decoders.Kallsyms`: one parser, one cache) with the
    lookups frame text needs."""

    def lookup(self, addr: int) -> str | None:
        """``sym+0xoff`` for a kernel text address; None when no symbol covers it."""
        table = self.table()
        i = bisect.bisect_right(table.addrs, addr) - 1
        if i < 0:
            return None
        return f"{table.names[i]}+0x{addr - table.addrs[i]:x}"

    def symbolize(self, addr: int) -> str:
        """One frame without a process: ``[k] sym+0xoff`` or ``[u] 0x7f…`` (see :func:`frame_text`)."""
        return frame_text(addr, self)


@dataclass(frozen=True, slots=True)
class Mapping:
    """One line of /proc/PID/maps."""

    start: int
    end: int
    offset: int
    path: str


def process_maps(pid: int, proc: str = "/proc") -> list[Mapping] | None:
    """The file-backed and anonymous mappings of a process; None when it no longer exists."""
    try:
        with open(f"{proc}/{pid}/maps") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    out = []
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) < 5:
            continue
        lo, _, hi = parts[0].partition("-")
        try:
            path = parts[5] if len(parts) > 5 else ""
            out.append(Mapping(int(lo, 16), int(hi, 16), int(parts[2], 16), path))
        except ValueError:
            continue
    return out


def frame_text(addr: int, ksyms: Kallsyms, maps: list[Mapping] | None = None) -> str:
    """One stack frame as text.

    Kernel: ``[k] sym+0xoff`` (``[k] 0xffff…`` when no symbol covers it). User: ``[u] 0x7f…``, with
    ``path+0xoff`` when ``maps`` (the owner's /proc/PID/maps) has the address, ``(not mapped)`` when it has
    not, and the ASCII when the "address" is text bytes.
    """
    if addr >= KERNEL_SPACE:
        sym = ksyms.lookup(addr)
        return f"[k] {sym}" if sym else f"[k] 0x{addr:x}"
    text = f"[u] 0x{addr:x}"
    if maps is not None:
        for m in maps:
            if m.start <= addr < m.end:
                name = os.path.basename(m.path) if m.path else "[anon]"
                return f"{text} {name}+0x{addr - m.start + m.offset:x}"
        text += " (not mapped)"
    s = text_bytes(addr)
    if s is not None:
        text += f" {s!r}: text bytes, not code"
    return text
