"""maps.map_infos (one set of syscall buffers for many maps) says what map_info_by_id says for each map,
also for a map without BTF read right after one with BTF (the kernel reads the info buffer in first and
writes only the fields a map has), and skips or raises on a freed id."""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest
from helpers import needs_root

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id

pytestmark = [pytest.mark.kernel, needs_root]


def test_map_infos_equal_map_info_by_id_each() -> None:
    b = BtfBuilder()
    u32, u64 = b.int("unsigned int", 4), b.int("long long unsigned int", 8)
    with ExitStack() as stack:
        btf_fd = load_btf(b.blob())
        stack.callback(os.close, btf_fd)
        fds = [
            maps.create_map(map_type_id("hash"), 4, 8, 8, name="mi_btf", btf_fd=btf_fd, btf_key_type_id=u32,
                            btf_value_type_id=u64),
            maps.create_map(map_type_id("hash"), 4, 8, 8, name="mi_plain"),
            maps.create_map(map_type_id("array"), 4, 16, 3, name="mi_array"),
        ]
        for fd in fds:
            stack.callback(os.close, fd)
        ids = [maps.map_info(fd).id for fd in fds]
        got = list(maps.map_infos(ids))
        assert got == [maps.map_info_by_id(i) for i in ids]
        assert got[0].btf_id and not got[1].btf_id and got[1].btf_key_type_id == 0
        gone = maps.create_map(map_type_id("hash"), 4, 8, 8, name="mi_gone")
        gone_id = maps.map_info(gone).id
        os.close(gone)
        assert [i.id for i in maps.map_infos([ids[0], gone_id, ids[1]])] == [ids[0], ids[1]]
        with pytest.raises(FileNotFoundError):
            list(maps.map_infos([gone_id], missing_ok=False))
