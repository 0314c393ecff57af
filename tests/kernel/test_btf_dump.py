"""Real maps with BTF (BCC programs and hand-made BTF): `mapexplorer dump ID --json` must equal bpftool's
`-j map dump id N` "formatted" view (bitfield / 128-bit hex strings read as numbers); floats, which
bpftool cannot print, must equal the values written. Also --raw, map-of-maps ids, per-CPU values, and
the codec's per-entry decoding agreeing with its bulk JSON text.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from helpers import needs_bpftool, needs_root, run_cli

from mapexplorer.codec import map_codec
from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit" / "golden"))
from btf_cases import LiveMap, bpftool_formatted, load_bcc_maps, load_handmade_maps, normalize

pytestmark = [needs_root, needs_bpftool, pytest.mark.kernel]


@pytest.fixture(scope="module")
def live() -> Iterator[list[LiveMap]]:
    pytest.importorskip("bcc")
    with ExitStack() as stack:
        yield load_bcc_maps(stack) + load_handmade_maps(stack)


def ours(map_id: int, *extra: str) -> list[dict]:
    """Our `dump ID --json` output."""
    return json.loads(run_cli("dump", str(map_id), "--json", *extra).stdout)


def keyed(map_id: int, entries: list[dict]) -> dict[str, dict]:
    """Entries by their decoded key (as canonical JSON text)."""
    return {json.dumps(e["key"], sort_keys=True): e for e in entries}


def test_dump_equals_bpftool_formatted(live: list[LiveMap]) -> None:
    compared = 0
    for m in live:
        if m.expected is not None:
            continue
        codec = map_codec(maps.map_info_by_id(m.map_id))
        theirs = {
            json.dumps(codec.decode_key(k), sort_keys=True): f for k, f in bpftool_formatted(m.map_id).items()
        }
        mine = keyed(m.map_id, ours(m.map_id))
        assert set(mine) == set(theirs), m.name
        for key, ref in theirs.items():
            assert mine[key] == normalize(ref, mine[key]), f"{m.name} key {key}"
            compared += 1
    assert compared >= 20


def test_floats_equal_written_values(live: list[LiveMap]) -> None:
    (m,) = [m for m in live if m.name == "test_floats"]
    assert m.expected is not None
    got = sorted(ours(m.map_id), key=lambda e: e["key"])
    assert got == sorted(m.expected, key=lambda e: e["key"])


def test_percpu_values_cover_possible_cpus(live: list[LiveMap]) -> None:
    (m,) = [m for m in live if m.name == "test_pcpu"]
    ncpu = maps.possible_cpu_count()
    for e in ours(m.map_id):
        assert [v["cpu"] for v in e["values"]] == list(range(ncpu))
        assert all(set(v["value"]) == {"a", "b"} for v in e["values"])


def test_raw_equals_bpftool_bytes(live: list[LiveMap]) -> None:
    import subprocess

    for m in live:
        if m.percpu:
            continue
        proc = subprocess.run(
            ["bpftool", "-j", "map", "dump", "id", str(m.map_id)], capture_output=True, text=True, check=True
        )
        if m.name == "test_floats":
            continue  # bpftool's output is not JSON for floats
        theirs = sorted((e["key"], e["value"]) for e in json.loads(proc.stdout))
        mine = sorted((e["key"], e["value"]) for e in ours(m.map_id, "--raw"))
        assert mine == theirs, m.name


def test_codec_entry_json_matches_chunk_json(live: list[LiveMap]) -> None:
    for m in live:
        with maps.Map.open(m.map_id) as mp:
            codec = map_codec(mp.info)
            assert codec.has_btf
            assert codec.value_c
            for chunk in mp.read_chunks():
                texts = codec.chunk_json(chunk)
                for (k, v), text in zip(chunk.pairs(), texts, strict=True):
                    assert json.loads(text) == codec.entry_json(k, v)


def test_map_of_maps_values_are_inner_ids(new_map) -> None:  # type: ignore[no-untyped-def]
    inner = new_map("array", 4, 8, 2, name="test_inner")
    outer_fd = maps.create_map(
        map_type_id("array_of_maps"), 4, 4, 2, name="test_outer", inner_map_fd=inner.fd
    )
    with maps.Map(outer_fd) as outer:
        outer.update(struct.pack("<I", 1), struct.pack("<I", inner.fd))
        got = ours(outer.info.id)
        assert {"key": ["0x01", "0x00", "0x00", "0x00"], "value": inner.info.id} in got


def test_struct_ops_value_decoded_with_vmlinux() -> None:
    """A struct_ops map's value type lives in vmlinux (btf_vmlinux_value_type_id); bpftool omits the key
    (no key type), we print it as bytes."""
    from mapexplorer.btf.build import BtfBuilder
    from mapexplorer.codec import vmlinux
    from mapexplorer.kernel.btf_fetch import load_btf

    vm = vmlinux()
    tid = vm.find("bpf_struct_ops_tcp_congestion_ops", "struct")
    if tid is None:
        pytest.skip("kernel without tcp_congestion_ops struct_ops")
    b = BtfBuilder()
    b.int("int", 4, signed=True)
    with ExitStack() as stack:
        btf_fd = load_btf(b.blob())  # struct_ops map create wants some btf_fd
        stack.callback(os.close, btf_fd)
        fd = maps.create_map(
            map_type_id("struct_ops"),
            4,
            vm.type_size(tid),
            1,
            name="test_sops",
            btf_fd=btf_fd,
            btf_vmlinux_value_type_id=tid,
        )
        m = stack.enter_context(maps.Map(fd))
        (theirs,) = bpftool_formatted(m.info.id).values()
        (mine,) = ours(m.info.id)
        assert "key" not in theirs
        assert mine["key"] == ["0x00", "0x00", "0x00", "0x00"]
        assert mine["value"] == normalize(theirs["value"], mine["value"])
        assert mine["value"]["common"]["state"] == "BPF_STRUCT_OPS_STATE_INIT"
