"""The CLI on bad input, a closed or failing stdout, and without the capabilities, on real maps: one line on
stderr, exit 1 (2 for usage), never a traceback and never exit 0 having printed nothing.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import needs_root, run_cli

from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id

pytestmark = [needs_root, pytest.mark.kernel]

sys.path.insert(0, str(Path(__file__).parent))
from rb_emitter import Emitter  # noqa: E402 - lives next to this file

REPO = str(Path(__file__).resolve().parents[2])
HAS_SETPRIV = subprocess.run(["which", "setpriv"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def objs() -> Iterator[dict[str, int]]:
    """A hash map with three entries and a ringbuf with records, both this module's."""
    fd = maps.create_map(map_type_id("hash"), 4, 8, 16, name="hd_cli_hash")
    m = maps.Map(fd)
    for i in range(3):
        m.update(struct.pack("<I", i), struct.pack("<Q", i * 10))
    em = Emitter(name="hd_cli_rb")
    em.emit(20)
    try:
        yield {"hash": m.info.id, "ringbuf": em.map_id}
    finally:
        m.close()
        em.close()


def _commands(o: dict[str, int]) -> list[list[str]]:
    h, rb = str(o["hash"]), str(o["ringbuf"])
    watch = ["watch", rb, "--count", "3", "--timeout", "5"]
    return [["list"], ["list", "--json"], ["show", h], ["show", h, "--json"], ["dump", h],
            ["dump", h, "--json"], watch, [*watch, "--json"]]


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mapexplorer", *args], text=True, timeout=60,
                          stderr=subprocess.PIPE, cwd=REPO, **kw)


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The error line; ``watch``'s notices (tap mode, watching ...) may come before it."""
    assert proc.returncode == code, proc.stderr
    lines = [x for x in proc.stderr.strip().splitlines() if "tap mode" not in x and "watching" not in x]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_closed_stdout_is_one_line_exit_1_for_every_command(objs: dict[str, int]) -> None:
    for args in _commands(objs):
        proc = _run(args, preexec_fn=lambda: os.close(1))  # like `>&-`
        line = _one_line_error(proc)
        assert "standard output is closed" in line, args


def test_failing_stdout_is_one_line_exit_1_for_every_command(objs: dict[str, int]) -> None:
    for args in _commands(objs):
        with open("/dev/full", "w") as full:
            proc = _run(args, stdout=full)
        line = _one_line_error(proc)
        assert "cannot write the output: No space left on device" in line, args


def test_an_id_above_2_32_is_not_truncated(objs: dict[str, int]) -> None:
    # 2**32 + the hash's id would be read as the hash by a u32 field: it must be refused instead.
    big = str(2**32 + objs["hash"])
    for cmd in ("show", "dump", "watch"):
        proc = run_cli(cmd, big, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        error, hint = proc.stderr.strip().splitlines()
        assert "out of range" in error and "--help" in hint
    assert run_cli("show", "2", check=False).returncode in (0, 1)  # ordinary ids still work


@pytest.mark.parametrize("ref", ["\u00b2", "\u0661\u0662", "\U0001d7d9", "\u06634"])
def test_unicode_digits_are_a_usage_error(ref: str) -> None:
    proc = run_cli("show", ref, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 2


def test_watch_numbers_are_checked(objs: dict[str, int]) -> None:
    rb = str(objs["ringbuf"])
    for bad in (["--count", "-3"], ["--count", "0"], ["--count", "1.5"], ["--timeout", "nan"],
                ["--timeout", "inf"], ["--timeout", "-1"]):
        proc = run_cli("watch", rb, *bad, check=False)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert "Traceback" not in proc.stderr
    proc = run_cli("watch", rb, "--timeout", "0.5", "--count", "2")
    assert len(proc.stdout.splitlines()) == 2


# -- capabilities ------------------------------------------------------------------------------------


def _setpriv(*opts: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["setpriv", *opts, sys.executable, "-m", "mapexplorer", *args], text=True,
                          capture_output=True, timeout=60, cwd=REPO)


@pytest.mark.skipif(not HAS_SETPRIV, reason="setpriv (util-linux) not installed")
def test_root_without_the_capabilities_is_told_which_are_missing(objs: dict[str, int]) -> None:
    """Container root: euid 0 without CAP_BPF / CAP_SYS_ADMIN."""
    for args in _commands(objs):
        proc = _setpriv("--bounding-set=-bpf,-sys_admin", args=args)
        line = _one_line_error(proc)
        assert "lacks CAP_BPF and CAP_SYS_ADMIN" in line, args
        assert "sudo" in line
    proc = _setpriv("--bounding-set=-sys_admin", args=["show", str(objs["hash"])])
    assert "lacks CAP_SYS_ADMIN:" in _one_line_error(proc)


@pytest.mark.skipif(not HAS_SETPRIV, reason="setpriv (util-linux) not installed")
def test_a_non_root_user_with_both_capabilities_is_not_refused(objs: dict[str, int]) -> None:
    caps = "+bpf,+sys_admin"
    user = ["--reuid=65534", "--regid=65534", "--clear-groups", f"--inh-caps={caps}",
            f"--ambient-caps={caps}"]
    proc = _setpriv(*user, args=["dump", str(objs["hash"]), "--json"])
    assert proc.returncode == 0, proc.stderr
    assert len(__import__("json").loads(proc.stdout)) == 3
    proc = _setpriv("--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                    args=["show", str(objs["hash"])])
    assert "lacks CAP_BPF and CAP_SYS_ADMIN" in _one_line_error(proc)


# -- watch --type ------------------------------------------------------------------------------------


def test_watch_type_of_another_size_is_one_line_unless_forced(objs: dict[str, int]) -> None:
    """The ringbuf's records are 8 bytes; vmlinux's struct list_head is 16, struct hlist_head 8."""
    rb = str(objs["ringbuf"])
    proc = run_cli("watch", rb, "--count", "2", "--timeout", "5", "--type", "list_head", check=False)
    line = _one_line_error(proc)
    assert "a record of 8 bytes is not a struct list_head (16 bytes)" in line and "--type-force" in line
    assert proc.stdout == ""  # nothing printed "decoded as" a type it is not
    forced = run_cli("watch", rb, "--count", "2", "--timeout", "5", "--type", "list_head", "--type-force")
    assert [x.split(" ", 1)[0] for x in forced.stdout.splitlines()] == ["size=8", "size=8"]  # as bytes
    fits = run_cli("watch", rb, "--count", "2", "--timeout", "5", "--type", "hlist_head", "--json")
    assert [__import__("json").loads(x)["event"] for x in fits.stdout.splitlines()] == [{"first": 0},
                                                                                      {"first": 1}]
