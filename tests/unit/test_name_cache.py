"""Names resolved in workers are cached and invalidated: a NameCache answer is reused for ``ttl`` seconds
then asked again; a Kallsyms table is read again once older than its ttl (modules come and go)."""

from __future__ import annotations

import time
from pathlib import Path

from mapexplorer.decoders import Kallsyms, NameCache, RawDecoder, ResolvedNames, TypeAwareDecoder


def test_name_cache_reuses_then_expires() -> None:
    asked: list[int] = []
    names = {1: "one", 2: "two"}

    def resolve(i: int) -> str:
        asked.append(i)
        return names.get(i, "?")

    cache = NameCache(resolve, ttl=0.2)
    assert cache.lookup([1, 2, 1]) == {1: "one", 2: "two"}
    assert sorted(asked) == [1, 2]
    names[1] = "renamed"
    assert cache.lookup([1]) == {1: "one"}  # within ttl: the cached answer, no new question
    assert sorted(asked) == [1, 2]
    time.sleep(0.25)
    assert cache.lookup([1]) == {1: "renamed"}
    assert sorted(asked) == [1, 1, 2]


def test_kallsyms_reads_again_after_ttl(tmp_path: Path) -> None:
    path = tmp_path / "kallsyms"
    path.write_text("ffffffff81000000 T _stext\nffffffff81001000 t helper\n")
    ks = Kallsyms(str(path), ttl=0.2)
    assert ks.symbolize(0xFFFFFFFF81001010) == "helper+0x10"
    path.write_text("ffffffff81000000 T _stext\nffffffff81001000 t renamed\n")
    assert ks.symbolize(0xFFFFFFFF81001010) == "helper+0x10"  # the loaded table, until it expires
    time.sleep(0.25)
    assert ks.symbolize(0xFFFFFFFF81001010) == "renamed+0x10"


def test_type_aware_decoder_only_looks_names_up() -> None:
    raw = RawDecoder(4, 4, 1)
    dec = TypeAwareDecoder(raw, "prog_array")
    assert dec.decode_value(b"\x07\0\0\0") == {"prog_id": 7, "prog": "?"}  # not resolved: no syscall made
    named = dec.with_names(ResolvedNames(progs={7: "xdp_pass"}))
    assert named.decode_value(b"\x07\0\0\0") == {"prog_id": 7, "prog": "xdp_pass"}
    assert dec.decode_value(b"\x07\0\0\0")["prog"] == "?"  # the snapshot already handed out keeps its names
    dev = TypeAwareDecoder(RawDecoder(4, 4, 1), "devmap", ResolvedNames(ifnames={1: "lo"}))
    assert dev.decode_value(b"\x01\0\0\0") == {"ifindex": 1, "ifname": "lo"}
    assert dev.decode_value(b"\x02\0\0\0") == {"ifindex": 2, "ifname": "if#2"}
