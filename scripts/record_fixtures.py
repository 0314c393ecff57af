"""Record the fixture recordings (tests/fixtures/maps.jsonl, maps-64cpu.jsonl.gz) from real maps: the demo's
maps (run ``mapexplorer demo`` first) plus a per-CPU array with a BTF struct value that this script creates,
fills and removes.

Every map is recorded ``FRAMES`` times, one second apart, by :class:`mapexplorer.recorder.Recorder` (the
``mapexplorer record`` format, docs/recording.md; at most ``MAX_ENTRIES_PER_FRAME`` entries per frame), then
written twice with per-CPU values spread over 4 and 64 CPUs so the snapshots show many CPUs whatever the
recording machine has: CPU c beyond the recorded ones repeats CPU ``c % n`` with its integers scaled by 2 to
5 (decoded with the map's BTF, scaled, encoded back). Run as root:
``DEMO_PID=<pid of mapexplorer demo> .venv/bin/python scripts/record_fixtures.py [--out DIR]``
(DEMO_PID picks that demo's maps when other demos run too).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.codec import MapCodec, codec_for_map_line
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.maptypes import PERCPU_TYPES
from mapexplorer.recorder import Recorder
from mapexplorer.recording import Recording, Writer, read

FRAMES = 6
MAX_ENTRIES_PER_FRAME = 24
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
TARGETS = ((4, "maps.jsonl"), (64, "maps-64cpu.jsonl.gz"))
PERCPU_ARRAY = 6
EPOCH = 1_700_000_000.0
"""Wall time of the first frame in the fixtures (frames one second apart), so snapshots never change."""


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


def scale(dec: Any, factor: int) -> Any:
    """The integers of a decoded value multiplied by ``factor`` (booleans and text unchanged)."""
    if isinstance(dec, bool) or not isinstance(dec, int | dict | list):
        return dec
    if isinstance(dec, int):
        return dec * factor
    if isinstance(dec, dict):
        return {k: scale(v, factor) for k, v in dec.items()}
    return [scale(v, factor) for v in dec]


def spread(value: bytes, n: int, ncpus: int, value_size: int, codec: MapCodec) -> bytes:
    """A per-CPU value of ``n`` CPUs spread over ``ncpus``: CPU c >= n is CPU ``c % n`` scaled by 2 to 5."""
    slot = (value_size + 7) & ~7
    cells = []
    for c in range(ncpus):
        src = value[(c % n) * slot : (c % n) * slot + slot]
        factor = 2 + ((c // n) * 3 + c) % 4 if c >= n else 1
        if factor != 1:
            dec = codec.decode_percpu(src)[0]  # the codec is made for 1 CPU: one slot
            if isinstance(dec, int | dict):
                raw = scale(dec, factor)
                src = (raw % (1 << 8 * value_size)).to_bytes(value_size, "little") if isinstance(raw, int) \
                    else codec.encode_value(json.dumps(raw))
        cells.append(src[:value_size].ljust(slot, b"\0"))
    return b"".join(cells)


def write_fixture(rec: Recording, ncpus: int, path: Path) -> None:
    n = rec.header.possible_cpus
    with Writer(path) as w:
        w.header(kernel=rec.header.kernel, possible_cpus=ncpus, hostname="fixture", wall=EPOCH, mono=0.0,
                 note=f"the demo's maps and fx_pcpu_stats, recorded on a {n}-CPU machine; per-CPU values "
                      f"spread over {ncpus} CPUs (CPU c >= {n} repeats CPU c % {n}, integers x2 to x5)")
        first: dict[bytes, int] = {}
        for m in rec.maps.values():
            blob_from = first.get(m.btf) if m.btf else None
            w.map(m.facts, btf=None if blob_from else m.btf, btf_from=blob_from or 0,
                  key_type_id=m.key_type_id, value_type_id=m.value_type_id, kind=m.kind, note=m.note)
            if m.btf and not blob_from:
                first[m.btf] = m.id
        for f in range(FRAMES):
            for m in rec.maps.values():
                frames = rec.frames.get(m.id, [])
                if f >= len(frames) or frames[f].gone:
                    continue
                fr = frames[f]
                values, stride = fr.values, fr.stride
                if m.type_name in PERCPU_TYPES and fr.stride:
                    vs = int(m.facts["value_size"])
                    codec = codec_for_map_line(m, 1)
                    values = b"".join(
                        spread(fr.values[i * fr.stride : (i + 1) * fr.stride], n, ncpus, vs, codec)
                        for i in range(fr.count)
                    )
                    stride = ((vs + 7) & ~7) * ncpus
                w.frame(m.id, t=float(f), wall=EPOCH + f, keys=fr.keys, values=values, count=fr.count,
                        key_size=fr.key_size, stride=stride, round=f)
        w.names(**rec.names)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=OUT, help="where to write the fixtures")
    args = ap.parse_args()
    fd, btf_fd = create_pcpu_stats()
    try:
        fill_pcpu_stats(fd, 0)
        owner = int(os.environ["DEMO_PID"]) if "DEMO_PID" in os.environ else None
        from mapexplorer.kernel import inventory

        ids = [
            r.info.id for r in inventory.collect()
            if r.info.name.startswith("fx_") or (
                r.info.name.startswith("demo_") and (owner is None or any(o.pid == owner for o in r.owners)))
        ]
        if not any(i != maps.Map(fd).info.id for i in ids):
            sys.stderr.write("no demo maps: run `mapexplorer demo` in another terminal first\n")
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.jsonl"
            with Writer(raw) as w:
                recorder = Recorder(w, ids, max_entries=MAX_ENTRIES_PER_FRAME)
                recorder.start()
                for frame in range(FRAMES):
                    fill_pcpu_stats(fd, frame)
                    recorder.frame()
                    time.sleep(1.0)
            rec = read(raw, strict=True)
            for ncpus, name in TARGETS:
                write_fixture(rec, ncpus, args.out / name)
                sys.stderr.write(f"wrote {args.out / name} ({len(rec.maps)} maps)\n")
    finally:
        os.close(fd)
        os.close(btf_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
