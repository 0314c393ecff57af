"""The map-type sets live in one module and agree with what the model explains to the user."""

from __future__ import annotations

from mapexplorer import maptypes
from mapexplorer.kernel.names import MAP_TYPES
from mapexplorer.model import WHY_NOT_LISTED, MapRow


def test_every_set_names_real_map_types() -> None:
    known = set(MAP_TYPES.values())
    for name in dir(maptypes):
        if name.endswith("_TYPES"):
            assert getattr(maptypes, name) <= known, name


def test_unlisted_types_are_explained_and_peek_types_are_peeked() -> None:
    assert set(WHY_NOT_LISTED) == maptypes.NON_ITERABLE_TYPES - maptypes.PEEK_TYPES
    for t in maptypes.NON_ITERABLE_TYPES:
        assert not MapRow(1, "m", t, 4, 4, 1).listable
    assert MapRow(1, "m", "hash", 4, 4, 1).listable
    assert MapRow(1, "m", "percpu_array", 4, 4, 1).percpu
