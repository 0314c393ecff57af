"""Record tests/fixtures/maps.json from real maps: the demo's maps (run ``mapexplorer demo`` first) plus a
per-CPU array with a BTF struct value that this script creates, fills and removes.

Every map is read through :class:`mapexplorer.kernel_source.KernelSource` ``FRAMES`` times, one second
apart, and stored as raw bytes plus the decoded form the UI shows, so
:class:`mapexplorer.fixture_source.FixtureSource` can replay it without a kernel. Run as root:
``DEMO_PID=<pid of mapexplorer demo> .venv/bin/python scripts/record_fixtures.py``
(DEMO_PID picks that demo's maps when other demos run too).
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel_source import KernelSource
from mapexplorer.model import MapGone, MapSnapshot

FRAMES = 6
MAX_ENTRIES_PER_FRAME = 24
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "maps.json"
PERCPU_ARRAY = 6


def pkt_stats_btf() -> tuple[bytes, int, int]:
    """BTF for ``u32`` keys and ``struct pkt_stats { u64 packets; u64 bytes; }`` values."""
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    u64 = b.int("long long unsigned int", 8)
    u32t = b.typedef("u32", u32)
    u64t = b.typedef("u64", u64)
    stats = b.struct("pkt_stats", 16, [("packets", u64t, 0), ("bytes", u64t, 64)])
    return b.blob(), u32t, stats


def create_pcpu_stats() -> tuple[int, int]:
    blob, key_id, value_id = pkt_stats_btf()
    btf_fd = load_btf(blob)
    fd = maps.create_map(
        PERCPU_ARRAY,
        4,
        16,
        8,
        name="fx_pcpu_stats",
        btf_fd=btf_fd,
        btf_key_type_id=key_id,
        btf_value_type_id=value_id,
    )
    return fd, btf_fd


def fill_pcpu_stats(fd: int, frame: int) -> None:
    """Each CPU's packets/bytes grow at its own, bursty pace (so the drill-down sparklines have a shape)."""
    n = maps.possible_cpu_count()
    m = maps.Map(fd)
    for k in range(8):
        cells = []
        for c in range(n):
            steps = sum(1 + (f * (c + 2) + k) % 5 for f in range(frame + 1))
            packets = (k + 1) * (c + 1) * 37 * steps + k * 1000
            cells.append(struct.pack("<QQ", packets, packets * (64 + 8 * k)))
        m.update(struct.pack("<I", k), b"".join(cells))


def entry_json(snap: MapSnapshot, i: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if snap.key_size:
        out["key_hex"] = snap.key_raw(i).hex()
        out["key"] = snap.key(i)
    if snap.facts.row.percpu:
        decoded = snap.value(i) or []
        out["values"] = [
            {"value_hex": raw.hex(), "value": dec}
            for raw, dec in zip(snap.cpu_slices(i), decoded, strict=True)
        ]
    else:
        raw = snap.value_raw(i)
        out["value_hex"] = raw.hex()
        out["value"] = snap.value(i)
    return out


def main() -> int:
    source = KernelSource()
    fd, btf_fd = create_pcpu_stats()
    try:
        fill_pcpu_stats(fd, 0)
        owner = f"[{os.environ['DEMO_PID']}]" if "DEMO_PID" in os.environ else ""
        rows = [
            r
            for r in source.list_maps().rows
            if r.name.startswith("fx_") or (r.name.startswith("demo_") and any(owner in o for o in r.owners))
        ]
        if not any(r.name.startswith("demo_") for r in rows):
            sys.stderr.write("no demo maps: run `mapexplorer demo` in another terminal first\n")
        recorded: dict[int, dict[str, Any]] = {}
        for r in rows:
            recorded[r.id] = {
                "id": r.id,
                "name": r.name,
                "type": r.type_name,
                "key_size": r.key_size,
                "value_size": r.value_size,
                "max_entries": r.max_entries,
                "flags": r.flags,
                "memlock": r.memlock,
                "frozen": r.frozen,
                "btf_id": r.btf_id,
                "owners": list(r.owners),
                "progs": list(r.progs),
                "pinned": list(r.pinned),
                "frames": [],
            }
        for frame in range(FRAMES):
            fill_pcpu_stats(fd, frame)
            for r in rows:
                try:
                    snap = source.read_map(r.id)
                except (MapGone, OSError) as exc:
                    sys.stderr.write(f"map {r.id} {r.name}: {exc}: left out\n")
                    recorded[r.id]["gone"] = True
                    continue
                rec = recorded[r.id]
                facts = snap.facts
                rec.update(
                    has_btf=facts.has_btf,
                    key_c=facts.key_c,
                    value_c=facts.value_c,
                    kind=snap.kind,
                    note=snap.note or facts.note,
                )
                n = min(snap.count, MAX_ENTRIES_PER_FRAME)
                rec["frames"].append([entry_json(snap, i) for i in range(n)])
            time.sleep(1.0)
    finally:
        os.close(fd)
        os.close(btf_fd)
    data = {
        "recorded_on": os.uname().release,
        "ncpus": 4,
        "note": "recorded on a 2-CPU VM; FixtureSource spreads per-CPU values over its fixed CPU count",
        "maps": [
            recorded[i] for i in sorted(recorded) if recorded[i]["frames"] and not recorded[i].get("gone")
        ],
    }
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    sys.stderr.write(f"wrote {OUT} ({len(data['maps'])} maps)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
