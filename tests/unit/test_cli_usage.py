"""CLI contracts that need no BPF objects: usage errors exit 2 on at most two lines, missing capabilities
is one line and exit 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from helpers import run_cli


def test_usage_error_exits_2():
    proc = run_cli("dump", check=False)
    assert proc.returncode == 2
    error, hint = proc.stderr.strip().splitlines()
    assert "the following arguments are required: ID" in error
    assert hint == "try 'mapexplorer dump --help'"


def test_unknown_subcommand_exits_2():
    assert run_cli("frobnicate", check=False).returncode == 2


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody"
)
@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["dump", "1"], ["show", "1"]])
def test_no_capabilities_is_one_line_exit_1(args):
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            sys.executable,
            "-m",
            "mapexplorer",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(__file__)))},
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip() == (
        "mapexplorer: needs CAP_BPF and CAP_SYS_ADMIN, and this process lacks CAP_BPF and CAP_SYS_ADMIN: "
        "run it as root with them (sudo mapexplorer; a container needs --cap-add BPF --cap-add SYS_ADMIN)"
    )
