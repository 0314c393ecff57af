"""Regenerate screenshots/ (SVG, plus PNG when librsvg and cairo are installed) of every main screen from the
recordings the snapshot tests replay (tests/fixtures/maps.jsonl and maps-64cpu.jsonl.gz, fixed CPU counts
and timestamps).

    .venv/bin/python scripts/screenshots.py [--png] [--only NAME ...]

``--live`` takes the same screens from the running kernel instead (run ``mapexplorer demo`` first; root).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mapexplorer.app import MapExplorerApp, make_app
from mapexplorer.kernel_source import KernelSource
from mapexplorer.replay_source import ReplaySource

OUT = Path(__file__).resolve().parent.parent / "screenshots"
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
FIXTURE = {4: FIXTURES / "maps.jsonl", 64: FIXTURES / "maps-64cpu.jsonl.gz"}


@dataclass(frozen=True)
class Scene:
    name: str
    title: str
    open_map: str | None = None
    keys: tuple[str, ...] = ()
    ncpus: int = 4
    size: tuple[int, int] = (120, 36)
    extra: dict[str, str] = field(default_factory=dict)
    replay: bool = False
    """Open the fixture as ``--replay`` does (time bar, paused at the start) instead of one frame per read."""
    fixture: str | None = None
    """Another recording in tests/fixtures (default: maps.jsonl / maps-64cpu.jsonl.gz by ncpus)."""


SCENES = [
    Scene("map-list", "Every map, live"),
    Scene("filtered-list", "Filter: / pcpu", keys=("slash", "p", "c", "p", "u")),
    Scene(
        "hash-struct",
        "A hash with struct values: fields as columns, Δ and rate",
        "demo_proc_stats",
        ("r", "r"),
    ),
    Scene(
        "percpu-4", "Per-CPU array, 4 CPUs: sum/min/max/rate then cpu0..cpu3", "fx_pcpu_stats", ("r", "down")
    ),
    Scene(
        "percpu-64",
        "Per-CPU array, 64 CPUs, scrolled: the key stays",
        "fx_pcpu_stats",
        ("r", *["right"] * 40),
        64,
    ),
    Scene(
        "drilldown-4",
        "Drill-down: per-CPU rates as a chart with axes, imbalance",
        "fx_pcpu_stats",
        ("r", "r", "r", "down", "enter", "r", "r"),
    ),
    Scene(
        "drilldown-64",
        "Drill-down, 64 CPUs: a CPU x time heatmap on one colour scale (c: chart)",
        "fx_pcpu_stats",
        ("r", "r", "r", "down", "enter", "r", "r"),
        64,
    ),
    Scene(
        "histogram",
        "A log2 histogram map opens as a live bar chart with p50/p90/p99",
        "demo_read_log2",
        ("r",),
        fixture="hist.jsonl.gz",
    ),
    Scene(
        "histogram-per-key",
        "Per-key histogram (syscall latency per syscall): pick a key or all keys",
        "demo_sys_lat_us",
        ("r", "down"),
        fixture="hist.jsonl.gz",
    ),
    Scene("hex", "Hex view (x)", "demo_proc_stats", ("x",)),
    Scene("queue", "Queue: the head by peek, never pop", "demo_queue_exec"),
    Scene("map-of-maps", "Hash of maps: Enter opens the inner map", "demo_hom_tenant"),
    Scene("lpm-trie", "LPM trie: CIDR keys", "demo_lpm_routes"),
    Scene("stack-trace", "Stack traces: one frame list per id (user addresses marked)", "demo_stacks"),
    Scene("ringbuf", "Streams explain themselves (w watches)", "demo_ringbuf"),
    Scene("help", "Help (?)", keys=("question_mark",)),
    Scene(
        "replay",
        "--replay FILE: a recording without root; the time bar steps (,  .), plays (space), jumps (g)",
        "fx_pcpu_stats",
        ("full_stop", "full_stop", "full_stop"),
        replay=True,
    ),
    Scene("since-mark", "m marks a frame, c shows only the keys changed since", "demo_proc_stats",
          ("m", "c")),
    Scene("80x24", "Usable at 80x24", "fx_pcpu_stats", ("r",), size=(80, 24)),
]


async def shoot(scene: Scene, live: bool) -> str:
    path = FIXTURES / scene.fixture if scene.fixture else FIXTURE[scene.ncpus]
    source = KernelSource() if live else ReplaySource(path, follow_reads=not scene.replay)
    if scene.replay and not live:
        source.timeline.playing = False
    replay = scene.replay and not live
    app: MapExplorerApp = make_app(source, refresh=0, open_map=scene.open_map, replay=replay)
    async with app.run_test(size=scene.size) as pilot:
        for key in ("", *scene.keys):
            if key:
                await pilot.press(key)
            for _ in range(4):
                await app.workers.wait_for_complete()
                await pilot.pause()
        return app.export_screenshot(title=f"mapexplorer · {scene.title}")


PNG_FONT = "DejaVu Sans Mono"
"""Installed with every Debian/Ubuntu desktop and most servers; has the box-drawing and symbol glyphs the
screens use (▏ ⟳ ▲ Δ), where the SVG's web font (Fira Code) is not installed locally."""


def faithful_svg(text: str) -> str:
    """Textual's SVG made to render like the terminal under librsvg: ``xml:space="preserve"`` keeps the
    spaces at the edges of styled segments (librsvg drops them otherwise: "words without spaces"), and
    a local monospace font replaces the web font, and the two glyphs it lacks become look-alikes it has (the
    header's ⭘ -> ○, pause ⏸ -> ‖): no missing-glyph boxes."""
    text = re.sub(r"<svg ", '<svg xml:space="preserve" ', text, count=1)
    text = text.replace("\u2b58", "\u25cb")  # the header icon ⭘: no installed font has it; ○ looks the same
    text = text.replace("\u23f8", "\u2016")  # pause ⏸: not in DejaVu Sans Mono either; ‖ looks the same
    return text.replace("font-family: Fira Code, monospace;", f'font-family: "{PNG_FONT}", monospace;')


def svg_to_png(svg: Path, png: Path) -> bool:
    """Render with librsvg + cairo through ctypes (no Python dependency); False when they are missing.
    The SVG is rendered through :func:`faithful_svg` (the file itself is left as Textual wrote it)."""
    try:
        rsvg = ctypes.CDLL("librsvg-2.so.2")
        cairo = ctypes.CDLL("libcairo.so.2")
    except OSError:
        return False

    class Rect(ctypes.Structure):
        _fields_ = [
            ("x", ctypes.c_double),
            ("y", ctypes.c_double),
            ("w", ctypes.c_double),
            ("h", ctypes.c_double),
        ]

    vp = ctypes.c_void_p
    rsvg.rsvg_handle_new_from_file.restype = vp
    rsvg.rsvg_handle_new_from_file.argtypes = [ctypes.c_char_p, vp]
    rsvg.rsvg_handle_render_document.argtypes = [vp, vp, ctypes.POINTER(Rect), vp]
    cairo.cairo_image_surface_create.restype = vp
    cairo.cairo_create.restype = vp
    cairo.cairo_create.argtypes = [vp]
    cairo.cairo_surface_write_to_png.argtypes = [vp, ctypes.c_char_p]
    cairo.cairo_destroy.argtypes = [vp]
    cairo.cairo_surface_destroy.argtypes = [vp]
    text = faithful_svg(svg.read_text())
    m = re.search(r'viewBox="([\d. ]+)"', text[:500])
    if not m:
        return False
    _, _, w, h = map(float, m.group(1).split())
    with tempfile.NamedTemporaryFile("w", suffix=".svg", delete=False) as tmp:
        tmp.write(text)
    try:
        handle = rsvg.rsvg_handle_new_from_file(tmp.name.encode(), None)
    finally:
        os.unlink(tmp.name)
    if not handle:
        return False
    surface = cairo.cairo_image_surface_create(0, int(w), int(h))
    cr = cairo.cairo_create(surface)
    try:
        rsvg.rsvg_handle_render_document(handle, cr, ctypes.byref(Rect(0, 0, w, h)), None)
        return cairo.cairo_surface_write_to_png(surface, str(png).encode()) == 0
    finally:
        cairo.cairo_destroy(cr)
        cairo.cairo_surface_destroy(surface)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--png", action="store_true", help="also write PNGs (needs librsvg and cairo)")
    ap.add_argument("--live", action="store_true", help="from the running kernel instead of the fixtures")
    ap.add_argument("--only", nargs="*", metavar="NAME", help="only these scenes")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    for scene in SCENES:
        if args.only and scene.name not in args.only:
            continue
        svg = OUT / f"{scene.name}{'-live' if args.live else ''}.svg"
        svg.write_text(asyncio.run(shoot(scene, args.live)))
        line = f"{svg.relative_to(OUT.parent)}"
        if args.png:
            png = svg.with_suffix(".png")
            line += f" + {png.name}" if svg_to_png(svg, png) else " (no PNG: librsvg/cairo missing)"
        sys.stderr.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
