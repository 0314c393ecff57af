"""pyright's "basic" rules (basedpyright, which ships pyright with its own node runtime) pass on mapexplorer/.
The configuration is [tool.basedpyright] in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyright_basic_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "basedpyright", "--pythonpath", sys.executable],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    assert "0 errors" in proc.stdout
