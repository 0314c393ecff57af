"""Shared fixtures: a factory for BPF maps the test owns, closed when the test ends."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from mapexplorer.kernel import maps

# Wall-clock times (event arrival, BPF timestamps shown as times) render in UTC in every test and snapshot,
# whatever the machine's zone.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture
def new_map() -> Iterator[Callable[..., maps.Map]]:
    """``new_map(type_name, key_size, value_size, max_entries, **kw)`` -> an open Map the test owns."""
    with ExitStack() as stack:

        def make(type_name: str, key_size: int, value_size: int, max_entries: int, **kw: object) -> maps.Map:
            from mapexplorer.kernel.names import map_type_id

            kw.setdefault("name", f"test_{type_name}"[:15])
            fd = maps.create_map(map_type_id(type_name), key_size, value_size, max_entries, **kw)
            m = maps.Map(fd)
            stack.callback(m.close)
            return m

        yield make
