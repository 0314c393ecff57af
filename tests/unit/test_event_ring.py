"""EventRing (the event view's memory) behaves like a ``deque(maxlen=N)`` of rows fed batch by batch:
checked against that model over random batch sizes, clears, gaps in numbering and snapshots."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapexplorer.widgets.event_ring import EventRing, Row

# an operation: ("add", batch size, numbers skipped before it) or ("clear", 0, 0) or ("snap", 0, 0)
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 40), st.integers(0, 3)),
        st.tuples(st.sampled_from(["clear", "snap"]), st.just(0), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(maxlen=st.integers(1, 50), ops=OPS)
def test_matches_a_bounded_deque_of_rows(maxlen: int, ops: list[tuple[str, int, int]]) -> None:
    ring = EventRing(maxlen)
    model: deque[Row] = deque(maxlen=maxlen)
    number = 1
    snaps: list[tuple[EventRing, list[Row]]] = []
    for i, (op, size, gap) in enumerate(ops):
        if op == "add":
            number += gap
            records = [(i % 3 or None, bytes([k % 256])) for k in range(size)]
            ring.add(number, float(i), records)
            model.extend((number + k, rec, float(i)) for k, rec in enumerate(records))
            number += size
        elif op == "clear":
            ring.clear()
            model.clear()
        else:
            snaps.append((ring.snapshot(), list(model)))
        assert len(ring) == len(model)
        assert list(ring) == list(model)
        if model:
            assert ring[0] == model[0] and ring[-1] == model[-1]
            mid = len(model) // 2
            assert ring[mid] == model[mid]
            assert ring[mid:] == list(model)[mid:]
            assert ring.newest(5) == list(model)[-5:]
            n = model[mid][0]
            assert ring.index_of(n) == mid
    for snap, expected in snaps:  # later adds and clears did not change a snapshot
        assert list(snap) == expected and len(snap) == len(expected)


def test_index_errors_and_an_oversized_batch() -> None:
    ring = EventRing(3)
    with pytest.raises(IndexError):
        ring[0]
    ring.add(1, 0.5, [(0, b"a"), (1, b"b"), (0, b"c"), (1, b"d"), (0, b"e")])
    assert [r[0] for r in ring] == [3, 4, 5]
    assert ring[-1] == (5, (0, b"e"), 0.5)
    with pytest.raises(IndexError):
        ring[3]
    with pytest.raises(ValueError):
        EventRing(0)


def test_many_one_event_batches_stay_compact() -> None:
    ring = EventRing(100)
    for n in range(1, 10_001):
        ring.add(n, float(n), [(None, b"x")])
    assert len(ring) == 100 and ring[0][0] == 9_901 and ring[-1][0] == 10_000
    assert len(ring._batches) < 300  # old batches are compacted away, not kept forever
