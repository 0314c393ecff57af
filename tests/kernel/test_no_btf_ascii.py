"""Maps without BTF show printable ASCII next to the hex of their values in `dump` text (queue/stack heads
by peek, hash values), while `dump --json` keeps bpftool's hex strings."""

from __future__ import annotations

import json
import struct

import pytest
from helpers import needs_root, run_cli

pytestmark = [needs_root, pytest.mark.kernel]


def _element(ts: int, pid: int, comm: bytes) -> bytes:
    """{u64 ts; u32 pid; u32 ppid; char comm[16]}, as the demo's queue holds, but with no BTF."""
    return struct.pack("<QII16s", ts, pid, 1, comm)


@pytest.mark.parametrize("kind", ["queue", "stack"])
def test_dump_text_of_a_queue_without_btf_shows_the_ascii(new_map, kind) -> None:
    m = new_map(kind, 0, 32, 4, name=f"dsx_{kind}")
    first, last = _element(123456789012, 4242, b"dsx-first"), _element(123456789999, 4243, b"dsx-last")
    m.update(None, first)
    m.update(None, last)
    head = first if kind == "queue" else last
    proc = run_cli("dump", str(m.info.id))
    ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in head)
    assert proc.stdout.splitlines() == [f"head: {head.hex(' ')}  |{ascii_}|"]
    assert "dsx-first" in ascii_ or "dsx-last" in ascii_
    # peek took nothing: both elements are still there, and --json is still bpftool's hex
    out = json.loads(run_cli("dump", str(m.info.id), "--json").stdout)
    assert out == [{"value": [f"0x{b:02x}" for b in head]}]
    assert m.peek() == head


def test_dump_text_of_a_hash_without_btf_shows_the_ascii_of_values_that_hold_text(new_map) -> None:
    m = new_map("hash", 4, 32, 4, name="dsx_hash_nobtf")
    named = _element(1, 7, b"dsx-named")
    binary = bytes(range(200, 232))  # nothing printable
    m.update(struct.pack("<I", 1), named)
    m.update(struct.pack("<I", 2), binary)
    lines = sorted(run_cli("dump", str(m.info.id)).stdout.splitlines())
    ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in named)
    assert lines == [
        "Found 2 elements",
        f"key: 01 00 00 00  value: {named.hex(' ')}  |{ascii_}|",
        f"key: 02 00 00 00  value: {binary.hex(' ')}",
    ]
