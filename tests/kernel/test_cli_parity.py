"""CLI parity with the TUI on real maps: LPM keys as CIDR and friendly values in `dump` text, and
`dump --bpftool` printing exactly what `bpftool -j map dump` prints for the same map."""

from __future__ import annotations

import json
import struct
import subprocess
from contextlib import ExitStack

import pytest
from helpers import MapHolder, needs_bpftool, needs_root, run_cli

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id

pytestmark = [needs_root, pytest.mark.kernel]


def _bpftool_dump(map_id: int) -> str:
    return subprocess.run(["bpftool", "-j", "map", "dump", "id", str(map_id)], capture_output=True,
                          text=True, timeout=60, check=True).stdout.strip()


def test_dump_text_shows_lpm_keys_as_cidr():
    entries = [[(24).to_bytes(4, "little").hex() + "08080800", "0a4dd302"],
               [(8).to_bytes(4, "little").hex() + "0a000000", "01000000"]]
    spec = {"type": "lpm_trie", "key_size": 8, "value_size": 4, "max_entries": 8, "name": "ky_lpm",
            "flags": 1, "entries": entries}
    with MapHolder([spec]) as h:
        out = run_cli("dump", str(h.ids[0])).stdout.splitlines()
    assert sorted(out[:2]) == ["key: 10.0.0.0/8  value: 01 00 00 00", "key: 8.8.8.0/24  value: 0a 4d d3 02"]
    assert out[2] == "Found 2 elements"


def _btf_map(stack: ExitStack, map_type: str) -> maps.Map:
    """A map with BTF: u32 key, value struct flow {u64 ts_ns; u8 nexthop[4]; u32 packets;}."""
    b = BtfBuilder()
    u8 = b.int("unsigned char", 1)
    u32 = b.int("unsigned int", 4)
    u64 = b.int("unsigned long long", 8)
    a4 = b.array(u8, 4, u32)
    flow = b.struct("ky_flow", 16, [("ts_ns", u64, 0), ("nexthop", a4, 64), ("packets", u32, 96)])
    btf_fd = load_btf(b.blob())
    stack.callback(__import__("os").close, btf_fd)
    fd = maps.create_map(map_type_id(map_type), 4, 16, 4, name="ky_parity", btf_fd=btf_fd,
                         btf_key_type_id=u32, btf_value_type_id=flow)
    m = maps.Map(fd)
    stack.callback(m.close)
    return m


@needs_bpftool
@pytest.mark.parametrize("map_type", ["hash", "percpu_hash"])
def test_dump_bpftool_equals_bpftool_with_btf(map_type):
    with ExitStack() as stack:
        m = _btf_map(stack, map_type)
        ncpu = maps.possible_cpu_count() if map_type.startswith("percpu") else 1
        for k in (1, 2):
            one = struct.pack("<Q4BI", 10**9 * k, 10, 77, 211, k, 5 * k)
            m.update(struct.pack("<I", k), one * ncpu)
        ours = run_cli("dump", str(m.info.id), "--bpftool").stdout.strip()
        theirs = _bpftool_dump(m.info.id)
    assert json.loads(ours)[0]["formatted"]["key"] in (1, 2)
    assert sorted(json.loads(ours), key=json.dumps) == sorted(json.loads(theirs), key=json.dumps)
    assert len(ours) == len(theirs)  # same separators: the same text, entry order aside


@needs_bpftool
def test_dump_bpftool_equals_bpftool_without_btf():
    spec = {"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 8, "name": "ky_nobtf",
            "entries": [["01000000", "0202020202020202"], ["05000000", "6261736800000000"]]}
    with MapHolder([spec]) as h:
        ours = run_cli("dump", str(h.ids[0]), "--bpftool").stdout.strip()
        theirs = _bpftool_dump(h.ids[0])
        text = run_cli("dump", str(h.ids[0])).stdout
    assert sorted(json.loads(ours), key=json.dumps) == sorted(json.loads(theirs), key=json.dumps)
    assert "62 61 73 68 00 00 00 00  |bash....|" in text  # printable bytes get their ASCII


def test_dump_text_humanizes_and_json_keeps_numbers():
    with ExitStack() as stack:
        m = _btf_map(stack, "hash")
        m.update(struct.pack("<I", 1), struct.pack("<Q4BI", 0, 10, 77, 211, 2, 9))
        text = run_cli("dump", str(m.info.id)).stdout
        raw = json.loads(run_cli("dump", str(m.info.id), "--json").stdout)
    assert 'key: 1  value: {"ts_ns": "0", "nexthop": "10.77.211.2", "packets": 9}' in text
    assert raw == [{"key": 1, "value": {"ts_ns": 0, "nexthop": [10, 77, 211, 2], "packets": 9}}]


def test_list_fits_the_terminal_and_show_prints_c_types():
    import os

    with ExitStack() as stack:
        m = _btf_map(stack, "hash")
        env = dict(os.environ, COLUMNS="100")
        out = run_cli("list", env=env).stdout.splitlines()
        show = run_cli("show", str(m.info.id)).stdout
    assert out[0].startswith("ID ") and all(len(line) <= 100 for line in out)
    assert any(line.startswith(f"{m.info.id} ") for line in out)
    assert "\tkey: unsigned int" in show
    assert "value: struct ky_flow {" in show and "u64 ts_ns;" not in show  # names as BTF has them
    assert "unsigned long long ts_ns;" in show
