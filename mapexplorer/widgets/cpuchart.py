"""A line chart with axes and a scale (textual-plotext): the drill-down's per-CPU rates over the last
refreshes, x in seconds before the newest sample, y from 0 with labelled ticks."""

from __future__ import annotations

from collections.abc import Callable

from textual_plotext import PlotextPlot

from mapexplorer.widgets.columns import fmt_rate

Y_TICKS = 5


def y_ticks(ymax: float, fmt: Callable[[float], str] = fmt_rate) -> tuple[list[float], list[str]]:
    """Evenly spaced ticks from 0 to ``ymax`` with their labels (``ymax`` 0: one tick at 0)."""
    if ymax <= 0:
        return [0.0], [fmt(0.0)]
    ticks = [ymax * i / (Y_TICKS - 1) for i in range(Y_TICKS)]
    return ticks, [fmt(t) for t in ticks]


class CpuChart(PlotextPlot):
    """Lines of (label, values) over shared x positions; missing values (None) leave a gap."""

    def show(self, xs: list[float], lines: list[tuple[str, list[float | None]]], *, title: str,
             xlabel: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        ymax = 0.0
        for label, ys in lines:
            pts = [(x, y) for x, y in zip(xs, ys, strict=False) if y is not None]
            if not pts:
                continue
            ymax = max(ymax, max(y for _, y in pts))
            plt.plot([x for x, _ in pts], [y for _, y in pts], label=label)
        if not xs or len(xs) < 2:
            plt.title(f"{title} (needs two refreshes)")
        ticks, labels = y_ticks(ymax)
        plt.yticks(ticks, labels)
        plt.ylim(0, ymax * 1.05 if ymax > 0 else 1)
        self.refresh()
