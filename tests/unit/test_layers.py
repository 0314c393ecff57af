"""The layer rules of DESIGN.md, enforced: the kernel and BTF layers import without Textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import mapexplorer.btf
import mapexplorer.kernel


def _modules(package) -> list[str]:
    return [package.__name__] + [
        f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
    ]


@pytest.mark.parametrize("module", _modules(mapexplorer.kernel) + _modules(mapexplorer.btf))
def test_core_module_does_not_import_textual(module):
    code = f"import sys, {module}; sys.exit(1 if any(m.startswith('textual') for m in sys.modules) else 0)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{module} pulls in textual\n{proc.stderr}"


def test_widgets_do_not_import_the_kernel_layer():
    import pathlib

    widgets = pathlib.Path(mapexplorer.kernel.__file__).parent.parent / "widgets"
    offenders = [
        p.name
        for p in widgets.rglob("*.py")
        if "mapexplorer.kernel" in p.read_text() or "from ..kernel" in p.read_text()
    ]
    assert offenders == []
