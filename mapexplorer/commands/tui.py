"""``mapexplorer`` / ``mapexplorer tui``: the terminal UI over the running kernel."""

from __future__ import annotations

import argparse

from mapexplorer import caps
from mapexplorer.errors import UserError
from mapexplorer.pacing import DEFAULT_BUDGET


def _demo_session() -> object:
    try:
        from mapexplorer.demo_bpf import DemoSession
    except ImportError:
        raise UserError(
            "--demo is not available in this build (no demo programs): run mapexplorer alone"
        ) from None
    return DemoSession(types=None)


def replay(args: argparse.Namespace) -> int:
    """The TUI over a recording: no root, no bpf(); the time bar moves through the frames."""
    if args.write or getattr(args, "demo", False):
        raise UserError("--replay shows a recording: --write and --demo do not apply")
    from mapexplorer.recording import RecordingError, read

    try:
        rec = read(args.replay)
    except RecordingError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read {args.replay}: {exc.strerror or exc}") from None
    from mapexplorer.app import make_app
    from mapexplorer.replay_source import ReplaySource

    app = make_app(ReplaySource(rec), refresh=0, open_map=args.map, replay=True)
    if rec.error is not None:
        app.call_later(app.notify, f"{rec.error}: the frames before it are shown", severity="warning",
                       timeout=15)
    app.run()
    return app.return_code or 0


def run(args: argparse.Namespace) -> int:
    if getattr(args, "replay", None):
        return replay(args)
    if caps.missing_caps():
        # One screen that says why and quits on q, rather than an explorer failing every second.
        from mapexplorer.screens.no_permission import NoPermissionApp

        return NoPermissionApp(caps.explain_refusal()).run() or 1
    from mapexplorer.app import make_app

    demo = _demo_session() if getattr(args, "demo", False) else None
    app = make_app(refresh=args.refresh, open_map=args.map, write=args.write, demo=demo,
                   hist_guess=not getattr(args, "no_hist_guess", False),
                   prog_stats=getattr(args, "prog_stats", False),
                   budget=getattr(args, "budget", DEFAULT_BUDGET))
    try:
        app.run()
    finally:
        app.stop_demo()
    return app.return_code or 0
