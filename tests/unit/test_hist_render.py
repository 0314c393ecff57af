"""Pure rendering of the histogram chart and the CPU heatmap (no app needed), and the drill-down's rate
series."""

from __future__ import annotations

from mapexplorer.histogram import LINEAR, LOG2, Histogram
from mapexplorer.screens.drilldown import rate_series
from mapexplorer.widgets.heatmap import RAMP, heat_color, render_heatmap
from mapexplorer.widgets.histogram import bar, render_chart, summary


def test_bar_lengths() -> None:
    assert bar(0, 10, 40) == ""
    assert bar(10, 10, 40) == "█" * 40
    assert bar(5, 10, 40) == "█" * 20
    assert bar(1, 1000, 40) == "▏"  # a sliver, never nothing, for a non-zero count


def test_chart_rows_delta_and_percentile_marks() -> None:
    h = Histogram((0, 50, 40, 9, 0, 0, 0, 1), LOG2, "usecs")
    delta = (0, 5, 0, 0, 0, 0, 0, 1)
    lines = render_chart(h, delta, 100).plain.splitlines()
    assert lines[0].split()[:4] == ["usecs", ":", "count", "Δ"]
    assert len(lines) == 1 + 7
    row1 = lines[1]
    assert row1.lstrip().startswith("0 -> 1") and "+5" in row1 and "◀ p50" in row1
    assert "◀ p90" in lines[2] and "◀ p99" in lines[3]
    assert lines[7].lstrip().startswith("64 -> 127") and "+1" in lines[7]
    assert all(len(line) <= 100 for line in lines)
    assert str(summary(h)).startswith("p50 ≤ 1  p90 ≤ 3  p99 ≤ 7  max ≤ 127  usecs")


def test_linear_chart_and_empty() -> None:
    lines = render_chart(Histogram((3, 0, 1), LINEAR), None, 80).plain.splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == ["0", "1", "2"]
    assert render_chart(Histogram((0, 0), LOG2), None, 80).plain == "every bucket is empty"


def test_heatmap_fits_and_a_hot_cpu_stands_out() -> None:
    series = [[1.0] * 10 for _ in range(64)]
    series[37][-1] = 100.0
    text = render_heatmap(series, 60, 20)
    lines = text.plain.splitlines()
    assert len(lines) <= 20
    # 64 CPUs in 17 lines: groups of 2 CPUs per half cell, labels say which
    assert lines[0].split()[0] == "0-3" and lines[-4].split()[0] == "60-63"
    assert "the max of 2 CPUs" in lines[-1]
    hottest = heat_color(100.0, 100.0)
    assert hottest.triplet is not None and tuple(hottest.triplet) == RAMP[-1]
    rows_end = len("\n".join(lines[:-3]))
    hot_spans = [s for s in text.spans if s.start < rows_end and (
        getattr(s.style, "color", None) == hottest or getattr(s.style, "bgcolor", None) == hottest)]
    assert len(hot_spans) == 1  # only the newest sample of the line holding cpu 37 (36-39)
    line_of = text.plain[: hot_spans[0].start].count("\n")
    assert lines[line_of].split()[0] == "36-39"
    assert lines[-2].count("█") == 12  # the legend's colour ramp


def test_heatmap_one_cpu_per_half_cell_when_it_fits() -> None:
    lines = render_heatmap([[float(c)] * 4 for c in range(4)], 40, 10).plain.splitlines()
    assert [ln.split()[0] for ln in lines[:2]] == ["0-1", "2-3"]
    assert "one CPU, one refresh" in lines[-1]


def test_rate_series() -> None:
    history = [(0.0, [{"": 0}, {"": 5}]), (1.0, [{"": 10}, {"": 5}]), (3.0, [{"": 30}, {"": 1}])]
    assert rate_series(history, "", 0) == [10.0, 10.0]
    assert rate_series(history, "", 1) == [0.0, None]  # a counter that went down has no rate
