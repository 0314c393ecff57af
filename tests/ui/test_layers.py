"""The UI's layer rules: widgets, screens and the app never import the kernel layer (only source.py does), and
the data seam imports without Textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "mapexplorer"
UI_FILES = sorted(
    [
        *PKG.joinpath("widgets").glob("*.py"),
        *PKG.joinpath("screens").glob("*.py"),
        PKG / "app.py",
        PKG / "messages.py",
    ]
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", UI_FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_ui_never_imports_the_kernel_layer(path: Path) -> None:
    bad = sorted(
        n for n in _imports(path) if n in ("mapexplorer.kernel", "mapexplorer.btf")
        or n.startswith(("mapexplorer.kernel.", "mapexplorer.btf."))
    )
    assert bad == [], f"{path.name} imports {bad}: go through mapexplorer.source"


def test_source_imports_without_textual() -> None:
    code = "import sys, mapexplorer.model, mapexplorer.widgets.columns; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
