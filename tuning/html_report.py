"""``python -m tuning.report RUN_DIR``: a self-contained HTML report of a run, with plots.

Everything is read from ``summary.json``, so the report can be rebuilt from disk at any
time. The page has no outside references: the plots are PNGs embedded as base64, and the
data behind them is embedded as JSON (``<script id="report-data">``) for other tools.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from tuning.errors import ExperimentError, run_command
from tuning.space import config_key

REPORT_FILE = "report.html"
RUNNER_LABELS = {"tune": "Ray Tune", "sequential": "Sequential baseline"}
RUNNER_STYLE = {"tune": {"color": "C0", "marker": "o"}, "sequential": {"color": "C1", "marker": "x"}}


# --------------------------------------------------------------------------- the data


def runners(summary: dict[str, Any]) -> list[str]:
    """Runners present in the summary, the baseline first (it is the reference)."""
    trials = summary.get("trials") or {}
    return [name for name in ("sequential", "tune") if trials.get(name)] + [
        name for name in trials if name not in ("sequential", "tune") and trials[name]
    ]


def searched_params(summary: dict[str, Any]) -> list[str]:
    """The parameters that appear in the trials' configurations, in first-seen order."""
    seen: dict[str, None] = {}
    for name in runners(summary):
        for trial in summary["trials"][name]:
            seen.update(dict.fromkeys(trial.get("config") or {}))
    return list(seen)


def _timed(trial: dict[str, Any]) -> bool:
    return trial.get("started_at") is not None and trial.get("ended_at") is not None


def assign_lanes(trials: list[dict[str, Any]]) -> tuple[list[int], list[str]]:
    """One lane per worker: a lane index for each trial, and each lane's label.

    A worker is a process (``node_id`` and ``pid``); without them (older summaries), trials
    are packed greedily into the fewest lanes in which no two overlap.
    """
    lanes: list[int] = [-1] * len(trials)
    labels: list[str] = []
    order = sorted(range(len(trials)), key=lambda i: trials[i]["started_at"])
    if all(trials[i].get("pid") is not None for i in order):
        workers: dict[tuple[Any, Any], int] = {}
        nodes = {trials[i].get("node_id") for i in order}
        for i in order:
            key = (trials[i].get("node_id"), trials[i]["pid"])
            if key not in workers:
                workers[key] = len(workers)
                node = f"node {str(key[0])[:6]} " if len(nodes) > 1 and key[0] else ""
                labels.append(f"{node}pid {key[1]}")
            lanes[i] = workers[key]
        return lanes, labels
    ends: list[float] = []
    for i in order:
        start = trials[i]["started_at"]
        free = [lane for lane, end in enumerate(ends) if end <= start + 1e-3]
        lane = free[0] if free else len(ends)
        if lane == len(ends):
            ends.append(0.0)
            labels.append(f"worker {lane + 1}")
        ends[lane] = trials[i]["ended_at"]
        lanes[i] = lane
    return lanes, labels


def report_data(summary: dict[str, Any]) -> dict[str, Any]:
    """What the plots show, as plain data (embedded in the page; the tests read it)."""
    metric = summary["metric"]
    data: dict[str, Any] = {"metric": metric, "mode": summary["mode"], "params": {}, "timeline": {}}
    for param in searched_params(summary):
        data["params"][param] = {
            name: [
                [t["config"].get(param), t["metrics"][metric]]
                for t in summary["trials"][name]
                if t.get("status") == "ok" and metric in (t.get("metrics") or {})
            ]
            for name in runners(summary)
        }
    for name in runners(summary):
        trials = [t for t in summary["trials"][name] if _timed(t)]
        if not trials:
            continue
        lanes, labels = assign_lanes(trials)
        origin = min(t["started_at"] for t in trials)
        data["timeline"][name] = {
            "lanes": labels,
            "bars": [
                {
                    "trial": t["name"],
                    "lane": lane,
                    "start_s": round(t["started_at"] - origin, 4),
                    "end_s": round(t["ended_at"] - origin, 4),
                    "config": t["config"],
                }
                for t, lane in zip(trials, lanes, strict=True)
            ],
        }
    data["timings"] = summary.get("timings") or {}
    return data


# --------------------------------------------------------------------------- the plots


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display, no global pyplot state
    return figure


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def params_figure(data: dict[str, Any]):
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
        numeric = all(_is_number(x) for x in values)
        ticks = list(dict.fromkeys(json.dumps(x, default=str) for x in values)) if not numeric else []
        means: dict[float, list[float]] = {}
        for name, points in series.items():
            if not points:
                continue
            xs = [x if numeric else ticks.index(json.dumps(x, default=str)) for x, _ in points]
            ys = [y for _, y in points]
            for x, y in zip(xs, ys, strict=True):
                means.setdefault(x, []).append(y)
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
                zorder=4 if name == "sequential" else 3,
            )
        if numeric and 1 < len(means) <= 40:  # a grid: the mean at each value, joined
            line_x = sorted(means)
            ax.plot(
                line_x, [sum(means[x]) / len(means[x]) for x in line_x], color="0.55", linewidth=1, zorder=2
            )
        if not numeric:
            ax.set_xticks(range(len(ticks)), [t.strip('"') for t in ticks])
            ax.set_xlim(-0.5, len(ticks) - 0.5)
        ax.set_xlabel(param)
        ax.set_ylabel(data["metric"])
        ax.grid(alpha=0.3)
        ax.set_title(f"{data['metric']} against {param}", fontsize=11)
        if len(series) > 1:
            ax.legend(fontsize=8)
    for ax in axes[len(params) :]:
        ax.set_visible(False)
    return figure


def timeline_figure(data: dict[str, Any]):
    """Gantt charts, one per runner side by side on one time scale, one lane per worker."""
    timeline = data["timeline"]
    if not timeline:
        return None
    import matplotlib as mpl

    span = max(bar["end_s"] for t in timeline.values() for bar in t["bars"]) or 1.0
    most_lanes = max(len(t["lanes"]) for t in timeline.values())
    figure = _figure(6.2 * len(timeline), 1.6 + 0.5 * most_lanes)
    axes = figure.subplots(1, len(timeline), squeeze=False, sharex=True).ravel()
    size = _size_param(data)
    colour = None
    if size:
        sizes = [bar["config"][size] for t in timeline.values() for bar in t["bars"]]
        norm = mpl.colors.Normalize(min(sizes), max(sizes) if max(sizes) > min(sizes) else min(sizes) + 1)
        colour = mpl.cm.ScalarMappable(norm=norm, cmap="viridis")
    for ax, (name, chart) in zip(axes, timeline.items(), strict=True):
        bars = chart["bars"]
        colors = (
            [colour.to_rgba(bar["config"][size]) for bar in bars]
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
        ax.set_xlim(0, span * 1.02)
        ax.set_xlabel("seconds since the runner's first trial started")
        wall = data["timings"].get(f"{name}_s")
        took = f", trial phase {wall:.1f} s" if wall else ""
        ax.set_title(
            f"{RUNNER_LABELS.get(name, name)}: {len(bars)} trials on {len(chart['lanes'])} "
            f"worker{'s' if len(chart['lanes']) != 1 else ''}{took}",
            fontsize=10,
        )
        ax.grid(axis="x", alpha=0.3)
    if colour:
        figure.colorbar(colour, ax=list(axes), label=size, pad=0.01, aspect=30)
    return figure


def _size_param(data: dict[str, Any]) -> str | None:
    """The numeric searched parameter to colour the bars by (``n_estimators`` first)."""
    numeric = [
        p
        for p, series in data["params"].items()
        if all(_is_number(x) for points in series.values() for x, _ in points)
        and any(points for points in series.values())
    ]
    if not numeric or not all(
        _is_number(bar["config"].get(numeric[0] if "n_estimators" not in numeric else "n_estimators"))
        for t in data["timeline"].values()
        for bar in t["bars"]
    ):
        return None
    return "n_estimators" if "n_estimators" in numeric else numeric[0]


def timings_figure(data: dict[str, Any]):
    """Each runner's trial-phase wall time beside the ideal (every core busy)."""
    t = data["timings"]
    rows = [(RUNNER_LABELS[n], t.get(f"{n}_s"), RUNNER_STYLE[n]["color"]) for n in ("sequential", "tune")]
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
    title = []
    if t.get("speedup") is not None:
        title.append(f"speedup {t['speedup']:.2f}x")
    if t.get("efficiency") is not None:
        title.append(f"efficiency {t['efficiency']:.0%}")
    ax.set_title(", ".join(title) or "trial-phase wall time", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return figure


def png_base64(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- the page


def render_html(summary: dict[str, Any]) -> str:
    """The whole report as one HTML string (no outside references)."""
    data = report_data(summary)
    e = html.escape
    metric = summary["metric"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(summary['experiment'])}: tuning report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(summary['experiment'])}</h1>",
        f'<p class="meta">{e(summary.get("run_dir", ""))} · {e(str(summary.get("created", "")))} · '
        f"runner {e(str(summary.get('runner', '')))} · status <b>{e(str(summary.get('status', '')))}</b></p>",
    ]
    best = summary.get("best")
    if best:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in best["config"].items())
        parts.append(
            f'<p class="best">Best {e(metric)} <b>{best[metric]:.4f}</b> with {e(params)} '
            f"({e(RUNNER_LABELS.get(best['runner'], best['runner']))}, {e(best['trial'])})</p>"
        )
    parts.append(_timings_html(summary))
    speedup = (summary.get("timings") or {}).get("speedup")
    if speedup is not None and speedup < 1:
        parts.append('<p class="note">The trials are too small for Ray: the sequential baseline wins.</p>')
    for title, figure, alt in (
        ("Timeline of trials", timeline_figure(data), "Gantt chart: one lane per worker"),
        ("Speedup and efficiency", timings_figure(data), "trial-phase wall times"),
        (f"{metric} against each searched parameter", params_figure(data), f"{metric} per parameter"),
    ):
        if figure is not None:
            parts.append(f"<h2>{e(title)}</h2>")
            parts.append(f'<img alt="{e(alt)}" src="data:image/png;base64,{png_base64(figure)}">')
    parts.append(f"<h2>Trials, best {e(metric)} first</h2>")
    parts.append(_table_html(summary))
    versions = summary.get("versions") or {}
    if versions:
        parts.append('<p class="meta">' + e(", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>")
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="report-data">{payload}</script>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _timings_html(summary: dict[str, Any]) -> str:
    t = summary.get("timings") or {}
    rows = [
        ("Ray start", t.get("ray_start_s"), "{:.1f} s"),
        ("Data load", t.get("data_load_s"), "{:.1f} s"),
        ("Sequential trial phase", t.get("sequential_s"), "{:.1f} s"),
        ("Ray Tune trial phase", t.get("tune_s"), "{:.1f} s"),
        ("Speedup over the baseline", t.get("speedup"), "{:.2f}x"),
        ("Efficiency", t.get("efficiency"), "{:.0%}"),
        ("Cores Tune could use", t.get("cores"), "{:g}"),
    ]
    counts = summary.get("counts") or {}
    cells = "".join(
        f"<tr><th>{label}</th><td>{fmt.format(value)}</td></tr>"
        for label, value, fmt in rows
        if value is not None
    )
    if counts:
        cells += (
            f"<tr><th>Trials</th><td>{counts.get('ok', 0)} ok, {counts.get('error', 0)} errored, "
            f"{counts.get('retries', 0)} retried</td></tr>"
        )
    return f'<table class="facts">{cells}</table>'


def _table_html(summary: dict[str, Any]) -> str:
    """One row per configuration (Tune's trials, else the baseline's), best first, errors
    last, with each runner's time for it."""
    metric, sign = summary["metric"], 1 if summary["mode"] == "min" else -1
    names = runners(summary)
    main = summary["trials"]["tune"] if "tune" in names else summary["trials"][names[0]]
    times = {
        name: {config_key(t["config"]): t.get("duration_s") for t in summary["trials"][name]}
        for name in names
    }
    params = searched_params(summary)
    metrics = ("mse", "rmse", "mae", "r2")
    head = ["trial", *params, *metrics, *(f"{RUNNER_LABELS.get(n, n)} s" for n in names)]
    rows = sorted(
        main, key=lambda t: (t.get("status") != "ok", sign * (t.get("metrics") or {}).get(metric, 0.0))
    )
    e = html.escape
    body = []
    for t in rows:
        m = t.get("metrics") or {}
        key = config_key(t["config"])
        cells = [t["name"], *(_fmt(t["config"].get(p)) for p in params)]
        if t.get("status") == "ok":
            cells += [f"{m[k]:.4f}" if k in m else "" for k in metrics]
        else:
            cells += [f"error: {t.get('error')}", "", "", ""]
        cells += [f"{times[n][key]:.2f}" if times[n].get(key) is not None else "-" for n in names]
        body.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
    return f'<table class="trials"><thead>{header}</thead><tbody>{"".join(body)}</tbody></table>'


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1300px;padding:0 1em;color:#222}"
    "h1{margin-bottom:0}.meta{color:#666;font-size:0.9em}.best{font-size:1.1em}"
    "img{max-width:100%;height:auto;border:1px solid #eee}"
    "table{border-collapse:collapse;font-size:0.9em;margin:0.5em 0}"
    "td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}"
    ".note{color:#a40}.trials td{font-variant-numeric:tabular-nums}.facts th{font-weight:normal;color:#555}"
)


# --------------------------------------------------------------------------- files


def write_report(run_dir: Path, summary: dict[str, Any] | None = None) -> Path:
    """Write ``report.html`` in the run directory (atomically) and return its path."""
    from tuning.results import write_atomic
    from tuning.summary import read_summary

    run_dir = Path(run_dir)
    summary = summary if summary is not None else read_summary(run_dir)
    if not summary:
        raise ExperimentError("has no summary.json: the run did not finish", where=str(run_dir))
    path = run_dir / REPORT_FILE
    write_atomic(path, render_html(summary))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuning.report", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run directory, e.g. results/rf/2026-11-23_07-00-00")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    return run_command(lambda: print(write_report(args.run_dir)), args.debug)


if __name__ == "__main__":
    sys.exit(main())
