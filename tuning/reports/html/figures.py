"""The report's matplotlib figures, drawn from ``report_data`` and embedded as base64 PNGs.

matplotlib is imported inside the functions: it is heavy, and only the report needs it.
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import TYPE_CHECKING, Any

from tuning.metrics import best_of
from tuning.reports.html.data import RUNNER_LABELS
from tuning.runner_names import IN_ORDER, PARALLEL, SEQUENTIAL, TASKS, TUNE
from tuning.summary_types import Timings
from tuning.values import fmt, is_number, score_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PNG_DPI = 200  # twice the figures' 100 dpi: sharp on a laptop's screen
RUNNER_STYLE = {
    TUNE: {"color": "C0", "marker": "o"},
    SEQUENTIAL: {"color": "C1", "marker": "x"},
    TASKS: {"color": "C2", "marker": "^"},
}


def _figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on the Agg canvas (no display, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # heavy: at first use
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display, no global pyplot state
    return figure


def params_figure(data: dict[str, Any]) -> Figure | None:
    """The metric against each searched parameter, one panel each, both runners' points."""
    params = data["params"]
    if not params:
        return None
    columns = min(3, len(params))
    rows = math.ceil(len(params) / columns)
    figure = _figure(4.6 * columns, 3.4 * rows)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, (param, series) in zip(axes, params.items(), strict=False):
        values = [x for points in series.values() for x, _ in points]
        numeric = all(is_number(x) for x in values)
        line = data.get("lines", {}).get(param, {})
        keys = [_key(x) for x in line.get("categories", [])] if not numeric else []
        for name, points in series.items():
            if not points:
                continue
            xs = [x if numeric else keys.index(_key(x)) for x, _ in points]
            ys = [y for _, y in points]
            _error_bars(ax, xs, ys, data.get("spread", {}).get(name), RUNNER_STYLE.get(name, {"color": "C2"}))
            style = RUNNER_STYLE.get(name, {"color": "C2", "marker": "s"})
            hollow = style["marker"] != "x"  # hollow circles under crosses: both runners visible
            ax.scatter(
                xs,
                ys,
                s=48 if hollow else 28,
                marker=style["marker"],
                linewidths=1.3,
                **({"facecolors": "none", "edgecolors": style["color"]} if hollow else {"c": style["color"]}),
                label=RUNNER_LABELS.get(name, name),
                zorder=4 if name == SEQUENTIAL else 3,
            )
        if numeric and len(line.get("mean", {}).get("x", [])) > 1:  # the mean per value (or bin), joined
            ax.plot(line["mean"]["x"], line["mean"]["y"], color="0.55", linewidth=1, zorder=2)
        if not numeric:
            ax.set_xticks(range(len(keys)), [fmt(x) for x in line["categories"]])
            ax.set_xlim(-0.5, len(keys) - 0.5)
        ax.set_xlabel(param)
        ax.set_ylabel(data["metric"])
        ax.grid(alpha=0.3)
        ax.set_title(f"{data['metric']} against {param}", fontsize=11)
        if len(series) > 1:
            ax.legend(fontsize=8)
    for ax in axes[len(params) :]:
        ax.set_visible(False)
    return figure


def _key(value: Any) -> str:
    """A category's identity (exact, unlike its shown text)."""
    return json.dumps(value, default=str)


def _error_bars(ax, xs: list, ys: list[float], stds: list | None, style: dict[str, Any]) -> None:
    """Mean ± std over the splits behind each point (a repeated run)."""
    if not stds or len(stds) != len(ys):
        return
    yerr = [s or 0.0 for s in stds]
    ax.errorbar(xs, ys, yerr=yerr, fmt="none", ecolor=style["color"], elinewidth=1, capsize=3, alpha=0.6)


def repeats_figure(data: dict[str, Any]) -> Figure | None:
    """Every split's score: a histogram for one configuration, a box per configuration for several."""
    shown = data.get("repeats") or []
    if not shown:
        return None
    metric = data["metric"]
    if len(shown) == 1:
        (one,) = shown
        figure = _figure(7.0, 3.4)
        ax = figure.subplots()
        ax.hist(one["scores"], bins=min(30, max(5, len(one["scores"]) // 4)), color="C0", alpha=0.8)
        ax.axvline(
            one["mean"],
            color="0.2",
            linewidth=1.5,
            label=f"mean {score_text(one['mean'])} ± {score_text(one['std'])}",
        )
        ax.set_xlabel(f"{metric} of each split")
        ax.set_ylabel("splits")
        ax.set_title(f"{one['label']}: {len(one['scores'])} splits", fontsize=11)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return figure
    figure = _figure(7.0, 1.2 + 0.42 * len(shown))
    ax = figure.subplots()
    ax.boxplot([c["scores"] for c in shown], vert=False, showmeans=True)
    ax.set_yticks(range(1, len(shown) + 1), [c["label"] for c in shown], fontsize=8)
    ax.invert_yaxis()  # best mean at the top
    ax.set_xlabel(f"{metric} of each split (triangle: the mean, which ranks them)")
    ax.set_title(f"{len(shown[0]['scores'])} splits per configuration, best mean first", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return figure


def timings_figure(data: dict[str, Any]) -> Figure | None:
    """Each runner's trial-phase wall time beside the ideal (every core busy)."""
    t = data["timings"]
    rows = [(RUNNER_LABELS[n], t.get(f"{n}_s"), RUNNER_STYLE[n]["color"]) for n in IN_ORDER]
    rows = [row for row in rows if row[1]]
    if t.get("ideal_s"):
        rows.append((f"ideal: {t['cores']:g} cores busy", t["ideal_s"], "0.6"))
    if not rows:
        return None
    figure = _figure(7.0, 0.9 + 0.55 * len(rows))
    ax = figure.subplots()
    ax.barh([r[0] for r in rows], [r[1] for r in rows], color=[r[2] for r in rows], height=0.6)
    for y, (_, value, _) in enumerate(rows):
        ax.text(value, y, f" {value:.1f} s", va="center", fontsize=9)
    ax.set_xlim(0, max(r[1] for r in rows) * 1.18)
    ax.invert_yaxis()
    ax.set_xlabel("trial-phase wall time (s)")
    ax.set_title(_speed_title(t), fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return figure


def _speed_title(t: Timings) -> str:
    """``speedup 1.71x, efficiency 85%``: Tune's (or the tasks runner's), or each one's when both ran."""
    both = all(t.get(f"{name}_efficiency") is not None for name in PARALLEL)
    parts = []
    for label, key in [(f"{n}: ", f"{n}_") for n in PARALLEL] if both else [("", "")]:
        title = []
        if t.get(f"{key}speedup") is not None:
            title.append(f"speedup {t[f'{key}speedup']:.2f}x")
        if t.get(f"{key}efficiency") is not None:
            title.append(f"efficiency {t[f'{key}efficiency']:.0%}")
        parts.append(label + ", ".join(title) if title else "")
    return "; ".join(p for p in parts if p) or "trial-phase wall time"


COST_AXES = (
    ("model_bytes", "fitted model size (bytes)"),
    ("predict_s_per_1k", "prediction time per 1,000 rows (s)"),
)


def cost_figure(data: dict[str, Any]) -> Figure | None:
    """The score against each model's size and prediction time, the Pareto front of each
    marked (a line through it), the configurations tied with the best and the selected one."""
    points, metric = data.get("costs") or [], data["metric"]
    if len(points) < 2:
        return None
    figure = _figure(9.0, 3.6)
    for ax, (cost, label) in zip(figure.subplots(1, 2), COST_AXES, strict=True):
        front = sorted((p[cost], p["score"]) for p in points if p[f"pareto_{cost}"])
        ax.plot(*zip(*front, strict=True), color="C3", linewidth=1, zorder=1, label="Pareto front")
        plain = [p for p in points if not p["tied"]]
        tied = [p for p in points if p["tied"]]
        ax.scatter([p[cost] for p in plain], [p["score"] for p in plain], color="0.55", s=18, label="other")
        if tied:
            ax.scatter(
                [p[cost] for p in tied], [p["score"] for p in tied], color="C0", s=24, label="tied with best"
            )
        chosen = [p for p in points if p["selected"]]
        ax.scatter(
            [p[cost] for p in chosen],
            [p["score"] for p in chosen],
            marker="*",
            s=160,
            color="C2",
            edgecolor="k",
            zorder=3,
            label="selected",
        )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def png_base64(figure: Figure) -> str:
    """The figure as a PNG at 2x (``PNG_DPI``, sharp on a high-density screen), base64 for a ``data:`` URI.

    The page shows it at its 100-dpi size (``width`` and ``height`` in CSS pixels).
    """
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def importance_figure(space: dict[str, Any] | None) -> Figure | None:
    """Each parameter's importance (Optuna's fANOVA), most important on top."""
    if not space or not space.get("importances"):
        return None
    names = list(space["importances"])[::-1]
    figure = _figure(6.4, 0.5 * len(names) + 1.2)
    ax = figure.subplots()
    ax.barh(names, [space["importances"][n] for n in names], color="C0")
    ax.set_xlabel("importance (share of the metric's variance)")
    ax.set_xlim(0, 1)
    return figure


def _normalised(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    return [(v - low) / (high - low) if high > low else 0.5 for v in values]


def parallel_figure(space: dict[str, Any] | None, metric: str, mode: str) -> Figure | None:
    """Parallel coordinates: one line per trial across the parameters (each axis scaled to its
    range), coloured by the metric (the best trials drawn last, on top)."""
    if not space:
        return None
    from matplotlib import colormaps  # heavy: at first use
    from matplotlib.colors import Normalize

    params, scores = space["params"], space["scores"]
    columns = [_normalised(space["axes"][p]) for p in params]
    norm = Normalize(min(scores), max(scores))
    cmap = colormaps["viridis_r" if mode == "min" else "viridis"]  # the best is yellow either way
    figure = _figure(max(6.4, 1.8 * len(params)), 4.2)
    ax = figure.subplots()
    order = sorted(range(len(scores)), key=lambda i: scores[i] if mode == "max" else -scores[i])
    for i in order:
        ax.plot(range(len(params)), [c[i] for c in columns], color=cmap(norm(scores[i])), alpha=0.8, lw=1.2)
    ax.set_xticks(range(len(params)), params)
    for x, p in enumerate(params):
        for text, height in _axis_labels(space, p):
            below = height == 0  # the lowest label under its axis' end, the others beside their line
            offset = (3, -12) if below else (3, 4) if height == 1 else (3, -3)
            ax.annotate(text, (x, height), xytext=offset, textcoords="offset points", fontsize=8)
    ax.vlines(range(len(params)), 0, 1, color="0.7", lw=0.8)  # the axes (a collection, not trial lines)
    ax.set_ylim(-0.08, 1.08)
    ax.set_yticks([])
    figure.colorbar(_mappable(cmap, norm), ax=ax, label=metric)
    return figure


def _axis_labels(space: dict[str, Any], param: str) -> list[tuple[str, float]]:
    """Every category of a categorical axis at its height, or a numeric axis' two ends."""
    labels = space["labels"].get(param)
    if labels:
        return list(zip(labels, _normalised(list(range(len(labels)))), strict=True))
    values = space["axes"][param]
    return [(f"{min(values):g}", 0.0), (f"{max(values):g}", 1.0)]


def _mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable  # heavy: at first use

    return ScalarMappable(norm=norm, cmap=cmap)


def heatmap_figure(space: dict[str, Any] | None, metric: str, mode: str) -> Figure | None:
    """The best score of each cell of the two most important parameters (the first two listed
    without importances): a heat map for grids, points coloured by the metric otherwise."""
    if not space:
        return None
    from matplotlib import colormaps  # heavy: at first use
    from matplotlib.colors import Normalize

    x, y = list(space.get("importances") or space["params"])[:2]
    xs, ys, scores = space["axes"][x], space["axes"][y], space["scores"]
    cmap = colormaps["viridis_r" if mode == "min" else "viridis"]
    norm = Normalize(min(scores), max(scores))
    figure = _figure(6.4, 4.8)
    ax = figure.subplots()
    columns, rows = sorted(set(xs)), sorted(set(ys))
    if len(columns) * len(rows) <= 400:  # a grid: one cell per pair, the best score in it
        pick = best_of(mode)
        cells: dict[tuple[float, float], float] = {}
        for a, b, s in zip(xs, ys, scores, strict=True):
            cells[(a, b)] = pick(cells.get((a, b), s), s)
        grid = [[cells.get((a, b), math.nan) for a in columns] for b in rows]
        ax.imshow(grid, cmap=cmap, norm=norm, origin="lower", aspect="auto")
        ax.set_xticks(range(len(columns)), [_tick(space, x, v) for v in columns], rotation=45)
        ax.set_yticks(range(len(rows)), [_tick(space, y, v) for v in rows])
    else:
        ax.scatter(xs, ys, c=scores, cmap=cmap, norm=norm, s=30)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    figure.colorbar(_mappable(cmap, norm), ax=ax, label=f"best {metric}")
    return figure


def _tick(space: dict[str, Any], param: str, value: float) -> str:
    labels = space["labels"].get(param)
    return labels[int(value)] if labels else f"{value:g}"
