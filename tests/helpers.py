"""Helpers for tests: run the CLI and bpftool as subprocesses, skip markers for root and bpftool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="bpf() needs root (CAP_BPF, CAP_SYS_ADMIN)")
needs_bpftool = pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool not installed")


def run_cli(*args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mapexplorer ARGS`` and return the finished process (text mode)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mapexplorer", *args], capture_output=True, text=True, timeout=120, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"mapexplorer {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def cli_json(*args: str) -> object:
    return json.loads(run_cli(*args, "--json").stdout)


def bpftool_json(*args: str) -> object:
    proc = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(proc.stdout)
