"""Event records of mapexplorer.streams without a kernel: the fast builder equals the dataclass
constructor, events stay frozen, and the text and JSON lines of decoded and undecoded records."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mapexplorer.streams import Event, new_event


def decode(raw: bytes) -> dict:
    if len(raw) < 4:
        raise ValueError("short")  # what BtfError (a ValueError) does for a record shorter than its type
    return {"seq": int.from_bytes(raw[:4], "little"), "comm": "bash", "args": [1, 2]}


def test_new_event_equals_the_constructor_and_is_frozen():
    a = new_event(1, 4, b"\x07\0\0\0", decode)
    assert a == Event(1, 4, b"\x07\0\0\0", decode)
    assert hash(a) == hash(Event(1, 4, b"\x07\0\0\0", None))  # the decoder is not part of identity
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.cpu = 2  # type: ignore[misc]


def test_decoded_event_lines():
    ev = new_event(None, 4, b"\x07\0\0\0", decode)
    assert ev.fields == {"seq": 7, "comm": "bash", "args": [1, 2]}
    assert ev.to_text() == "size=4 seq=7 comm=bash args=[1,2]"
    assert json.loads(ev.to_json()) == {"cpu": None, "size": 4, "event": ev.fields}


def test_undecoded_and_undecodable_events_show_bytes():
    for ev in (new_event(3, 3, b"ab\x00", None), new_event(3, 3, b"ab\x00", decode)):
        assert ev.fields is None
        assert ev.to_text() == "cpu=3 size=3 61 62 00 |ab.|"
        assert json.loads(ev.to_json()) == {"cpu": 3, "size": 3, "data": ["0x61", "0x62", "0x00"]}
