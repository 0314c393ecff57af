"""Open and close time of the entry detail screen for a big value, and the peak memory it costs.

The app runs headless (Textual's run_test) with the detail screen of one entry whose value is ``--size``
bytes without BTF (so the JSON is one ``"0xNN"`` line per byte, the worst case for line count). Open is
the time from building and pushing the screen until it has been composited (build: the screen object alone,
decoding the value included); close is the time from popping it until
the previous screen is composited again. Peak memory is the process's high-water RSS growth (ru_maxrss).

The same is measured for a 16-byte value: the floor of pushing and compositing any screen here, so the
ratio says what the big value adds. Run: ``.venv/bin/python bench/detail_open.py [--size BYTES]
[--rounds N]``. Prints one JSON object. No root needed (no kernel access).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time

from textual.app import App
from textual.widgets import Static

from mapexplorer.decoders import RawDecoder
from mapexplorer.model import MapFacts, MapRow, MapSnapshot
from mapexplorer.screens.detail import EntryDetailScreen


def snapshot(size: int) -> MapSnapshot:
    row = MapRow(id=1, name="bench_big", type_name="array", key_size=4, value_size=size, max_entries=1)
    value = bytes(range(256)) * (size // 256) + bytes(size % 256)
    return MapSnapshot(MapFacts(row, 1, False), b"\0" * 4, value, 1, 4, size, 0.0, RawDecoder(4, size, 1))


class Host(App):
    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("host")


async def measure(size: int, rounds: int) -> dict[str, float]:
    snap = snapshot(size)
    opens, closes, made, builds = [], [], [], []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    app = Host()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        for _ in range(rounds):
            t0 = time.perf_counter()
            screen = EntryDetailScreen(snap, 0)
            builds.append(time.perf_counter() - t0)
            await app.push_screen(screen)
            await pilot.pause()  # until the screen has been refreshed
            opens.append(time.perf_counter() - t0)
            lines = getattr(screen, "lines", None)  # the lazy view counts what it formatted
            made.append(lines.made if lines is not None else -1)
            t0 = time.perf_counter()
            await app.pop_screen()
            await pilot.pause()
            closes.append(time.perf_counter() - t0)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "value_bytes": size,
        "rounds": rounds,
        "open_ms_median": round(statistics.median(opens) * 1000, 1),
        "open_ms_max": round(max(opens) * 1000, 1),
        "build_ms_median": round(statistics.median(builds) * 1000, 1),
        "close_ms_median": round(statistics.median(closes) * 1000, 1),
        "lines_formatted_on_open": max(made),
        "peak_rss_growth_mb": round((rss1 - rss0) / 1024, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64 * 1024)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    big = asyncio.run(measure(args.size, args.rounds))
    small = asyncio.run(measure(16, args.rounds))  # the floor: a screen push and composite of any entry
    big["open_ms_median_16_byte_value"] = small["open_ms_median"]
    big["open_ratio_vs_16_byte_value"] = round(big["open_ms_median"] / max(small["open_ms_median"], 0.1), 2)
    print(json.dumps(big))


if __name__ == "__main__":
    main()
