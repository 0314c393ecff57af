"""kernel.kallsyms.parse on this machine's /proc/kallsyms keeps exactly what a plain line-by-line reading
keeps: every built-in text symbol whose name holds one of the map words, the first name of each address."""

from __future__ import annotations

import re

import pytest
from helpers import needs_root

from mapexplorer.kernel import kallsyms

pytestmark = [pytest.mark.kernel, needs_root]

WORDS = re.compile(r"elem|ringbuf|event_output|stackid|storage|redirect|sock_map|sock_hash|tail_call|"
                   r"for_each|perf_event_read|lookup")


def test_call_table_equals_a_line_by_line_reading() -> None:
    with open(kallsyms.KALLSYMS) as f:
        lines = f.readlines()
    base = 0
    names: dict[int, str] = {}
    for line in lines:
        parts = line.split(None, 3)
        if len(parts) < 3 or parts[1] not in ("t", "T", "w", "W"):
            continue
        if parts[2] == "__bpf_call_base":
            base = int(parts[0], 16)
        elif len(parts) == 3 and WORDS.search(parts[2]):
            names.setdefault(int(parts[0], 16), parts[2])
    table = kallsyms.parse()
    assert base and table.base == base and table.hidden == ""
    assert table.names == names
    assert any(n.startswith("htab_map_") for n in names.values())
