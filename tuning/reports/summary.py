"""``summary.json``: the one writer of a run's summary and its per-trial rows.

The run writes it (its shape: `tuning.summary_types.Summary`); `tuning.reports.text` renders it;
``tuning.inspect`` and the HTML report read it back (`tuning.run_files.read_summary`). Its rows
(`trial_record`) are what the tables, plots and future API show.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tuning.estimators.models import Model
from tuning.metrics import SHORT_NAMES
from tuning.planning.plan import Plan
from tuning.reports.selection import selection_record
from tuning.run_files import SUMMARY_FILE, environment, write_json
from tuning.runner_names import PARALLEL, SEQUENTIAL, SHOWN_FIRST
from tuning.storage import location
from tuning.summary_types import BestRecord, Counts, Estimator, Evaluation, Search, Summary, Timings, TrialRow
from tuning.trial.data import Split
from tuning.trial.fit import MODEL_KEY, TrialSpec
from tuning.trial.records import RunnerResult, TrialResult

# the fit time, the fitted model's cost (`tuning.trial.fit.model_costs`), where a budgeted trial
# stopped (n_estimators reached, steps), and how many trials a configuration's repeats took;
# each metric's spread and per-split scores are added per run
EXTRA_METRICS = ("fit_time_s", "model_bytes", "predict_s_per_1k", "budget", "step", "chunks")


def build_summary(
    plan: Plan,
    results: dict[str, RunnerResult],
    split: Split,
    run_dir: Path,
    *,
    status: str,
    resumed: bool,
    mismatched: list[str],
    fixed_costs: dict[str, float | None],
    search: Search,
) -> Summary:
    """The summary of a run that ended with ``status`` (complete, incomplete or interrupted)."""
    experiment, cluster = plan.experiment, plan.cluster
    shown = main_result(results)
    return {
        "experiment": experiment.name,
        "run_dir": location(run_dir),
        "created": datetime.now().isoformat(timespec="seconds"),
        "runner": plan.runner,
        "metric": experiment.metric,
        "mode": experiment.mode,
        "metrics": list(plan.spec.metrics),  # what each trial recorded
        "status": status,
        "resumed": resumed,
        "best": None if experiment.evaluation else best_record(results, experiment.metric, experiment.mode),
        "selection": selection_record(experiment, plan.spec, results),
        "evaluation": evaluation_record(plan, shown) if experiment.evaluation else None,
        "counts": counts(shown.trials, plan.configurations),
        "unfinished": plan.configurations - sum(t.finished for t in shown.trials),
        "search": search,
        "parity": None if len(results) < 2 else {"identical": not mismatched, "differing": mismatched},
        "timings": timings(results, **fixed_costs),
        "split": split.fingerprint(),
        "cluster": {
            "address": cluster.address,
            "nodes": cluster.nodes,
            "cpus": cluster.cpus,
            "gpus": cluster.gpus,
        },
        "estimator": estimator_record(plan.spec),
        "trials": {
            name: [
                {**trial_record(t, plan.spec.metrics), "path": t.path and location(t.path)} for t in r.trials
            ]
            for name, r in results.items()
        },
        "versions": environment(),
    }


def estimator_record(spec: TrialSpec) -> Estimator:
    """The estimator: its class and fixed parameters; a pipeline's steps; a choice's branches."""
    record: Estimator = {"class": spec.estimator, "fixed_params": spec.params}
    if spec.pipeline:
        record["steps"] = _steps(spec.model)
    if spec.choice:
        record["choice"] = {
            name: {"model": model.describe(), "steps": _steps(model) if model.pipeline else None}
            for name, model in spec.choice.items()
        }
    return record


def _steps(model: Model) -> list[dict[str, Any]]:
    return [{"name": s.name, "class": s.path, "params": s.params} for s in model.steps]


def counts(trials: list[TrialResult], total: int | None = None) -> Counts:
    """How many trials there are, ended well, errored, and were retried."""
    return {
        "trials": len(trials) if total is None else total,
        "ok": sum(t.ok for t in trials),
        "error": sum(t.error is not None for t in trials),
        "retries": sum(t.retries for t in trials),
    }


def main_result(results: dict[str, RunnerResult]) -> RunnerResult:
    """The runner whose trials a run shows: Tune's if it ran, else the tasks runner's, else the baseline's."""
    return next(results[name] for name in SHOWN_FIRST if name in results)


def timings(
    results: dict[str, RunnerResult], ray_start_s: float | None, data_load_s: float | None
) -> Timings:
    """Each runner's trial-phase wall time, the fixed costs, speedup and parallel efficiency.

    Efficiency is the ideal of all cores busy over the measured wall time:
    (sum of the trials' own times / cores) / wall time, with the baseline's trial times
    when it ran, else the runner's own. The unprefixed ``speedup``, ``efficiency``, ``cores``
    and ``ideal_s`` are Tune's if it ran, else the tasks runner's; when both ran, each one's
    are also ``<runner>_speedup``, ``<runner>_efficiency``, ``<runner>_cores``, ``<runner>_ideal_s``.
    """
    out: Timings = {"ray_start_s": ray_start_s, "data_load_s": data_load_s}
    for name, result in results.items():
        out[f"{name}_s"] = result.wall_s
        if result.tracking_s:
            out[f"{name}_tracking_s"] = result.tracking_s  # taken out of {name}_s
    seq, ran = results.get(SEQUENTIAL), [n for n in PARALLEL if n in results]
    if len(ran) > 1:
        for name in ran:
            out.update({f"{name}_{key}": value for key, value in _parallel(results[name], seq).items()})
    if ran:
        out.update(_parallel(results[ran[-1]], seq))  # Tune's if it ran
    return out


def _parallel(result: RunnerResult, seq: RunnerResult | None) -> dict[str, Any]:
    """A parallel runner's cores, ideal time, efficiency and (beside the baseline) speedup."""
    work = (seq or result).trial_time_s
    ideal = work / result.cores if result.cores else None
    out = {
        "cores": result.cores,
        "ideal_s": ideal,
        "efficiency": ideal / result.wall_s if ideal and result.wall_s else None,
    }
    if seq and result.wall_s:
        out["speedup"] = seq.wall_s / result.wall_s
    return out


def recorded_metrics(summary: Summary) -> list[str]:
    """The metrics each trial of a run recorded (a summary written before they were listed:
    the four regression metrics)."""
    return list(summary.get("metrics") or SHORT_NAMES)


def trial_record(trial: TrialResult, metrics: Sequence[str] = SHORT_NAMES) -> TrialRow:
    """One trial as summary.json keeps it: its ``metrics``, their spread over k folds (``_std``)..."""
    keys = (*metrics, *(f"{m}_std" for m in metrics), *(f"{m}_repeats" for m in metrics), *EXTRA_METRICS)
    return {
        "name": trial.name,
        "config": trial.config,
        "model": trial.metrics.get(MODEL_KEY),
        "status": "ok" if trial.ok else "error",
        "metrics": {k: trial.metrics[k] for k in keys if k in trial.metrics},
        "duration_s": trial.duration_s if trial.ok else None,
        "started_at": trial.metrics.get("started_at"),
        "ended_at": trial.metrics.get("ended_at"),
        "node_id": trial.metrics.get("node_id"),
        "node_ip": trial.metrics.get("node_ip"),  # Tune adds node_ip and hostname to every result
        "hostname": trial.metrics.get("hostname"),
        "pid": trial.metrics.get("pid"),
        "gpu_ids": trial.metrics.get("gpu_ids"),
        "cuda_visible_devices": trial.metrics.get("cuda_visible_devices"),
        "retries": trial.retries,
        "error": trial.error,
        "path": trial.path,
    }


def best_record(results: dict[str, RunnerResult], metric: str, mode: str) -> BestRecord | None:
    """The best trial (Tune's if it ran, else the tasks runner's): its runner, name, configuration, score."""
    for name in SHOWN_FIRST:
        if name in results and (best := results[name].best(metric, mode)):
            return {"runner": name, "trial": best.name, "config": best.config, metric: best.metrics[metric]}
    return None


def evaluation_record(plan: Plan, shown: RunnerResult) -> Evaluation | None:
    """A run with no space: the estimator, the number of splits and each metric's mean and std."""
    trial = next((t for t in shown.trials if t.ok), None)
    if trial is None:
        return None
    spec = plan.spec
    return {
        "estimator": spec.describe({}),  # a class, or a pipeline's steps (a choice is never evaluated)
        "splits": (spec.repeats or 1) * (spec.cv or 1) if spec.repeats else spec.cv or 1,
        "strategy": evaluation_strategy(spec.repeats, spec.cv),
        "metrics": {m: trial.metrics[m] for m in spec.metrics if m in trial.metrics},
        "std": {m: trial.metrics[f"{m}_std"] for m in spec.metrics if f"{m}_std" in trial.metrics},
    }


def evaluation_strategy(repeats: int | None, cv: int | None) -> str:
    """``Monte Carlo CV over 100 splits``, ``10 x repeated 5-fold CV``, ``5-fold CV``, or a hold-out."""
    if repeats and cv:
        return f"{repeats} x repeated {cv}-fold CV"
    if repeats:
        return f"Monte Carlo CV over {repeats} splits"
    return f"{cv}-fold CV" if cv else "one hold-out split"


def write_summary(run_dir: Path, summary: Summary) -> None:
    write_json(run_dir / SUMMARY_FILE, summary)
