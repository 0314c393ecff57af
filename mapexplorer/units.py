"""Human-readable units shared by the CLI and the UI."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """1536 -> "1.5K", 81424 -> "79.5K" (binary units, like bpftool's memlock in spirit)."""
    value = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{int(value)}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")
