"""Fuzzing the command line (hypothesis): ids, names, numbers, unicode and flags given to the read-only
subcommands, through ``cli.main`` in-process (fast enough for CI: a bounded number of examples). Whatever
the arguments: exit 0, 1 or 2, never a traceback, and an error says itself in at most two lines.

Write subcommands, ``tui``, ``demo``, ``record`` and ``export`` are left out (they change state or stay
up); ``watch`` only ever gets this test's own maps (it may install perf readers or consume) and a short
timeout. As root the commands run against real maps this test creates; without root every one of them
must still fail cleanly (missing capabilities).
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapexplorer import cli
from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id

pytestmark = [pytest.mark.kernel]

sys.path.insert(0, str(Path(__file__).parent))
from rb_emitter import Emitter  # noqa: E402 - lives next to this file

ROOT = os.geteuid() == 0
READ_ONLY = ["list", "show", "dump", "hist", "lookup", "getnext", "peek", "progs", "diff"]
# watch's progress lines on stderr (not errors): what it reads, how, and why nothing came
WATCH_NOTES = ("mapexplorer: watching ", "mapexplorer: tap mode", "mapexplorer: consume mode",
               "mapexplorer: no events in ", "mapexplorer: took over ", "mapexplorer: cpus ",
               "mapexplorer: perf_event_array ")


class Maps:
    """This module's maps (names start with hd_fz): a hash, a queue, a ringbuf with records, a perf array."""

    def __init__(self) -> None:
        self.objs: list[maps.Map] = []
        self.emitter: Emitter | None = None
        self.ids: list[str] = []
        self.names = ["hd_fz_hash", "hd_fz_q", "hd_fz_rb", "hd_fz_perf"]
        if not ROOT:
            return
        h = self._new("hash", 4, 8, 8, "hd_fz_hash")
        h.update(struct.pack("<I", 1), struct.pack("<Q", 2))
        q = self._new("queue", 0, 4, 4, "hd_fz_q")
        q.update(None, struct.pack("<I", 9))
        perf = self._new("perf_event_array", 4, 4, len(maps.possible_cpus()), "hd_fz_perf")
        self.emitter = Emitter(name="hd_fz_rb")
        self.emitter.emit(3)
        self.ids = [str(h.info.id), str(q.info.id), str(self.emitter.map_id), str(perf.info.id)]

    def _new(self, kind: str, k: int, v: int, n: int, name: str) -> maps.Map:
        m = maps.Map(maps.create_map(map_type_id(kind), k, v, n, name=name))
        self.objs.append(m)
        return m

    def close(self) -> None:
        for m in self.objs:
            m.close()
        if self.emitter is not None:
            self.emitter.close()


@pytest.fixture(scope="module")
def own() -> Iterator[Maps]:
    m = Maps()
    try:
        yield m
    finally:
        m.close()


UNICODE_DIGITS = st.sampled_from(["\u00b2", "\u0661\u0662", "\U0001d7d9", "\u06634", "\u216b", "\u06f1\u06f2",
                                  "\u00bd", "1_000", " 1", "1\n", "+1", "0x10"])
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e-9", "0.001", "1e400", "-0", "0", "-3", ""]),
    UNICODE_DIGITS,
)
NOT_OURS = st.one_of(  # ids and names that cannot be another engineer's map
    st.integers(min_value=2**32 - 10, max_value=2**70).map(str),
    st.sampled_from(["0", "00", "-1", "4294968506", "4294967295"]),
    UNICODE_DIGITS,
    st.text(min_size=0, max_size=20),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.0123456789", min_size=16, max_size=30),
)
FLAGS = st.sampled_from(["--json", "--raw", "--help", "--frob", "-x", "--", "--type-force", "--sum",
                         "--linear", "--dry-run", "--all", "--by", "owner", "--key", "--label"])
TOKENS = st.one_of(FLAGS, NUMBERS, st.text(max_size=12),
                   st.sampled_from(["hex", "01", "zz", "{}", "[1]", '{"a":1}', "pinned", "/sys/fs/bpf"]))


def run_main(argv: list[str]) -> tuple[int, str]:
    """``cli.main(argv)`` with stdout to /dev/null (a real fd) and stderr captured."""
    err = io.StringIO()
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: usage errors and --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return code, err.getvalue()


def check(argv: list[str]) -> None:
    code, err = run_main(argv)
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    said = [line for line in err.splitlines() if not line.startswith(WATCH_NOTES)]
    assert len(said) <= 2, (argv, err)
    if code != 0:
        assert said, (argv, "failed without a word")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_read_only_commands_never_crash(own: Maps, data: st.DataObject) -> None:
    cmd = data.draw(st.sampled_from(READ_ONLY), label="command")
    ref = data.draw(st.one_of(st.sampled_from(own.ids + own.names), NOT_OURS), label="map")
    extra = data.draw(st.lists(TOKENS, max_size=4), label="extra")
    check([cmd, ref, *extra] if cmd not in ("list", "progs") else [cmd, *extra])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_watch_never_crashes(own: Maps, data: st.DataObject) -> None:
    ref = data.draw(st.one_of(st.sampled_from(own.ids + own.names), NOT_OURS), label="map")
    opts = data.draw(st.lists(st.one_of(
        st.tuples(st.sampled_from(["--count", "--timeout", "--type"]),
                  st.one_of(NUMBERS, st.text(max_size=8))),
        st.tuples(st.sampled_from(["--json", "--consume", "--takeover", "--type-force", "--frob"])),
    ), max_size=4), label="options")
    argv = ["watch", ref, *[x for o in opts for x in o], "--timeout", "0.05"]  # never wait long
    check(argv)


def test_the_reproductions_by_hand(own: Maps) -> None:
    """The inputs issue 15 reported, each with the exit code it must give."""
    for argv, want in ((["show", "²"], 2), (["show", "4294968506"], 2), (["watch", "1", "--count", "-3"], 2),
                       (["watch", "1", "--timeout", "nan"], 2), (["tui", "--refresh", "nan"], 2)):
        code, err = run_main(argv)
        assert code == want, (argv, err)
        assert len(err.strip().splitlines()) <= 2
