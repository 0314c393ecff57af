"""The CLI's stdout into a pipe is block-buffered even when Python was started unbuffered
(PYTHONUNBUFFERED / -u): nothing reaches the pipe before a flush, all of it after."""

from __future__ import annotations

import io
import os
import sys

import pytest

from mapexplorer import cli


def test_unbuffered_pipe_becomes_block_buffered(monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = os.pipe()
    os.set_blocking(r, False)
    try:
        raw = io.FileIO(w, "w", closefd=False)
        unbuffered = io.TextIOWrapper(raw, write_through=True)  # what -u gives sys.stdout
        monkeypatch.setattr(sys, "stdout", unbuffered)
        cli.block_buffered_stdout()
        assert sys.stdout is not unbuffered and isinstance(sys.stdout.buffer, io.BufferedWriter)
        for i in range(100):
            print(f"line {i}")
        with pytest.raises(BlockingIOError):
            os.read(r, 1 << 16)  # nothing written yet
        sys.stdout.flush()
        assert os.read(r, 1 << 16).decode() == "".join(f"line {i}\n" for i in range(100))
    finally:
        os.close(r)
        os.close(w)


def test_a_buffered_or_captured_stdout_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    captured = io.StringIO()
    monkeypatch.setattr(sys, "stdout", captured)
    cli.block_buffered_stdout()
    assert sys.stdout is captured
