"""The architecture holds itself: the import-linter contracts in pyproject.toml (DESIGN.md's layers), a check
that they catch a violation, and that every module of the package is classified by them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "mapexplorer"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
UI_OR_ENTRY = {"__init__", "__main__", "app", "cli", "commands", "messages", "screens", "widgets"}
"""Modules outside the core contract: the Textual UI and the entry points that start it."""


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _contract(cid: str) -> dict:
    return next(c for c in _config()["contracts"] if c["id"] == cid)


def _lint(pythonpath: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.parent,
        env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"},
    )


def test_contracts_hold() -> None:
    proc = _lint(ROOT, ROOT / "pyproject.toml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(_config()['contracts'])} kept, 0 broken" in proc.stdout


def _inject(path: Path, line: str) -> None:
    text = path.read_text()
    marker = "from __future__ import annotations\n"
    assert marker in text, path
    path.write_text(text.replace(marker, marker + line + "\n", 1))


def test_each_contract_catches_a_violation(tmp_path: Path) -> None:
    """A copy of the package with one violation per contract: every contract must report it broken."""
    shutil.copytree(PKG, tmp_path / "mapexplorer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    pkg = tmp_path / "mapexplorer"
    _inject(pkg / "model.py", "import rich.text  # noqa")  # core imports Rich
    _inject(pkg / "widgets" / "columns.py", "from mapexplorer import codec  # noqa")  # UI reaches the codec
    _inject(pkg / "kernel" / "maps.py", "import mapexplorer.streams  # noqa")  # a layer imports upwards
    _inject(pkg / "btf" / "types.py", "from mapexplorer.btf import cprint  # noqa")  # the old btf cycle
    proc = _lint(tmp_path, tmp_path / "pyproject.toml")
    assert proc.returncode != 0
    out = " ".join(proc.stdout.split())  # the report wraps long contract names
    for contract in _config()["contracts"]:
        assert f"{' '.join(contract['name'].split())} BROKEN" in out, contract["id"]
    assert f"0 kept, {len(_config()['contracts'])} broken" in out


def test_every_module_is_classified() -> None:
    """A new top-level module must be placed: in the core contract (no Textual) or among the UI/entry
    points."""
    core = {m.removeprefix("mapexplorer.") for m in _contract("core-without-ui")["source_modules"]}
    packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    found = {p.stem for p in PKG.glob("*.py")} | packages
    assert found - core - UI_OR_ENTRY == set(), "add the module to a contract in pyproject.toml"
    assert core & UI_OR_ENTRY == set()


@pytest.mark.parametrize("what", ["textual", "rich"])
def test_core_imports_without_the_ui_at_run_time(what: str) -> None:
    """Dynamic imports escape a static check: import every core module and look at sys.modules."""
    modules = _contract("core-without-ui")["source_modules"]
    code = (
        "import importlib, pkgutil, sys\n"
        f"for name in {modules!r}:\n"
        "    mod = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(mod, '__path__', []), name + '.'):\n"
        "        if '.demo_bpf.' not in info.name:  # BCC loaders import bcc, not the UI; skipped for speed\n"
        "            importlib.import_module(info.name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] == {what!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
