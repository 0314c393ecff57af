"""``mapexplorer`` / ``mapexplorer tui``: the terminal UI (arrives with the TUI issue)."""

from __future__ import annotations

import argparse

from mapexplorer.errors import UserError


def run(args: argparse.Namespace) -> int:
    raise UserError("the TUI is not built yet: use mapexplorer list / show / dump")
