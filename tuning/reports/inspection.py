"""``python -m tuning.inspect RUN_DIR``: the report of a finished run, read from disk.

``--format csv`` or ``json`` prints its trials instead, one row per trial and runner (a
``runner`` column, then the parameters, metrics and times of summary.json's rows).

Tune's trials are read from its experiment state as JSON only (`tuning.runners.tune.state_trials`:
nothing in a run directory is unpickled); the baseline's from ``sequential/trials.jsonl``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import cast

import pandas as pd

from tuning.errors import ExperimentError, run_command
from tuning.reports.html import write_report
from tuning.reports.result import trials_frame
from tuning.reports.summary import best_record, counts
from tuning.reports.text import render
from tuning.run_files import read_experiment, read_summary
from tuning.runner_names import SEQUENTIAL, TASKS, TUNE
from tuning.runners.chunks import merge_chunks
from tuning.runners.sequential import read_sequential
from tuning.runners.tasks import read_tasks
from tuning.runners.tune import read_tune
from tuning.storage import is_uri, names
from tuning.summary_types import Summary, Timings, Validation
from tuning.trial.records import RunnerResult


def inspect_run(run_dir: Path | str, show_all: bool = False) -> str:
    """The report of a run directory, a local path or a URI (`ExperimentError` if not one)."""
    experiment = read_experiment(run_dir)
    summary = read_summary(run_dir) or {}
    results = read_results(run_dir, summary.get("timings") or {}, summary.get("validation"))
    if summary.get("stopped"):  # what a search.stop rule left unrun is not an unfinished trial
        results = {n: replace(r, trials=[t for t in r.trials if t.finished]) for n, r in results.items()}
    if not results:
        raise ExperimentError("has no trials yet", where=str(run_dir))
    metric, mode = experiment["metric"], experiment["mode"]
    # the keys the text report reads, from summary.json where the run wrote it, else rebuilt
    # from the trials on disk (a run cut short): a partial `Summary`
    shown = cast(
        Summary,
        {
            "experiment": experiment["name"],
            "metric": metric,
            "mode": mode,
            "metrics": summary.get("metrics") or experiment.get("metrics"),
            "best_model": summary.get("best_model"),
            "run_dir": str(run_dir),
            "best": None
            if summary.get("evaluation")
            else summary.get("best") or best_record(results, metric, mode),
            "evaluation": summary.get("evaluation"),
            "counts": summary.get("counts") or counts([t for r in results.values() for t in r.trials]),
            "timings": summary.get("timings") or {},
            "stopped": summary.get("stopped"),
            "trials": summary.get("trials"),  # the rows the importances are computed from
        },
    )
    return render(shown, results, show_all)


def trials_table(run_dir: Path | str, kind: str) -> str:
    """A finished run's trials as CSV or JSON records (`ExperimentError` without summary.json)."""
    summary = read_summary(run_dir)
    if summary is None:
        raise ExperimentError(
            "has no summary.json: the run did not finish (--format text reads it)", where=str(run_dir)
        )
    frames = [trials_frame(rows).assign(runner=name) for name, rows in (summary.get("trials") or {}).items()]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["runner"])
    table = table[["runner", *(c for c in table.columns if c != "runner")]]
    return table.to_csv(index=False).rstrip("\n") if kind == "csv" else table.to_json(orient="records")


def read_results(
    run_dir: Path | str, timings: Timings, validation: Validation | None = None
) -> dict[str, RunnerResult]:
    """Each runner's trials as the run directory holds them (none: the run has no trials yet),
    one per configuration (chunks of repeats merged, as ``validation`` of summary.json says)."""
    results = {}
    if seq := read_sequential(run_dir):
        results[SEQUENTIAL] = RunnerResult(SEQUENTIAL, seq, timings.get("sequential_s") or 0.0, 1)
    if tasks := read_tasks(run_dir):
        cores = timings.get("tasks_cores") or timings.get("cores", 1)
        results[TASKS] = RunnerResult(TASKS, tasks, timings.get("tasks_s") or 0.0, cores)
    if any(name.startswith("experiment_state-") for name in names(run_dir)):
        results[TUNE] = RunnerResult(
            TUNE, read_tune(run_dir), timings.get("tune_s") or 0.0, timings.get("cores", 1)
        )
    per_configuration = (validation or {}).get("trials_per_configuration") or 1
    return {name: merge_chunks(result, per_configuration) for name, result in results.items()}


def main(argv: list[str] | None = None, prog: str = "python -m tuning.inspect") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_dir",
        help="a run directory, e.g. results/rf/2026-11-23_07-00-00 or s3://bucket/rf/2026-11-23_07-00-00",
    )
    parser.add_argument("--html", action="store_true", help="also write the HTML report (report.html)")
    parser.add_argument(
        "--show",
        choices=["best", "all"],
        default="best",
        help="the table's rows: the best 10 (default) or all",
    )
    parser.add_argument(
        "--format",
        choices=["text", "csv", "json"],
        default="text",
        help="the report (text, default), or the trials as CSV or JSON records",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    run_dir = args.run_dir if is_uri(args.run_dir) else Path(args.run_dir)

    def show() -> None:
        try:
            if args.format != "text":
                print(trials_table(run_dir, args.format))
                return
            print(inspect_run(run_dir, args.show == "all"))
        except OSError as exc:  # a URI pyarrow cannot read: no bucket, no credentials, no endpoint
            raise ExperimentError(f"cannot read it ({exc})", where=str(args.run_dir)) from None
        if args.html:
            if is_uri(run_dir):
                raise ExperimentError("--html needs a local run directory (copy it down first)")
            print(f"HTML report:   {write_report(run_dir)}")

    return run_command(show, args.debug)


if __name__ == "__main__":
    sys.exit(main())
