"""What a person reads: the trial table, the best configuration, the timings."""

from __future__ import annotations

import math
import shlex
import statistics
from collections.abc import Sequence
from typing import Any

from tuning.estimators.models import CHOICE_KEY
from tuning.estimators.space import config_key
from tuning.metrics import METRICS, SHORT_NAMES
from tuning.reports.html.data import models_shown
from tuning.reports.html.importance import most_important_line
from tuning.reports.selection import selection_lines
from tuning.reports.summary import main_result, recorded_metrics, trial_record
from tuning.reports.tables import class_tables, scored_rows, trials_table
from tuning.runner_names import IN_ORDER, PARALLEL, SEQUENTIAL, TASKS, TUNE
from tuning.stopping import stopped_text
from tuning.summary_types import BestModel, Summary, Timings
from tuning.trial.records import RunnerResult, TrialResult
from tuning.values import evaluation_line, mean_std, params_text, score_text


def recorded_values(metrics: dict[str, Any]) -> dict[str, Any]:
    """Every score a trial records: each metric, its std over splits, its per-split scores."""
    return {k: v for k, v in metrics.items() if k.removesuffix("_std").removesuffix("_repeats") in METRICS}


def same_value(a: Any, b: Any) -> bool:
    """``a == b``, NaN equal to NaN, lists element by element (per-split scores)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def same_scores(a: TrialResult, b: TrialResult) -> bool:
    """Whether two trials of one configuration ended alike and recorded the same scores, all of them."""
    mine, theirs = recorded_values(a.metrics), recorded_values(b.metrics)
    return a.ok == b.ok and mine.keys() == theirs.keys() and all(same_value(mine[k], theirs[k]) for k in mine)


def check_parity(first: RunnerResult, second: RunnerResult) -> list[str]:
    """Configurations whose outcome or any recorded score differs between two runners (empty: identical)."""
    theirs = {config_key(t.config): t for t in second.trials}
    differ = []
    for trial in first.trials:
        other = theirs.get(config_key(trial.config))
        if other is None or not same_scores(trial, other):
            differ.append(config_key(trial.config))
    if len(second.trials) != len(first.trials):  # an adaptive search may propose a configuration twice
        differ.append(f"{len(first.trials)} trials vs {len(second.trials)}")
    return differ


def compare_runners(results: dict[str, RunnerResult], baseline: str = SEQUENTIAL) -> dict[str, list[str]]:
    """Each other runner's `check_parity` against ``baseline``, by name (any number of runners)."""
    base = results[baseline]
    return {name: check_parity(base, result) for name, result in results.items() if name != baseline}


def parity_line(differing: list[str], runners: str, count: int) -> str:
    """The one line a run of several runners prints about whether they agreed."""
    if not differing:
        return f"Parity:        {runners} agree on every recorded score of {count} configurations"
    return f"ERROR: {runners} differ on {len(differing)} configurations (a score or outcome): {differing[:3]}"


SHOWN_ROWS = 10  # the table's rows unless --show all


def trial_table(
    results: dict[str, RunnerResult],
    metric: str,
    mode: str,
    metrics: Sequence[str] = SHORT_NAMES,
    shown: int | None = None,
    models: bool = False,
) -> tuple[str, int]:
    """One row per configuration, best first, a column per recorded metric and a time column
    per runner; errors last. ``models``: a column naming each trial's model (its class, or
    its pipeline's steps); a choice's ``estimator`` column (the branch) comes first.

    The first ``shown`` rows (None: all); returns the table and how many rows were left out.
    A metric with a spread over splits reads ``0.5310 ± 0.0412`` (mean ± std).
    """
    main = main_result(results)
    kept = list(dict.fromkeys([metric, *metrics]))  # what the rows keep of each trial's metrics
    rows = {name: [trial_record(t, kept) for t in r.trials] for name, r in results.items()}
    params = sorted({k for t in main.trials for k in t.config}, key=lambda p: (p != CHOICE_KEY, p))
    listed = [trial_record(t, kept) for t in main.trials]
    table = trials_table(listed, rows, metric, mode, metrics, params, models=models, error=_error_cell)
    shown_rows = table.rows[:shown]
    lines = [table.header, *shown_rows]
    widths = [max(len(r[i]) for r in lines) for i in range(len(table.header))]
    text = "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in lines
    )
    return text, len(table.rows) - len(shown_rows)


def _error_cell(error: str | None) -> str:
    """An errored trial's first metric cell: its error, cut to 60 characters, or that it never finished."""
    return (f"ERROR: {error}" if error is not None else "not finished (interrupted)")[:60]


def _splits(metrics: dict[str, Any], metric: str) -> str:
    """`` over 30 splits, the mean`` for a repeated run's score."""
    repeats = metrics.get(f"{metric}_repeats")
    return f" over {len(repeats)} splits, the mean" if repeats else ""


def class_lines(best_model: BestModel) -> list[str]:
    """A classifier's confusion matrix and per-class scores on the test rows (none for a regressor)."""
    tables = class_tables(best_model)
    if tables is None:
        return []
    return [
        f"Best model on the {scored_rows(best_model)} rows:",
        *(f"  {line}" for table in tables for line in _aligned([table.header, *table.rows])),
    ]


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows of cells as lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]


def sequential_wins(results: dict[str, RunnerResult], runner: str = TUNE) -> str:
    """Why the baseline beat ``runner`` (Tune, or the tasks runner): per-trial overhead on tiny
    trials, or fixed costs on few. Where another parallel runner ran too and beat the baseline,
    it is named, with its measured per-trial overhead."""
    seq = results[SEQUENTIAL]
    # a configuration whose repeats ran in chunks was that many trials
    times = [t.duration_s / t.metrics.get("chunks", 1) for t in seq.trials if t.ok]
    typical = statistics.median(times) if times else 0.0
    overhead = {name: _per_trial(results[name], seq) for name in PARALLEL if name in results}
    label = RUNNER_NAMES[runner]
    winner = next((n for n in PARALLEL if n != runner and n in results and _beats(results[n], seq)), None)
    instead = (
        f"; the {RUNNER_NAMES[winner]} runner adds about {overhead[winner] * 1000:.0f} ms and wins: "
        f"use runner: {winner}"
        if winner
        else ""
    )
    if typical < overhead[runner]:
        if not winner and TASKS not in results:
            instead = "; runner: all measures the tasks runner too"
        return (
            f"The trials are too small for {label}: the sequential runner wins (a trial takes "
            f"{typical * 1000:.0f} ms, {label} adds about {overhead[runner] * 1000:.0f} ms to each{instead})."
        )
    return (
        f"The sequential runner wins: {label}'s fixed costs (starting its workers) outweigh what "
        f"running {_units(results[runner])} trials in parallel saved{instead}."
    )


RUNNER_NAMES = {TUNE: "Tune", TASKS: "tasks"}  # as the advice names them


def _units(result: RunnerResult) -> int:
    """How many trials a runner ran (a configuration's chunks of repeats counted apart)."""
    return sum(t.metrics.get("chunks", 1) for t in result.trials)


def _per_trial(result: RunnerResult, seq: RunnerResult) -> float:
    """A parallel runner's extra wall time over the baseline's, per trial."""
    return (result.wall_s - seq.wall_s / max(result.cores, 1)) / max(_units(result), 1)


def _beats(result: RunnerResult, seq: RunnerResult) -> bool:
    return 0 < result.wall_s < seq.wall_s


def _speed_lines(t: Timings, results: dict[str, RunnerResult]) -> list[str]:
    """Each parallel runner's speedup over the baseline and efficiency, side by side, and why
    the baseline won where it did."""
    ran = [name for name in PARALLEL if t.get(f"{name}_efficiency") is not None]
    keys = {name: f"{name}_" for name in ran}
    if not ran and t.get("efficiency") is not None:  # one parallel runner: the unprefixed keys
        ran = [next((n for n in reversed(PARALLEL) if t.get(f"{n}_s") is not None), TUNE)]
        keys = {ran[0]: ""}
    side = len(ran) > 1  # each named
    speedups = [(n, t[f"{keys[n]}speedup"]) for n in ran if t.get(f"{keys[n]}speedup") is not None]
    lines = []
    if speedups:
        text = " | ".join(f"{n} {x:.2f}x" if side else f"{x:.2f}x" for n, x in speedups)
        lines.append(f"Speedup:       {text} over the sequential baseline")
    for number, name in enumerate(ran):
        k, label, who = keys[name], "Efficiency:" if number == 0 else "", f"{name}: " if side else ""
        lines.append(
            f"{label:<15}{who}{t[f'{k}efficiency']:.0%} of the ideal with {t[f'{k}cores']:g} cores busy "
            f"({t[f'{k}ideal_s']:.1f} s)"
        )
    slow = [n for n, x in speedups if x < 1 and n in results]
    if slow and SEQUENTIAL in results:
        lines.append(f"               {sequential_wins(results, slow[-1])}")
    return lines


def render(summary: Summary, results: dict[str, RunnerResult], show_all: bool = False) -> str:
    """The report printed at the end of a run and by ``python -m tuning.inspect``.

    The table shows the best `SHOWN_ROWS` configurations unless ``show_all``; a run with
    no space (an evaluation) has no table and names no best: one line states the estimate.
    """
    metric, mode = summary["metric"], summary["mode"]
    evaluation = summary.get("evaluation")
    if evaluation:
        lines = [evaluation_line(evaluation, metric), ""]
    else:
        shown = None if show_all else SHOWN_ROWS
        models = models_shown(summary)
        table, left = trial_table(results, metric, mode, recorded_metrics(summary), shown, models)
        lines = [f"Trials of {summary['experiment']}, best {metric} first:", table]
        if left:
            where = shlex.quote(str(summary["run_dir"]))
            lines.append(f"... {left} more rows: python -m tuning.inspect {where} --show all")
        lines.append("")
    best = summary.get("best")
    if best:
        main = main_result(results) if results else None
        trial = next((t for t in main.trials if t.name == best["trial"]), None) if main else None
        score = mean_std(trial.metrics, metric) if trial and trial.ok else score_text(best[metric])
        splits = _splits(trial.metrics, metric) if trial and trial.ok else ""
        seen = "validation " if (summary.get("selection") or {}).get("test_rows_seen") else ""
        lines.append(f"Best:          {params_text(best['config'])}  ({seen}{metric} {score}{splits})")
    lines += [f"{f'{label}:':<15}{text}" for label, text in selection_lines(summary)]
    lines += class_lines(summary.get("best_model") or {})
    counts = summary["counts"]
    lines.append(f"Trials:        {counts['ok']} ok, {counts['error']} errored, {counts['retries']} retried")
    if summary.get("stopped"):
        lines.append(f"Stopped:       {stopped_text(summary['stopped'])}")
    if not evaluation and (important := most_important_line(summary)):
        lines.append(important)
    t = summary["timings"]
    fixed = [
        f"{label} {t[key]:.1f} s"
        for key, label in (("ray_start_s", "Ray start"), ("data_load_s", "data load"))
        if t.get(key) is not None
    ]
    if fixed:
        lines.append(f"Fixed costs:   {', '.join(fixed)}")
    phases = [f"{name} {t[f'{name}_s']:.1f} s" for name in IN_ORDER if t.get(f"{name}_s") is not None]
    lines.append(f"Trial phase:   {' | '.join(phases)}")
    lines += _speed_lines(t, results)
    run_dir = str(summary["run_dir"])  # a path or a URI (s3://...): never through Path
    lines.append(f"Run directory: {run_dir}")
    lines.append(f"TensorBoard:   tensorboard --logdir {shlex.quote(str(run_dir))}")
    return "\n".join(lines)
