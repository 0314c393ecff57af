"""Write-mode text handling that needs no kernel: grouping command-line items, CIDR and byte keys,
and the before/after diff shown by every write."""

from __future__ import annotations

import pytest

from mapexplorer.codec import EncodeError, encode_bytes, encode_cidr
from mapexplorer.commands import split_items
from mapexplorer.edit import Change, diff
from mapexplorer.errors import UserError


def test_split_items_groups_hex_bytes_like_bpftool() -> None:
    items = split_items(["hex", "01", "00", "00", "00", "5"], [4, 8], ["KEY", "VALUE"])
    assert items == ["hex 01 00 00 00", "5"]
    assert split_items(['{"a": 1}', "hex 01"], [4, 1], ["KEY", "VALUE"]) == ['{"a": 1}', "hex 01"]
    with pytest.raises(UserError, match="missing VALUE"):
        split_items(["1"], [4, 8], ["KEY", "VALUE"])
    with pytest.raises(UserError, match="unexpected '3'"):
        split_items(["1", "2", "3"], [4, 8], ["KEY", "VALUE"])


def test_cidr_keys() -> None:
    assert encode_cidr("10.1.0.0/16", 8) == b"\x10\0\0\0\x0a\x01\0\0"
    assert encode_cidr("2001:db8::/32", 20)[:4] == b"\x20\0\0\0"
    with pytest.raises(EncodeError, match=r"key\.prefixlen"):
        encode_cidr("10.0.0.0/33", 8)
    with pytest.raises(EncodeError, match="IPv4"):
        encode_cidr("::/0", 8)
    with pytest.raises(EncodeError, match="not an IPv4 or IPv6 address"):
        encode_cidr("ten/8", 8)


def test_bytes_without_btf_take_integers_and_hex() -> None:
    assert encode_bytes("8", 4, "key") == b"\x08\0\0\0"
    assert encode_bytes("01 02 03 04", 4, "key") == b"\x01\x02\x03\x04"
    with pytest.raises(EncodeError, match="does not fit in 1 bytes"):
        encode_bytes("300", 1, "value")
    with pytest.raises(EncodeError, match=r"value\[0\]"):
        encode_bytes("[true]", 1, "value")


def test_diff_names_changed_leaves_and_cpus() -> None:
    before = {"a": 1, "in": {"b": [1, 2]}, "s": "x"}
    after = {"a": 1, "in": {"b": [1, 3]}, "s": "y"}
    assert diff(before, after) == (Change("value.in.b[1]", 2, 3), Change("value.s", "x", "y"))
    assert diff([5, 6], [5, 7], "cpu") == (Change("cpu1", 6, 7),)
    assert diff(None, 3) == (Change("value", None, 3),)
    assert diff(["0x01", "0x02"], ["0x01", "0x03"]) == (Change("value", ["0x01", "0x02"], ["0x01", "0x03"]),)
