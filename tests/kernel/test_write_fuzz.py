"""Bad values for every field kind, typed at ``mapexplorer update`` on a real map (in process, through the
real bpf() syscall): never a traceback, always one line naming the field, exit 1, and the map exactly as it
was (read back after every example). Arbitrary text for KEY and VALUE: exit 0 or 1, never a traceback, and
on exit 1 the map is unchanged."""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from writemaps import STATS_SIZE, WriteMaps

from mapexplorer import cli
from mapexplorer.kernel import maps

pytestmark = [pytest.mark.kernel, pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()")]

EXAMPLES = int(os.environ.get("MAPEXPLORER_WRITE_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
U32 = struct.Struct("<I")
ORIGINAL = bytes(range(1, STATS_SIZE + 1))


@pytest.fixture(scope="module")
def stats_map() -> Iterator[maps.Map]:
    with ExitStack() as stack:
        m = WriteMaps(stack).stats_hash("wr_fuzz_hash")
        m.update(U32.pack(1), ORIGINAL)
        yield m


def update(map_id: int, *items: str) -> tuple[int, str]:
    err = io.StringIO()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["update", str(map_id), *items])
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return code, err.getvalue()


def out_of(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(max_value=lo - 1), st.integers(min_value=hi + 1))


ENUM_NAMES = {"RED", "GREEN", "BLUE"}
BAD_VALUES: dict[str, st.SearchStrategy[object]] = {
    "count": st.one_of(out_of(0, 2**64 - 1), st.text(min_size=1).filter(lambda s: not _intlike(s))),
    "in.a": out_of(0, 2**16 - 1),
    "in.flags": out_of(0, 255),
    "in.tag": st.text(min_size=1).filter(lambda s: len(s.encode()) >= 8),
    "c": st.text(min_size=1).filter(lambda s: s.strip() not in ENUM_NAMES and not _intlike(s)),
    "neg": out_of(-(2**31), 2**32 - 1),
    "on": st.text(min_size=1).filter(lambda s: s.lower() not in ("true", "false", "0", "1")),
    "arr": st.lists(st.integers(0, 5), min_size=4, max_size=8),
    "f": st.text(min_size=1).filter(lambda s: not _floatlike(s)),
}


def _intlike(s: str) -> bool:
    try:
        int(s.strip().replace("_", ""), 0)
    except ValueError:
        return False
    return True


def _floatlike(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _nest(path: str, value: object) -> dict[str, object]:
    head, _, rest = path.partition(".")
    return {head: _nest(rest, value) if rest else value}


@pytest.mark.parametrize("path", sorted(BAD_VALUES))
def test_a_value_that_does_not_fit_names_its_field(stats_map: maps.Map, path: str) -> None:
    @FUZZ
    @given(bad=BAD_VALUES[path])
    def check(bad: object) -> None:
        code, err = update(stats_map.info.id, "1", json.dumps(_nest(path, bad)))
        assert code == 1, err
        assert err.count("\n") == 1 and err.startswith(f"mapexplorer: value.{path}"), err
        assert stats_map.lookup(U32.pack(1)) == ORIGINAL

    check()


@FUZZ
@given(name=st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda s: s not in {"count", "in", "c", "arr", "neg", "on", "f", "last"}))
def test_an_unknown_field_is_named(stats_map: maps.Map, name: str) -> None:
    code, err = update(stats_map.info.id, "1", json.dumps({name: 1}))
    assert code == 1 and err.startswith(f"mapexplorer: value.{name}: no such member"), err
    assert stats_map.lookup(U32.pack(1)) == ORIGINAL


@FUZZ
@given(key=st.text(max_size=30), value=st.one_of(st.text(max_size=60), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12).map(json.dumps)))
def test_arbitrary_text_never_a_traceback(stats_map: maps.Map, key: str, value: str) -> None:
    before = dict(stats_map.entries())
    code, err = update(stats_map.info.id, key, value)
    assert code in (0, 1, 2), err
    assert "Traceback" not in err
    if code:
        assert err.count("\n") <= 2, err  # one line (usage errors: usage + one line)
        assert dict(stats_map.entries()) == before
    else:
        for k in set(stats_map.entries()) - set(before) - {U32.pack(1)}:
            stats_map.delete(k)  # a valid key made a new entry: keep the map small
        stats_map.update(U32.pack(1), ORIGINAL)
