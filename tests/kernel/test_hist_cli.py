"""`mapexplorer hist` on real histogram maps: BCC's own BPF_HISTOGRAM maps (plain and with a struct key
ending in ``slot``), filled by a tracepoint program and from user space, compared row by row with BCC's
``print_log2_hist`` output captured in the test; a libbpf-tools ``struct hist { __u32 slots[N]; }`` value
made with raw BTF; a plain u64 array that is not taken for a histogram unless asked."""

from __future__ import annotations

import contextlib
import ctypes as ct
import io
import json
import os
import struct
from collections.abc import Iterator

import pytest
from helpers import needs_root, run_cli

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id

pytestmark = [needs_root]

BCC_SRC = r"""
struct hi_key_t { u64 id; u64 slot; };  /* no padding: BCC programs leave it uninitialised */
BPF_HISTOGRAM(hi_plain);
BPF_HISTOGRAM(hi_keyed, struct hi_key_t);

TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
    if ((bpf_get_current_pid_tgid() >> 32) != TEST_PID)
        return 0;
    u64 v = bpf_ktime_get_ns() & 0xffff;
    hi_plain.increment(bpf_log2l(v));
    struct hi_key_t key = {.id = 99, .slot = bpf_log2l(v)};
    hi_keyed.increment(key);
    return 0;
}
"""


@pytest.fixture(scope="module")
def bcc_hists() -> Iterator[object]:
    try:
        from bcc import BPF
    except ImportError:
        pytest.skip("BCC (python3-bpfcc) is not installed")
    b = BPF(text=BCC_SRC, cflags=[f"-DTEST_PID={os.getpid()}"])
    try:
        for _ in range(300):
            os.getppid()
        b.detach_tracepoint("syscalls:sys_enter_getppid")  # from here on the maps hold still
        plain, keyed = b["hi_plain"], b["hi_keyed"]
        for slot, count in {1: 4, 3: 17, 4: 2, 9: 40, 12: 1}.items():
            plain[ct.c_int(slot)] = ct.c_ulonglong(plain[ct.c_int(slot)].value + count)
        for ident, slots in {7: {2: 5, 5: 30, 6: 1}, 12345: {1: 2, 20: 9}}.items():
            for slot, count in slots.items():
                keyed[keyed.Key(id=ident, slot=slot)] = ct.c_ulonglong(count)
        yield b
    finally:
        b.cleanup()


def _map_id(bpf: object, name: str) -> int:
    fd = bpf[name].get_fd()
    return maps.map_info(fd).id


def _bcc_output(table: object, **kw: object) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        table.print_log2_hist("value", **kw)
    return out.getvalue()


def _sections(text: str) -> dict[str, list[str]]:
    """Blank-line separated sections, keyed by their 'field = value' line (or '' for a plain histogram),
    without our percentile lines."""
    out: dict[str, list[str]] = {}
    for block in text.strip("\n").split("\n\n"):
        lines = [ln for ln in block.splitlines() if not ln.startswith(("p50 <=", "no samples"))]
        if lines and " = " in lines[0] and "->" not in lines[0]:
            out[lines[0]] = lines[1:]
        else:
            out[""] = lines
    return out


def test_plain_bcc_histogram_rows_equal_bcc(bcc_hists: object) -> None:
    map_id = _map_id(bcc_hists, "hi_plain")
    ours = run_cli("hist", str(map_id)).stdout
    want = _bcc_output(bcc_hists["hi_plain"])
    assert len(want.splitlines()) > 5
    assert _sections(ours) == _sections(want)
    assert "p50 <= " in ours and "(bucket upper bounds, " in ours


def test_struct_key_histogram_has_one_section_per_key_like_bcc(bcc_hists: object) -> None:
    map_id = _map_id(bcc_hists, "hi_keyed")
    ours = run_cli("hist", str(map_id)).stdout
    want = _bcc_output(bcc_hists["hi_keyed"], section_header="id", section_print_fn=str)
    assert set(_sections(want)) == {"id = 7", "id = 99", "id = 12345"}
    assert _sections(ours) == _sections(want)
    one = run_cli("hist", str(map_id), "--key", "7").stdout.splitlines()
    assert one[1] == "id = 7" and one[2:-1] == _sections(want)["id = 7"]
    assert one[-1].startswith("p50 <= 31  p90 <= 31  p99 <= 63  max <= 63 ")


def test_hist_json_buckets_and_percentiles(bcc_hists: object) -> None:
    map_id = _map_id(bcc_hists, "hi_keyed")
    doc = json.loads(run_cli("hist", str(map_id), "--key", '{"id": 12345}', "--json").stdout)
    (h,) = doc["histograms"]
    assert h["key"] == {"id": 12345}
    nonzero = [(b["low"], b["high"], b["count"]) for b in h["buckets"] if b["count"]]
    assert nonzero == [(0, 1, 2), (524288, 1048575, 9)]
    assert h["percentiles"] == {"p50": 1048575, "p90": 1048575, "p99": 1048575, "max": 1048575}
    assert h["total"] == 11 and h["percentile_bound"] == "upper"
    total = json.loads(run_cli("hist", str(map_id), "--sum", "--json").stdout)["histograms"][0]["total"]
    assert total == 5 + 30 + 1 + 2 + 9 + 300


def test_unknown_key_and_non_histogram_errors(bcc_hists: object) -> None:
    map_id = _map_id(bcc_hists, "hi_keyed")
    proc = run_cli("hist", str(map_id), "--key", "424242", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("mapexplorer: no histogram with key 424242")
    assert "Traceback" not in proc.stderr


@pytest.fixture
def libbpf_hist() -> Iterator[tuple[int, dict[int, list[int]]]]:
    """A hash u32 -> struct hist { __u32 slots[26]; char comm[16]; } with raw BTF, like libbpf-tools."""
    b = BtfBuilder()
    u32 = b.int("unsigned int", 4)
    char = b.int("char", 1, char=True)
    slots = b.array(u32, 26, u32)
    comm = b.array(char, 16, u32)
    hist = b.struct("hist", 120, [("slots", slots, 0), ("comm", comm, 26 * 32)])
    btf_fd = load_btf(b.blob())
    fd = -1
    try:
        fd = maps.create_map(map_type_id("hash"), 4, 120, 16, name="hi_hists", btf_fd=btf_fd,
                             btf_key_type_id=u32, btf_value_type_id=hist)
        m = maps.Map(fd)
        data = {1: [0, 3, 10, 4, 0, 1] + [0] * 20, 8: [2] + [0] * 24 + [1]}
        for k, arr in data.items():
            m.update(struct.pack("<I", k), struct.pack("<26I", *arr) + b"disk%d".ljust(16, b"\0") % k)
        yield m.info.id, data
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(btf_fd)


def test_libbpf_tools_slots_value(libbpf_hist: tuple[int, dict[int, list[int]]]) -> None:
    from bcc import table

    map_id, data = libbpf_hist
    ours = _sections(run_cli("hist", str(map_id)).stdout)
    assert set(ours) == {"key = 1", "key = 8"}
    for k, arr in data.items():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            # libbpf-tools' slot i is BCC's slot i + 1 ("0 -> 1" is libbpf slot 0, BCC slot 1)
            table._print_log2_hist([0, *arr] + [0] * 38, "value", None)
        assert ours[f"key = {k}"] == out.getvalue().splitlines()
    doc = json.loads(run_cli("hist", str(map_id), "--key", "1", "--json").stdout)
    assert doc["kind"] == "value_array"
    assert doc["histograms"][0]["percentiles"] == {"p50": 7, "p90": 15, "p99": 63, "max": 63}


def test_plain_u64_array_is_not_a_histogram_unless_asked(new_map) -> None:
    m = new_map("array", 4, 8, 8, name="hi_counts")
    for i in range(8):
        m.update(struct.pack("<I", i), struct.pack("<Q", i * 3))
    from mapexplorer.codec import map_codec
    from mapexplorer.histread import hist_spec

    codec = map_codec(m.info)
    assert hist_spec(codec) is None
    # the user asked: hist views it (integer key = bucket), linear when told
    rows = run_cli("hist", str(m.info.id), "--linear").stdout.splitlines()
    assert rows[1].split()[:3] == ["0", ":", "0"] and "*" not in rows[1]
    assert rows[8].split()[:3] == ["7", ":", "21"]
