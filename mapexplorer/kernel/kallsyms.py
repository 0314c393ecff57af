"""Names of the kernel functions a BPF program's translated instructions call.

In ``xlated_prog_insns`` a helper call's ``imm`` is the callee's offset from ``__bpf_call_base`` (the
verifier has already replaced map helpers by the map type's own functions, e.g. ``htab_map_update_elem``).
This module resolves such addresses through /proc/kallsyms, keeping only the functions that matter for
telling map reads from map writes, so the table stays small. Loaded once per process, on first use (from a
worker: reading kallsyms takes about 0.1 s).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

KALLSYMS = "/proc/kallsyms"

# Only symbols whose names say something about map access are kept.
_INTERESTING = re.compile(
    r"elem|ringbuf|event_output|stackid|storage|redirect|sock_map|sock_hash|tail_call|for_each|"
    r"perf_event_read|lookup"
)


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
            with open(path) as f:
                lines = f.readlines()
        except OSError as exc:
            return CallTable(0, {}, f"{path} is not readable ({exc.strerror})")
    base = 0
    found = False
    names: dict[int, str] = {}
    search = _INTERESTING.search
    for line in lines:
        parts = line.split(None, 3)
        if len(parts) < 3 or parts[1] not in "tTwW":
            continue
        name = parts[2]
        if name == "__bpf_call_base":
            found = True
            base = int(parts[0], 16)
        elif search(name) and len(parts) == 3:  # built-in only: helpers are never in modules
            names.setdefault(int(parts[0], 16), name)
    if not found:
        return CallTable(0, {}, "kallsyms has no __bpf_call_base: helper calls cannot be named")
    if not base:
        why = "kallsyms hides addresses (kernel.kptr_restrict): helper calls cannot be named"
        return CallTable(0, {}, why)
    return CallTable(base, names)


def call_table() -> CallTable:
    """The process-wide call table (read from /proc/kallsyms on first use)."""
    global _table
    with _lock:
        if _table is None:
            _table = parse()
        return _table
