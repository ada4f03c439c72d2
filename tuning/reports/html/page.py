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
from tuning.reports.tables import class_tables, scored_rows, trials_table
from tuning.run_files import REPORT_FILE, read_summary, write_atomic
from tuning.runner_names import PARALLEL, TUNE
from tuning.stopping import stopped_text
from tuning.summary_types import BestModel, Summary, Timings
from tuning.values import evaluation_line, params_text, score_text

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


def _small_trials_note(t: Timings) -> list[str]:
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


def _speed_rows(t: Timings) -> list[tuple[str, Any, str]]:
    """Speedup, efficiency and cores: Tune's (or the tasks runner's), or each one's when both ran."""
    both = all(t.get(f"{name}_efficiency") is not None for name in PARALLEL)
    named = [(f"{RUNNER_LABELS[n]}: ", f"{n}_") for n in PARALLEL] if both else [("", "")]
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


def _classes_html(best_model: BestModel) -> str:
    """A classifier's confusion matrix and per-class scores on the test rows ('' for a regressor)."""
    tables = class_tables(best_model)
    if tables is None:
        return ""
    matrix, scores = (_rows_html(table.header, table.rows, "th") for table in tables)
    return (
        f"<h2>Best model on the {scored_rows(best_model)} rows</h2>"
        f'<table class="confusion">{matrix}</table><table class="per-class">{scores}</table>'
    )


def _rows_html(header: list[str], rows: list[list[str]], first: str = "td") -> str:
    """A header row and the rows, each cell escaped; ``first``: the tag of each row's first cell."""
    e = html.escape
    cells = [
        f"<tr><{first}>{e(row[0])}</{first}>" + "".join(f"<td>{e(c)}</td>" for c in row[1:]) + "</tr>"
        for row in rows
    ]
    return "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>" + "".join(cells)


def _table_html(summary: Summary) -> str:
    """One row per configuration (Tune's trials, else the baseline's), best first, errors
    last, with each runner's time for it."""
    names = runners(summary)
    trials = summary["trials"]
    table = trials_table(
        trials[TUNE] if TUNE in names else trials[names[0]],
        {RUNNER_LABELS.get(n, n): trials[n] for n in names},
        summary["metric"],
        summary["mode"],
        recorded_metrics(summary),
        searched_params(summary),
        models=models_shown(summary),
        error=lambda error: f"error: {error}",
        tied=(summary.get("selection") or {}).get("tied"),
    )
    header = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    return f'<table class="trials"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'


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
