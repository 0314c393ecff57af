"""The iterator's layout from BTF: a kernel without the kfunc gets a reason, not a crash (no root)."""

from __future__ import annotations

import pytest

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import counts


def test_layout_without_the_kfunc_gives_a_reason():
    b = BtfBuilder()
    int_ = b.int("int", 4, signed=True)
    b.func("bpf_iter_bpf_map", b.func_proto(int_, []))
    with pytest.raises(counts.CountsUnavailable, match=r"bpf_map_sum_elem_count \(needs Linux 6.6\+\)"):
        counts.read_layout(b.blob())


def test_layout_offsets_through_anonymous_unions():
    b = BtfBuilder()
    u64 = b.int("u64", 8)
    ptr = b.ptr(u64)
    meta_u = b.union("", 8, [("meta", ptr, 0)])
    map_u = b.union("", 8, [("map", ptr, 0)])
    b.struct("bpf_iter__bpf_map", 16, [("", meta_u, 0), ("", map_u, 64)])
    b.struct("bpf_iter_meta", 24, [("seq", ptr, 0), ("session_id", u64, 64), ("seq_num", u64, 128)])
    b.struct("bpf_map", 128, [("ops", ptr, 0), ("id", u64, 736)])
    proto = b.func_proto(u64, [])
    it = b.func("bpf_iter_bpf_map", proto)
    kf = b.func("bpf_map_sum_elem_count", proto)
    got = counts.read_layout(b.blob())
    assert got == counts.IterLayout(it, kf, ctx_meta_off=0, ctx_map_off=8, meta_seq_off=0, map_id_off=92)
    assert len(counts.assemble(got)) == 16 * 8
