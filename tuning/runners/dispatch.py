"""Run a plan's runners: the baseline, Ray Tune, or both, and keep what finished if stopped.

The runners differ only in how they schedule the same trial function; this module decides
which run, in which order, and turns an interruption (Ctrl-C, SIGTERM) into the trials
that finished, so the run can be resumed.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tuning.data import Split
from tuning.plan import Plan
from tuning.progress import Progress
from tuning.runners.common import RunnerResult, TrialResult
from tuning.runners.sequential import read_sequential, run_sequential
from tuning.runners.tune import read_tune, run_tune
from tuning.search import proposed
from tuning.tracking import Trackers


def run_runners(
    plan: Plan,
    split: Split,
    run_dir: Path,
    echo: Callable[[str], None],
    resume: bool = False,
    trackers: Trackers | None = None,
) -> dict[str, RunnerResult]:
    """Each runner of the plan, by name; an interrupted one holds the trials that finished.

    ``trackers`` log both runners' trials (Tune's through its callbacks, the baseline's after each).
    """
    results: dict[str, RunnerResult] = {}
    trackers = trackers or Trackers([])
    with _sigterm_as_sigint():
        if plan.runs_sequential and not plan.adaptive:
            results["sequential"] = _sequential(plan, split, run_dir, echo, resume, trackers)
        if plan.runs_tune and not unfinished(results, plan.total):
            results["tune"] = _tune(plan, split, run_dir, echo, resume, trackers)
    if plan.runner == "both" and plan.adaptive and "tune" in results:
        results["sequential"] = _replay(plan, results["tune"], split, run_dir, echo, trackers)
    return results


def unfinished(results: dict[str, RunnerResult], total: int) -> bool:
    """Whether a runner that ran left trials unfinished (it was interrupted)."""
    return any(sum(t.finished for t in r.trials) < total for r in results.values())


def _progress(plan: Plan, runner: str, echo: Callable[[str], None], parallelism: int = 1) -> Progress:
    experiment = plan.experiment
    planned = list(plan.configs) or None  # an adaptive search proposes its configurations as it goes
    return Progress(runner, plan.total, experiment.metric, experiment.mode, echo, parallelism, planned)


def _sequential(
    plan: Plan, split: Split, run_dir: Path, echo, resume: bool, trackers: Trackers
) -> RunnerResult:
    done = read_sequential(run_dir) if resume else None
    progress = _progress(plan, "sequential", echo)
    progress.done = sum(t.finished for t in done or [])
    start = time.perf_counter()
    try:
        return run_sequential(
            list(plan.configs),
            split,
            plan.spec,
            run_dir,
            plan.sequential_cores,
            progress,
            done,
            on_trial=_logger(trackers),
        )
    except KeyboardInterrupt:  # finished trials are in trials.jsonl already
        trials = read_sequential(run_dir)
        return RunnerResult("sequential", trials, time.perf_counter() - start, plan.sequential_cores)


def _tune(plan: Plan, split: Split, run_dir: Path, echo, resume: bool, trackers: Trackers) -> RunnerResult:
    cluster = plan.cluster
    echo(f"Ray Tune: {plan.slots} trials at a time on {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs")
    progress = _progress(plan, "tune", echo, plan.slots)
    start = time.perf_counter()
    try:
        return run_tune(
            plan.experiment,
            split,
            plan.spec,
            run_dir,
            plan.tune_cores,
            progress,
            resume=resume,
            callbacks=trackers.tune_callbacks(),
        )
    except KeyboardInterrupt:  # before Tune's handler, or a second Ctrl-C: its last save
        saved = read_tune(run_dir) if any(run_dir.glob("experiment_state-*.json")) else []
        return RunnerResult("tune", saved, time.perf_counter() - start, plan.tune_cores)


def _replay(
    plan: Plan, tune: RunnerResult, split: Split, run_dir: Path, echo, trackers: Trackers
) -> RunnerResult:
    """The baseline of an adaptive search: Tune's configurations again, one after another."""
    configs = proposed(tune)
    progress = _progress(plan, "sequential", echo)
    return run_sequential(
        configs, split, plan.spec, run_dir, plan.sequential_cores, progress, on_trial=_logger(trackers)
    )


def _logger(trackers: Trackers) -> Callable[[int, TrialResult], None] | None:
    """What the sequential runner calls after each trial: the trackers' log, if any."""
    return trackers.log_sequential if trackers else None


@contextmanager
def _sigterm_as_sigint() -> Iterator[None]:
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
