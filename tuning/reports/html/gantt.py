"""The timeline figure: the run's phases above each runner's Gantt chart.

Its data: `tuning.reports.html.timeline`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuning.reports.html.data import RUNNER_LABELS, size_param
from tuning.reports.html.figures import RUNNER_STYLE, _figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PHASE_COLORS = {
    "start-up": "0.75",
    "ray start": "C4",
    "data load": "C2",
    "trials": "C0",
    "refit": "C1",
    "report": "C3",
}


def timeline_figure(data: dict[str, Any]) -> Figure | None:
    """The run's phases above each runner's Gantt chart, on one time scale, one lane per worker."""
    timeline, phases = data["timeline"], (data.get("phases") or {}).get("phases") or []
    if not timeline:
        return None
    ends = [bar["end_s"] for t in timeline.values() for bar in t["bars"]]
    ends += [p[k] for p in phases for k in ("start_s", "end_s") if p[k] is not None]
    span = max(ends) or 1.0
    lanes = [len(t["lanes"]) for t in timeline.values()]
    heights = ([1.0] if phases else []) + [0.6 + 0.45 * n for n in lanes]
    figure = _figure(11.0, 1.0 + sum(heights))
    axes = figure.subplots(len(heights), 1, sharex=True, height_ratios=heights, squeeze=False).ravel()
    if phases:
        _phase_strip(axes[0], phases, span)
    colour = _size_colours(data)
    for ax, (name, chart) in zip(axes[1 if phases else 0 :], timeline.items(), strict=True):
        _gantt(ax, name, chart, data, colour, span)
    axes[-1].set_xlim(0, span * 1.02)
    axes[-1].set_xlabel(
        f"seconds since {(data.get('phases') or {}).get('origin', 'the first trial started')}"
    )
    if colour:
        figure.colorbar(colour[1], ax=list(axes), label=colour[0], pad=0.01, aspect=30)
    return figure


def _phase_strip(ax: Axes, phases: list[dict[str, Any]], span: float) -> None:
    """The run's phases as one bar each; an open phase (the report) as a line where it starts."""
    handles = []
    for p in phases:
        color = PHASE_COLORS.get(p["name"], "0.5")
        if p["end_s"] is None:
            handles.append(ax.axvline(p["start_s"], color=color, linewidth=2, label=f"{p['name']} (starts)"))
            continue
        bars = ax.barh(
            0,
            max(p["end_s"] - p["start_s"], span / 500),
            left=p["start_s"],
            height=0.7,
            color=color,
            label=f"{p['name']} {p['end_s'] - p['start_s']:.1f} s",
        )
        handles.append(bars)
    ax.set_yticks([0], ["run"], fontsize=8)
    ax.set_ylim(0.5, -0.5)
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    ax.set_title("The run's phases", fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def _size_colours(data: dict[str, Any]) -> tuple[str, Any] | None:
    """The parameter the bars are coloured by and its colour scale (None: the runner's colour)."""
    import matplotlib as mpl  # heavy: at first use

    size = size_param(data)
    if not size:
        return None
    sizes = [bar["config"][size] for t in data["timeline"].values() for bar in t["bars"]]
    norm = mpl.colors.Normalize(min(sizes), max(sizes) if max(sizes) > min(sizes) else min(sizes) + 1)
    return size, mpl.cm.ScalarMappable(norm=norm, cmap="viridis")


def _gantt(
    ax: Axes, name: str, chart: dict[str, Any], data: dict[str, Any], colour: Any, span: float
) -> None:
    """One runner's trials, one lane per worker."""
    bars = chart["bars"]
    colors = (
        [colour[1].to_rgba(bar["config"][colour[0]]) for bar in bars]
        if colour
        else RUNNER_STYLE.get(name, {"color": "C2"})["color"]
    )
    ax.barh(
        [bar["lane"] for bar in bars],
        [max(bar["end_s"] - bar["start_s"], span / 500) for bar in bars],
        left=[bar["start_s"] for bar in bars],
        height=0.7,
        color=colors,
        edgecolor="white",
        linewidth=0.6,
    )
    ax.set_yticks(range(len(chart["lanes"])), chart["lanes"], fontsize=8)
    ax.set_ylim(len(chart["lanes"]) - 0.5, -0.5)
    wall = data["timings"].get(f"{name}_s")
    took = f", trial phase {wall:.1f} s" if wall else ""
    n = len(chart["lanes"])
    ax.set_title(
        f"{RUNNER_LABELS.get(name, name)}: {len(bars)} trials on {n} worker{'s' if n != 1 else ''}{took}",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
