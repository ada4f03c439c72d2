"""``python -m tuning.run EXPERIMENT.yaml``: run an experiment with Tune, the baseline, or both.

Exit codes: 0 every trial finished; 1 the run is incomplete (a trial errored, or the
runners disagree); 2 bad input, reported in one line (the traceback only with --debug);
130 interrupted (SIGINT or SIGTERM): finished trials are kept, and
``python -m tuning.run --resume RUN_DIR`` runs the others.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
import traceback
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from tuning.config import Experiment, load_experiment
from tuning.errors import ExperimentError
from tuning.progress import say

EXIT_OK, EXIT_INCOMPLETE, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def run_experiment(
    experiment: Experiment,
    runner: str | None = None,
    *,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    echo=say,
    resume: Path | None = None,
) -> dict[str, Any]:
    """Run an experiment and write its run directory; return the summary.

    Everything that can be rejected (results folder, cluster, data) is checked before the
    run directory is created, so bad input leaves nothing behind. ``resume`` is the run
    directory of an interrupted run: its finished trials are kept and only the others run.
    An interrupted run (SIGINT or SIGTERM) keeps what finished and returns the summary
    with status ``interrupted``.
    """
    from tuning.cluster import check_fits, connect
    from tuning.data import load_split
    from tuning.progress import Progress
    from tuning.refit import refit_best
    from tuning.report import best_record, check_parity, render, timings, trial_record
    from tuning.results import (
        ENVIRONMENT_FILE,
        SUMMARY_FILE,
        check_writable,
        environment,
        new_run_dir,
        read_summary,
        write_experiment,
        write_json,
    )
    from tuning.runners.common import RunnerResult
    from tuning.runners.sequential import read_sequential, run_sequential
    from tuning.runners.tune import read_tune, run_tune
    from tuning.search import (
        adaptive,
        check_runner,
        comparable,
        proposed,
        search_record,
        search_space,
        stopping_line,
    )
    from tuning.space import auto_cpus, expand
    from tuning.storage import location, publish
    from tuning.trial import TrialSpec

    runner = runner or experiment.runner
    check_runner(experiment, runner)
    if resume is None:
        check_writable(experiment.storage_path)
    started = time.perf_counter()
    try:
        cluster = connect(experiment.address, num_cpus=num_cpus, num_gpus=num_gpus)
    except ConnectionError as exc:  # e.g. `auto` with no cluster running here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExperimentError(
            f"must be a running Ray cluster; cannot join {experiment.address}: {reason}", key="address"
        ) from None
    ray_start_s = time.perf_counter() - started if cluster.started_here else None
    search = experiment.search
    configs = (
        []
        if adaptive(experiment)
        else expand(search_space(experiment), search.num_samples, experiment.seed, search.algorithm)
    )
    total = search.num_samples if adaptive(experiment) else len(configs)  # optuna proposes as it goes
    if experiment.resources.num_cpus == "auto":
        sized = configs or [{}] * total
        cpus = auto_cpus(sized, cluster.cpus, search.size_param, max(cluster.node_cpus, default=1))
        experiment = with_cpus(experiment, cpus)
    if runner != "sequential":
        check_fits(cluster, experiment.resources)
    started = time.perf_counter()
    split = load_split(experiment.data, experiment.split, experiment.split.seed)
    data_load_s = time.perf_counter() - started
    spec = TrialSpec.from_experiment(experiment)

    before = {}  # a resumed run: the trial phases of the sessions before this one
    if resume is None:
        run_dir = new_run_dir(experiment.storage_path, experiment.name)
        # the runner that ran, so that --resume runs the same ones
        write_experiment(run_dir, {**experiment.resolved(), "runner": runner})
        write_json(run_dir / ENVIRONMENT_FILE, environment())  # at the start: an interrupted run has it
        publish(run_dir)  # a URI storage_path: the run directory exists there from now on
        echo(f"Run directory: {location(run_dir)}  ({total} trials, runner: {runner})")
    else:
        run_dir = resume
        before = (read_summary(run_dir) or {}).get("timings") or {}
        echo(f"Resuming {run_dir}  ({total} trials, runner: {runner})")

    def progress(name: str, parallelism: int = 1) -> Progress:
        planned = configs or None  # an adaptive search proposes its configurations as it goes
        return Progress(name, total, experiment.metric, experiment.mode, echo, parallelism, planned)

    results: dict[str, RunnerResult] = {}
    with _sigterm_as_sigint():
        if runner in ("sequential", "both") and not adaptive(experiment):
            cores = spec.params.get("n_jobs", 1)
            done = read_sequential(run_dir) if resume else None
            shown_progress = progress("sequential")
            shown_progress.done = sum(t.finished for t in done or [])
            start = time.perf_counter()
            try:
                results["sequential"] = run_sequential(
                    configs, split, spec, run_dir, cores, shown_progress, done
                )
            except KeyboardInterrupt:  # finished trials are in trials.jsonl already
                results["sequential"] = RunnerResult(
                    "sequential", read_sequential(run_dir), time.perf_counter() - start, cores
                )
        interrupted = any(sum(t.finished for t in r.trials) < total for r in results.values())
        if runner in ("tune", "both") and not interrupted:
            slots = min(cluster.slots(experiment.resources), total)
            cores = min(cluster.cpus, slots * experiment.resources.num_cpus)
            echo(f"Ray Tune: {slots} trials at a time on {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs")
            start = time.perf_counter()
            try:
                results["tune"] = run_tune(
                    experiment,
                    split,
                    spec,
                    run_dir,
                    cores,
                    progress("tune", slots),
                    resume=resume is not None,
                )
            except KeyboardInterrupt:  # before Tune's handler, or a second Ctrl-C: its last save
                saved = read_tune(run_dir) if any(run_dir.glob("experiment_state-*.json")) else []
                results["tune"] = RunnerResult("tune", saved, time.perf_counter() - start, cores)
    if runner == "both" and adaptive(experiment) and "tune" in results:
        configs = proposed(results["tune"])  # replay the configurations Tune's search chose
        cores = spec.params.get("n_jobs", 1)
        results["sequential"] = run_sequential(configs, split, spec, run_dir, cores, progress("sequential"))
    for name, result in results.items():  # trial phase: every session's wall time
        result.wall_s += before.get(f"{name}_s") or 0.0
    interrupted = len(results) < (2 if runner == "both" else 1) or any(
        sum(t.finished for t in r.trials) < total for r in results.values()
    )

    mismatched = (
        check_parity(*comparable(results, experiment), experiment.metric)
        if len(results) == 2 and not interrupted
        else []
    )
    trials = [t for r in results.values() for t in r.trials]
    shown = results.get("tune") or results["sequential"]
    status = "complete" if all(t.ok for t in trials) and not mismatched else "incomplete"
    summary = {
        "experiment": experiment.name,
        "run_dir": location(run_dir),
        "created": datetime.now().isoformat(timespec="seconds"),
        "runner": runner,
        "metric": experiment.metric,
        "mode": experiment.mode,
        "status": "interrupted" if interrupted else status,
        "resumed": resume is not None,
        "best": best_record(results, experiment.metric, experiment.mode),
        "counts": {
            "trials": total,
            "ok": sum(t.ok for t in shown.trials),
            "error": sum(t.error is not None for t in shown.trials),
            "retries": sum(t.retries for t in shown.trials),
        },
        "unfinished": total - sum(t.finished for t in shown.trials),
        "search": search_record(results, experiment),
        "parity": None if len(results) < 2 else {"identical": not mismatched, "differing": mismatched},
        "timings": timings(results, ray_start_s, data_load_s),
        "split": split.fingerprint(),
        "cluster": {
            "address": cluster.address,
            "nodes": cluster.nodes,
            "cpus": cluster.cpus,
            "gpus": cluster.gpus,
        },
        "estimator": {"class": spec.estimator, "fixed_params": spec.params},
        "trials": {
            name: [{**trial_record(t), "path": t.path and location(t.path)} for t in r.trials]
            for name, r in results.items()
        },
        "versions": environment(),
    }
    if line := stopping_line(summary["search"], total):
        echo(line)
    if experiment.refit and not interrupted:
        summary["best_model"] = refit_best(experiment, results, split, spec, run_dir, echo)
    write_json(run_dir / SUMMARY_FILE, summary)
    echo("")
    echo(render(summary, results))
    _html_report(run_dir, summary, echo)
    publish(run_dir)  # keep it after the last file written to run_dir
    if mismatched:
        echo(
            f"ERROR: the runners' {experiment.metric} differ for {len(mismatched)} configurations: "
            f"{mismatched[:3]}"
        )
    if interrupted:
        echo(
            f"Interrupted: {total - summary['unfinished']} of "
            f"{total} trials finished and are kept. Continue with:\n"
            f"  python -m tuning.run --resume {shlex.quote(str(run_dir))}"
        )
    return summary


def with_cpus(experiment: Experiment, num_cpus: float) -> Experiment:
    """The experiment with ``resources.num_cpus`` set (``auto`` resolved on the cluster)."""
    resources = experiment.resources.model_copy(update={"num_cpus": float(num_cpus)})
    return experiment.model_copy(update={"resources": resources})


def _html_report(run_dir: Path, summary: dict[str, Any], echo) -> None:
    """Write report.html; the results are saved already, so a plotting failure only warns."""
    from tuning.html_report import write_report

    try:
        echo(f"HTML report:   {write_report(run_dir, summary)}")
    except Exception as exc:  # never lose a finished run to a plot
        echo(f"warning: the HTML report was not written ({type(exc).__name__}: {exc})")


@contextmanager
def _sigterm_as_sigint():
    """Treat SIGTERM like Ctrl-C while trials run: Tune stops gracefully and saves its state.

    Installed after Ray starts (``ray.init`` sets its own SIGTERM handler, which exits).
    """

    def handler(signum, frame):
        current = signal.getsignal(signal.SIGINT)
        if callable(current):
            current(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tuning.run", description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", help="the experiment's YAML file (optional with --resume)")
    parser.add_argument("--runner", choices=["tune", "sequential", "both"], help="override the file's runner")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a field of the file (repeatable), e.g. --set resources.num_cpus=2",
    )
    parser.add_argument("--address", help="Ray cluster to join ('auto': the running local one)")
    parser.add_argument("--num-cpus", type=float, help="CPUs of the local Ray this starts (default: all)")
    parser.add_argument(
        "--num-gpus", type=float, help="GPUs of the local Ray this starts (default: detected)"
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run: keep its finished trials, run the others",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, connect to Ray and print the trials and their resources; run and write nothing",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    if not args.experiment and not args.resume:
        parser.error("the experiment's YAML file is required (or --resume RUN_DIR)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        overrides = list(args.overrides) + ([f"address={args.address}"] if args.address else [])
        resume = Path(args.resume) if args.resume else None
        if resume:
            experiment, runner = resumable(resume, args.experiment, overrides, args.runner)
        else:
            experiment, runner = load_experiment(args.experiment, overrides), args.runner
        if args.dry_run:
            from tuning.dry_run import dry_run

            print(dry_run(experiment, runner, num_cpus=args.num_cpus, num_gpus=args.num_gpus))
            return EXIT_OK
        summary = run_experiment(
            experiment, runner, num_cpus=args.num_cpus, num_gpus=args.num_gpus, resume=resume
        )
    except ExperimentError as exc:
        if args.debug:
            traceback.print_exc()
        located = (
            exc
            if exc.where or not exc.key
            else ExperimentError(
                str(exc).removeprefix(f"{exc.key} "),
                where=_where(args.experiment, exc.key, overrides),
                key=exc.key,
            )
        )
        print(f"error: {located}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if summary["status"] == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if summary["status"] == "complete" else EXIT_INCOMPLETE


def resumable(
    run_dir: Path, path: str | None, overrides: list[str], runner: str | None
) -> tuple[Experiment, str]:
    """The saved experiment and runner of an interrupted run directory, checked.

    The run continues exactly as it started: an experiment file given beside ``--resume``
    must resolve to the saved one, and the only override allowed is ``address``.
    """
    from tuning.config import validate
    from tuning.results import EXPERIMENT_FILE, read_experiment, read_summary

    where = f"--resume {run_dir}"
    if not run_dir.is_dir():
        raise ExperimentError("must be a run directory; no such folder", where=where)
    saved = read_experiment(run_dir)
    summary = read_summary(run_dir)
    if summary and summary.get("status") != "interrupted":
        raise ExperimentError(
            f"has nothing to resume: the run ended with status {summary.get('status')!r}", where=where
        )
    changed = [o for o in overrides if not o.startswith("address=")]
    if changed:
        raise ExperimentError(
            f"continues the saved experiment; --set cannot change it; got {changed}", where=where
        )
    address = [o.partition("=")[2] for o in overrides if o.startswith("address=")]
    experiment = validate(
        {**saved, **({"address": address[-1]} if address else {})}, source=str(run_dir / EXPERIMENT_FILE)
    )
    if path is not None:
        given = {**load_experiment(path).resolved(), "runner": saved["runner"], "address": experiment.address}
        if given != experiment.resolved():
            keys = sorted(k for k in given if given[k] != experiment.resolved().get(k))
            raise ExperimentError(
                f"differs from the experiment saved in {run_dir / EXPERIMENT_FILE} (in {', '.join(keys)})",
                where=path,
            )
    if runner and runner != saved["runner"]:
        raise ExperimentError(f"ran with --runner {saved['runner']}; got --runner {runner}", where=where)
    return experiment, saved["runner"]


def _where(path: str | None, key: str, overrides: list[str] = ()) -> str:
    """``file:line`` of a key in the experiment file (``--set`` if an override set it)."""
    from tuning.config import locate

    parts = key.split(".")
    set_here = {o.partition("=")[0].strip() for o in overrides}
    if any(".".join(parts[:end]) in set_here for end in range(1, len(parts) + 1)) or any(
        k.startswith(f"{key}.") for k in set_here
    ):
        return "--set"
    return locate(Path(path), key) if path else "--resume"


if __name__ == "__main__":
    sys.exit(main())
