"""``python -m tuning.report RUN_DIR``: a self-contained HTML report of a run, with plots.

Everything is read from ``summary.json``, so the report can be rebuilt from disk at any
time. The page has no outside references: the plots are PNGs embedded as base64, and the
data behind them is embedded as JSON (``<script id="report-data">``) for other tools.
"""

from __future__ import annotations

import argparse
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuning.errors import ExperimentError, run_command
from tuning.estimators.space import config_key
from tuning.metrics import sort_sign
from tuning.reports.html.data import RUNNER_LABELS, models_shown, report_data, runners, searched_params
from tuning.reports.html.figures import (
    cost_figure,
    heatmap_figure,
    importance_figure,
    parallel_figure,
    params_figure,
    png_base64,
    repeats_figure,
    timings_figure,
)
from tuning.reports.html.gantt import timeline_figure
from tuning.reports.selection import selection_lines
from tuning.reports.summary import recorded_metrics
from tuning.run_files import REPORT_FILE, read_summary, write_atomic
from tuning.stopping import stopped_text
from tuning.summary_types import Summary
from tuning.values import evaluation_line, fmt, mean_std, params_text, score_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1300px;padding:0 1em;color:#222}"
    "h1{margin-bottom:0}.meta{color:#666;font-size:0.9em}.best{font-size:1.1em}"
    "img{max-width:100%;height:auto;border:1px solid #eee}"
    "table{border-collapse:collapse;font-size:0.9em;margin:0.5em 0}"
    "td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}"
    ".note{color:#a40}.trials td{font-variant-numeric:tabular-nums}.facts th{font-weight:normal;color:#555}"
)


def render_html(summary: Summary) -> str:
    """The whole report as one HTML string (no outside references)."""
    data = report_data(summary)
    e = html.escape
    metric, mode = summary["metric"], summary["mode"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(summary['experiment'])}: tuning report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(summary['experiment'])}</h1>",
        f'<p class="meta">{e(summary.get("run_dir", ""))} · {e(str(summary.get("created", "")))} · '
        f"runner {e(str(summary.get('runner', '')))} · status <b>{e(str(summary.get('status', '')))}</b></p>",
    ]
    evaluation = summary.get("evaluation")
    if evaluation:
        parts.append(f'<p class="best">{e(evaluation_line(evaluation, metric))}</p>')
    best = summary.get("best")
    if best:
        params = params_text(best["config"])
        seen = "validation " if (summary.get("selection") or {}).get("test_rows_seen") else ""
        parts.append(
            f'<p class="best">Best {seen}{e(metric)} <b>{score_text(best[metric])}</b> with {e(params)} '
            f"({e(RUNNER_LABELS.get(best['runner'], best['runner']))}, {e(best['trial'])})</p>"
        )
    parts.append(_selection_html(summary))
    parts.append(_classes_html(summary.get("best_model") or {}))
    stopped = summary.get("stopped")
    if stopped:
        parts.append(f'<p class="note">Stopped early: {e(stopped_text(stopped))}.</p>')
    parts.append(_timings_html(summary))
    parts += _small_trials_note(summary.get("timings") or {})
    parts += _figures_html(data, metric, mode)
    note = (data["space"] or {}).get("note")
    if note:
        parts.append(f'<p class="note">{e(note)}.</p>')
    parts.append(f"<h2>Trials, best {e(metric)} first</h2>")
    parts.append(_table_html(summary))
    versions = summary.get("versions") or {}
    if versions:
        parts.append('<p class="meta">' + e(", ".join(f"{k} {v}" for k, v in versions.items())) + "</p>")
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="report-data">{payload}</script>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _small_trials_note(t: dict[str, Any]) -> list[str]:
    """Where the baseline beat Tune (or the tasks runner): that the trials are too small for it,
    and the tasks runner if it beat the baseline."""
    speedup = t.get("speedup")
    if speedup is None or speedup >= 1:
        return []
    if (t.get("tasks_speedup") or 0) >= 1 and t.get("tune_s") is not None:
        return ['<p class="note">The trials are too small for Ray Tune: the Ray Core tasks runner wins.</p>']
    return ['<p class="note">The trials are too small for Ray: the sequential baseline wins.</p>']


def report_figures(data: dict[str, Any], metric: str, mode: str) -> list[tuple[str, Figure, str]]:
    """The figures the run has data for, in the page's order: ``(title, figure, alt text)``."""
    drawn = (
        (f"{metric} of each split", repeats_figure(data), "the scores of the repeats per configuration"),
        (
            f"{metric} against what each model costs",
            cost_figure(data),
            "score against model size and prediction time",
        ),
        ("Timeline of the run", timeline_figure(data), "the run's phases, then one lane per worker"),
        ("Speedup and efficiency", timings_figure(data), "trial-phase wall times"),
        (f"{metric} against each searched parameter", params_figure(data), f"{metric} per parameter"),
        ("Parameter importances", importance_figure(data["space"]), "importance of each parameter"),
        ("Parallel coordinates", parallel_figure(data["space"], metric, mode), "one line per trial"),
        (
            "The two most important parameters",
            heatmap_figure(data["space"], metric, mode),
            f"best {metric} per pair of values",
        ),
    )
    return [(title, figure, alt) for title, figure, alt in drawn if figure is not None]


def figure_html(title: str, figure: Figure, alt: str, heading: str = "h2") -> str:
    """A heading and the figure's PNG, shown at 1x (drawn at 2x)."""
    e = html.escape
    width, height = (round(inches * 100) for inches in figure.get_size_inches())
    return (
        f"<{heading}>{e(title)}</{heading}>"
        f'<img alt="{e(alt)}" width="{width}" height="{height}" '
        f'src="data:image/png;base64,{png_base64(figure)}">'
    )


def _figures_html(data: dict[str, Any], metric: str, mode: str) -> list[str]:
    """Each figure the run has data for: a heading and its PNG."""
    return [figure_html(*drawn) for drawn in report_figures(data, metric, mode)]


def _speed_rows(t: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """Speedup, efficiency and cores: Tune's (or the tasks runner's), or each one's when both ran."""
    both = all(t.get(f"{name}_efficiency") is not None for name in ("tasks", "tune"))
    named = [(f"{RUNNER_LABELS[n]}: ", f"{n}_") for n in ("tasks", "tune")] if both else [("", "")]
    rows = []
    for label, key in named:
        rows += [
            (f"{label}Speedup over the baseline", t.get(f"{key}speedup"), "{:.2f}x"),
            (f"{label}Efficiency", t.get(f"{key}efficiency"), "{:.0%}"),
            (f"{label}Cores it could use" if label else "Cores Tune could use", t.get(f"{key}cores"), "{:g}"),
        ]
    return rows


def _timings_html(summary: Summary) -> str:
    """The run's timings and trial counts as a two-column table."""
    t = summary.get("timings") or {}
    rows = [
        ("Ray start", t.get("ray_start_s"), "{:.1f} s"),
        ("Data load", t.get("data_load_s"), "{:.1f} s"),
        ("Sequential trial phase", t.get("sequential_s"), "{:.1f} s"),
        ("Ray Core tasks trial phase", t.get("tasks_s"), "{:.1f} s"),
        ("Ray Tune trial phase", t.get("tune_s"), "{:.1f} s"),
        *_speed_rows(t),
    ]
    counts = summary.get("counts") or {}
    cells = "".join(
        f"<tr><th>{label}</th><td>{pattern.format(value)}</td></tr>"
        for label, value, pattern in rows
        if value is not None
    )
    if counts:
        cells += (
            f"<tr><th>Trials</th><td>{counts.get('ok', 0)} ok, {counts.get('error', 0)} errored, "
            f"{counts.get('retries', 0)} retried</td></tr>"
        )
    return f'<table class="facts">{cells}</table>'


def _selection_html(summary: Summary) -> str:
    """What was selected on which rows, the ties and the best's interval (`tuning.reports.selection`)."""
    lines = selection_lines(summary)
    cells = "".join(
        f"<tr><th>{html.escape(label)}</th><td>{html.escape(text)}</td></tr>" for label, text in lines
    )
    return f'<table class="facts selection">{cells}</table>' if lines else ""


def _classes_html(best_model: dict[str, Any]) -> str:
    """A classifier's confusion matrix and per-class scores on the test rows ('' for a regressor)."""
    if "confusion_matrix" not in best_model:
        return ""
    e = html.escape
    rows = "validation" if best_model.get("scored_on") == "validation" else "test"
    names = [str(c) for c in best_model["classes"]]
    head = "".join(f"<th>{e(n)}</th>" for n in names)
    matrix = "".join(
        f"<tr><th>{e(name)}</th>" + "".join(f"<td>{n}</td>" for n in counts) + "</tr>"
        for name, counts in zip(names, best_model["confusion_matrix"], strict=True)
    )
    keys = ("precision", "recall", "f1-score")
    scores = "".join(
        f"<tr><th>{e(name)}</th>"
        + "".join(f"<td>{score_text(best_model['per_class'][name][k])}</td>" for k in keys)
        + f"<td>{best_model['per_class'][name]['support']:g}</td></tr>"
        for name in names
    )
    return (
        f"<h2>Best model on the {rows} rows</h2>"
        f'<table class="confusion"><tr><th>true \\ predicted</th>{head}</tr>{matrix}</table>'
        '<table class="per-class"><tr><th>class</th><th>precision</th><th>recall</th><th>f1-score</th>'
        f"<th>support</th></tr>{scores}</table>"
    )


def _table_html(summary: Summary) -> str:
    """One row per configuration (Tune's trials, else the baseline's), best first, errors
    last, with each runner's time for it."""
    metric, sign = summary["metric"], sort_sign(summary["mode"])
    names = runners(summary)
    listed = summary["trials"]["tune"] if "tune" in names else summary["trials"][names[0]]
    times = {
        name: {config_key(t["config"]): t.get("duration_s") for t in summary["trials"][name]}
        for name in names
    }
    params = searched_params(summary)
    metrics = recorded_metrics(summary)
    model = ["model"] if models_shown(summary) else []
    tied = (summary.get("selection") or {}).get("tied")
    tie = ["tied with best"] if tied else []
    head = ["trial", *model, *params, *metrics, *tie, *(f"{RUNNER_LABELS.get(n, n)} s" for n in names)]
    rows = sorted(
        listed, key=lambda t: (t.get("status") != "ok", sign * (t.get("metrics") or {}).get(metric, 0.0))
    )
    e = html.escape
    body = []
    for t in rows:
        m = t.get("metrics") or {}
        key = config_key(t["config"])
        cells = [t["name"], *([t.get("model") or ""] if model else [])]
        cells += [fmt(t["config"][p]) if p in t["config"] else "" for p in params]
        if t.get("status") == "ok":
            cells += [
                (mean_std(m, k) if k == metric else score_text(m[k])) if k in m else "" for k in metrics
            ]
        else:
            cells += [f"error: {t.get('error')}", *[""] * (len(metrics) - 1)]
        cells += ["yes" if t["name"] in tied else ""] if tied else []
        cells += [f"{times[n][key]:.2f}" if times[n].get(key) is not None else "-" for n in names]
        body.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
    return f'<table class="trials"><thead>{header}</thead><tbody>{"".join(body)}</tbody></table>'


def write_report(run_dir: Path, summary: Summary | None = None) -> Path:
    """Write ``report.html`` in the run directory (atomically) and return its path."""
    run_dir = Path(run_dir)
    summary = summary if summary is not None else read_summary(run_dir)
    if not summary:
        raise ExperimentError("has no summary.json: the run did not finish", where=str(run_dir))
    path = run_dir / REPORT_FILE
    write_atomic(path, render_html(summary))
    return path


def main(argv: list[str] | None = None, prog: str = "python -m tuning.report") -> int:
    """``python -m tuning.report RUN_DIR``: write the run's HTML report and print its path."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run directory, e.g. results/rf/2026-11-23_07-00-00")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    return run_command(lambda: print(write_report(args.run_dir)), args.debug)
