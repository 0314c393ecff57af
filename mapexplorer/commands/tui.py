"""``mapexplorer`` / ``mapexplorer tui``: the terminal UI over the running kernel."""

from __future__ import annotations

import argparse

from mapexplorer import caps
from mapexplorer.errors import UserError


def _demo_session() -> object:
    try:
        from mapexplorer.demo_bpf import DemoSession
    except ImportError:
        raise UserError(
            "--demo is not available in this build (no demo programs): run mapexplorer alone"
        ) from None
    return DemoSession(types=None)


def run(args: argparse.Namespace) -> int:
    if caps.missing_caps():
        # One screen that says why and quits on q, rather than an explorer failing every second.
        from mapexplorer.screens.no_permission import NoPermissionApp

        return NoPermissionApp(caps.explain_refusal()).run() or 1
    from mapexplorer.app import make_app

    demo = _demo_session() if getattr(args, "demo", False) else None
    app = make_app(refresh=args.refresh, open_map=args.map, write=args.write, demo=demo)
    try:
        app.run()
    finally:
        app.stop_demo()
    return app.return_code or 0
