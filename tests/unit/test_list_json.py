"""``list --json``'s bulk writer (commands.list_json.records_text) prints exactly what ``json.dumps`` prints
for the records' dicts (commands.list.record_json), on random records: names and commands with quotes,
backslashes and non-ASCII, owners, programs, pins, unknown and approximate counts, ring backlogs."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from mapexplorer.commands.list import record_json
from mapexplorer.commands.list_json import record_text, records_text
from mapexplorer.fill import EntryCount
from mapexplorer.kernel.inventory import MapRecord, ProgRef
from mapexplorer.kernel.maps import MapInfo
from mapexplorer.kernel.owners import Owner

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
text = st.text(max_size=16)

infos = st.builds(
    MapInfo,
    id=u32, type=u32, type_name=st.sampled_from(["hash", "array", "ringbuf", "32"]), name=text,
    key_size=u32, value_size=u32, max_entries=u32, flags=u32, btf_id=u32, btf_key_type_id=u32,
    btf_value_type_id=u32, btf_vmlinux_value_type_id=u32, map_extra=u64, ifindex=u32, memlock=u64,
    frozen=st.booleans(),
)
records = st.builds(
    MapRecord,
    info=infos,
    pinned=st.lists(text, max_size=3).map(tuple),
    owners=st.lists(st.builds(Owner, pid=u32, comm=text), max_size=3).map(tuple),
    progs=st.lists(st.builds(ProgRef, id=u32, name=text, type=text, access=st.sampled_from(["r", "rw", "?"])),
                   max_size=3).map(tuple),
)
counts = st.builds(
    EntryCount,
    entries=st.one_of(st.none(), u64),
    method=st.sampled_from(["iterator", "max_entries", "read", "backlog", "none"]),
    fill=st.one_of(st.none(), st.floats(0, 2), st.floats(allow_nan=False)),
    approx=st.booleans(),
    pending=st.booleans(),
    backlog=st.one_of(st.none(), u64),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(records, counts), max_size=6))
def test_bulk_text_equals_json_dumps_of_the_dicts(pairs: list[tuple[MapRecord, EntryCount]]) -> None:
    assert records_text(pairs) == json.dumps([record_json(r, c) for r, c in pairs])
    for r, c in pairs:
        assert json.loads(record_text(r, c)) == json.loads(json.dumps(record_json(r, c)))
