"""The report's charts: matplotlib figures rendered to inline SVG (text kept as text, no
metadata, no external reference), drawn from the same values the report embeds as data.

matplotlib rather than a JavaScript library: the page stays small (a chart is a few tens of
kilobytes of SVG, where plotly inlines 3.5 MB of JavaScript), needs no script to show, prints
well, and the charts are the same in every browser. Figures are built without pyplot, so no
global state and no display backend is involved.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence

import matplotlib
from matplotlib.dates import AutoDateLocator, DateFormatter, DayLocator
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

PALETTE = ("#2f6db5", "#e07b39", "#3a9e6e", "#c2414b", "#7a5cb8", "#8c8c8c", "#d4a72c", "#4bb3c4")
STATUS_COLOURS = {"succeeded": "#3a9e6e", "failed": "#c2414b", "skipped": "#b8b8b8",
                  "reused": "#9cc3e6", "not_needed": "#d9d9d9", "running": "#d4a72c"}
STYLE = {
    "svg.fonttype": "none",              # text stays text: smaller, selectable, searchable
    "svg.hashsalt": "run-report",        # stable element ids: the same data, the same SVG
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#999999",
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "legend.frameon": False,
    "xtick.color": "#555555",
    "ytick.color": "#555555",
}
_SVG_START = re.compile(r"<svg\b")
_DROPPED = re.compile(r'<metadata>.*?</metadata>|\s+xmlns(:xlink)?="[^"]*"', re.S)


def formatter(kind: str) -> FuncFormatter:
    """Axis labels: `usd` ($1.2k), `pct` (values are fractions: 12.5%), `int` (1,234)."""
    def usd(v, _):
        return f"${v / 1e6:.1f}M" if abs(v) >= 1e6 else f"${v / 1e3:.0f}k" if abs(v) >= 1e4 else f"${v:,.0f}"
    return FuncFormatter({"usd": usd, "pct": lambda v, _: f"{v:.0%}" if v >= 0.1 or v == 0 else f"{v:.1%}",
                          "int": lambda v, _: f"{v:,.0f}"}[kind])


def to_svg(fig: Figure) -> str:
    """The figure as an `<svg>` element to inline in HTML."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return _DROPPED.sub("", text[_SVG_START.search(text).start():])


def _figure(width: float = 10.0, height: float = 2.8) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _dates(values: Sequence[str]) -> list[dt.date]:
    return [dt.date.fromisoformat(v) for v in values]


def line_chart(title: str, dates: Sequence[str], series: dict[str, Sequence[float | None]],
               kind: str = "int") -> str:
    """One line per series over the dates (None leaves a gap)."""
    with matplotlib.rc_context(STYLE):
        fig = _figure()
        ax = fig.add_subplot()
        x = _dates(dates)
        for i, (label, values) in enumerate(series.items()):
            ys = [float("nan") if v is None else v for v in values]
            ax.plot(x, ys, label=label, color=PALETTE[i % len(PALETTE)], linewidth=1.8,
                    marker="o" if len(x) <= 40 else None, markersize=3)
        # a tick per day for a short range (never hours between days), else about ten
        ax.xaxis.set_major_locator(DayLocator() if len(x) <= 14 else AutoDateLocator(maxticks=10))
        ax.xaxis.set_major_formatter(DateFormatter("%b %d"))
        ax.yaxis.set_major_formatter(formatter(kind))
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
        return to_svg(fig)


def funnel_chart(title: str, stages: Sequence[tuple[str, int]]) -> str:
    """Horizontal bars from the top of the funnel down, each labelled with its count, its share
    of the first stage and its conversion from the stage before."""
    with matplotlib.rc_context(STYLE):
        fig = _figure(height=1.9)
        ax = fig.add_subplot()
        labels = [s for s, _ in stages][::-1]
        values = [v for _, v in stages][::-1]
        ax.barh(labels, values, color=PALETTE[0], height=0.6)
        top = stages[0][1] or 1
        for i, (label, value) in enumerate(stages):
            step = "" if i == 0 else f", {value / stages[i - 1][1]:.1%} of the step before" if stages[i - 1][1] else ""
            ax.annotate(f" {value:,} ({value / top:.1%} of {stages[0][0]}{step})",
                        (value, len(stages) - 1 - i), va="center", fontsize=8, color="#333333")
        ax.set_xlim(0, top * 1.9)
        ax.xaxis.set_major_formatter(formatter("int"))
        ax.grid(axis="y", visible=False)
        ax.set_title(title)
        return to_svg(fig)


def share_bars(panels: dict[str, dict[str, float]], kind: str = "int", title: str = "") -> str:
    """Side-by-side horizontal bar panels, each bar labelled with its share of its panel."""
    with matplotlib.rc_context(STYLE):
        longest = max((len(v) for v in panels.values()), default=1)
        fig = _figure(height=0.22 * longest + 0.9)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for i, (ax, (name, values)) in enumerate(zip(axes, panels.items(), strict=True)):
            items = sorted(values.items(), key=lambda kv: kv[1])
            total = sum(values.values()) or 1
            ax.barh([k for k, _ in items], [v for _, v in items], color=PALETTE[i % len(PALETTE)], height=0.6)
            for y, (_, v) in enumerate(items):
                ax.annotate(f" {v / total:.1%}", (v, y), va="center", fontsize=8, color="#333333")
            ax.set_xlim(0, max(values.values() or [1]) * 1.35)
            ax.xaxis.set_major_formatter(formatter(kind))
            ax.xaxis.set_major_locator(MaxNLocator(3))
            ax.grid(axis="y", visible=False)
            ax.set_title(name)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
        return to_svg(fig)


def runs_chart(title: str, runs: Sequence[str], series: dict[str, Sequence[float | None]],
               kind: str = "int", panels: bool = False) -> str:
    """Series over runs in the order they ran (x: run number, oldest first): one line each on a
    shared axis, or (`panels`) one small panel per series with its own scale."""
    with matplotlib.rc_context(STYLE):
        fig = _figure(height=2.3)
        axes = fig.subplots(1, len(series) if panels else 1, squeeze=False)[0]
        x = list(range(1, len(runs) + 1))
        for i, (label, values) in enumerate(series.items()):
            ax = axes[i] if panels else axes[0]
            ys = [float("nan") if v is None else v for v in values]
            ax.plot(x, ys, label=label, color=PALETTE[i % len(PALETTE)], linewidth=1.8, marker="o", markersize=3)
            if panels:
                ax.set_title(label)
        for ax in axes:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
            ax.set_xlim(0.5, len(runs) + 0.5)
            ax.set_xlabel("run (oldest first)")
            ax.yaxis.set_major_formatter(formatter(kind))
            ax.set_ylim(bottom=0)
        if panels:
            fig.suptitle(title, x=0.01, ha="left", fontsize=10, fontweight="bold")
        else:
            axes[0].set_title(title)
            axes[0].legend(loc="upper left", bbox_to_anchor=(1, 1))
        return to_svg(fig)


def timeline(steps: Sequence[tuple[str, float, float, str]]) -> str:
    """A Gantt chart of the run: (step, start in seconds since the run started, duration, status)."""
    with matplotlib.rc_context(STYLE):
        fig = _figure(height=0.3 * len(steps) + 0.8)
        ax = fig.add_subplot()
        names = [s[0] for s in steps][::-1]
        for y, (_, start, duration, status) in enumerate(steps[::-1]):
            ax.barh(y, max(duration, 0.2), left=start, color=STATUS_COLOURS.get(status, "#8c8c8c"), height=0.6)
            ax.annotate(f" {duration:.1f}s", (start + duration, y), va="center", fontsize=8, color="#333333")
        ax.set_yticks(range(len(names)), names)
        end = max((s[1] + s[2] for s in steps), default=1)
        ax.set_xlim(0, end * 1.12 or 1)
        ax.set_xlabel("seconds since the run started")
        ax.grid(axis="y", visible=False)
        ax.set_title("Steps")
        return to_svg(fig)
