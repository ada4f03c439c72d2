"""Run a plan's runners: the baseline, Ray Core tasks, Ray Tune, or several, and keep what
finished if stopped.

The runners differ only in how they schedule the same trial function; this module decides
which run, in which order, and turns an interruption (Ctrl-C, SIGTERM) into the trials
that finished, so the run can be resumed.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from tuning.estimators.space import config_key
from tuning.metrics import BestScore
from tuning.planning.plan import Plan
from tuning.planning.search import proposed
from tuning.run_files import read_summary
from tuning.runners.chunks import merge_chunks
from tuning.runners.progress import Progress
from tuning.runners.sequential import read_sequential, run_sequential, run_sequential_groups
from tuning.runners.tasks import read_tasks, run_tasks, units_of
from tuning.runners.tracking import Trackers
from tuning.runners.tune import continue_tune, read_tune, run_tune, storage_watch
from tuning.stopping import StopRule
from tuning.summary_types import Stopped
from tuning.trial.data import Split
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.validation import chunks


@dataclass(frozen=True)
class Session:
    """What every runner of one run shares: the plan, the rows, where and how it reports."""

    plan: Plan
    split: Split
    run_dir: Path
    echo: Callable[[str], None]
    resume: bool = False
    verbose: bool = False  # a line per trial on a terminal too
    trackers: Trackers | None = None  # log both runners' trials (Tune's through its callbacks)
    storage: list[str] = field(default_factory=list)  # why the storage stopped the run, if it did

    def progress(self, runner: str, parallelism: int = 1) -> Progress:
        experiment = self.plan.experiment
        planned = list(self.plan.configs) or None  # an adaptive search proposes as it goes
        return Progress(
            runner,
            self.plan.total,
            experiment.metric,
            experiment.mode,
            self.echo,
            parallelism,
            planned,
            verbose=self.verbose,
            show_best=self.plan.spec.chunk is None,  # a chunk's score is not its configuration's
        )

    def on_trial(self) -> Callable[[int, TrialResult], None] | None:
        """What the sequential runner calls after each trial: the trackers' log, if any."""
        return self.trackers.log_sequential if self.trackers else None


def run_runners(session: Session) -> dict[str, RunnerResult]:
    """Each runner of the plan, by name, one trial per configuration (chunks of repeats merged);
    an interrupted one holds the trials that finished."""
    plan = session.plan
    results: dict[str, RunnerResult] = {}
    with _sigterm_as_sigint():
        if plan.runs_sequential and not plan.adaptive:
            results["sequential"] = _sequential(session)
        if plan.runs_tasks and not unfinished(results, plan.total):
            results["tasks"] = _tasks(session)
        if plan.runs_tune and not unfinished(results, plan.total):
            results["tune"] = _tune(session)
    if plan.runner == "both" and plan.adaptive and "tune" in results:
        results["sequential"] = _replay(session, results["tune"])
    if session.trackers:  # logging is not the trials' work: off the trial phase, reported apart
        results = {name: r.without_tracking(session.trackers.spent_s(name)) for name, r in results.items()}
    return {name: merge_chunks(result, chunks(plan.spec)) for name, result in results.items()}


def unfinished(results: dict[str, RunnerResult], total: int) -> bool:
    """Whether a runner that ran left trials unfinished (it was interrupted; a runner that a
    ``search.stop`` rule stopped is not: the trials it did not run are not to be resumed)."""
    return any(sum(t.finished for t in r.trials) < total for r in results.values() if not r.stopped)


def settle_stopped(
    plan: Plan, results: dict[str, RunnerResult]
) -> tuple[dict[str, RunnerResult], Stopped | None]:
    """The results without the trials a ``search.stop`` rule left unrun, and the stop's record.

    A stopped search is complete: its unrun trials are neither errors nor interrupted. The
    record is None unless a rule stopped a runner before its last configuration; else
    ``{reason, unrun, unrun_count, runners}``: the reason and the configurations that runner
    (Tune if it is one) never finished, and each stopped runner's reason.
    """
    kept = {
        name: replace(r, trials=[t for t in r.trials if t.finished]) if r.stopped else r
        for name, r in results.items()
    }
    left = {name: _unrun(plan, r) for name, r in kept.items() if r.stopped}
    left = {name: unrun for name, unrun in left.items() if unrun[1]}
    if not left:
        return kept, None  # no rule stopped a runner before its last trial
    name = "tune" if "tune" in left else next(iter(left))
    unrun, count = left[name]
    record: Stopped = {
        "reason": kept[name].stopped,
        "unrun": unrun,
        "unrun_count": count,
        "runners": {n: r.stopped for n, r in kept.items() if r.stopped},
    }
    return kept, record


def _unrun(plan: Plan, result: RunnerResult) -> tuple[list[dict[str, Any]], int]:
    """The configurations a runner never finished, and their count (an adaptive search: a count)."""
    ran = {config_key(t.config) for t in result.trials}
    unrun = [c for c in plan.configs if config_key(c) not in ran]
    return unrun, len(unrun) if plan.configs else max(plan.total - len(ran), 0)


def _sequential(session: Session) -> RunnerResult:
    plan, run_dir, split = session.plan, session.run_dir, session.split
    done = read_sequential(run_dir) if session.resume else None
    progress = session.progress("sequential")
    progress.done = sum(t.finished for t in done or [])
    start = time.perf_counter()
    cores, rule = plan.sequential_cores, StopRule.from_experiment(plan.experiment)
    try:
        on_trial = session.on_trial()
        if plan.groups:
            groups = plan.groups
            return run_sequential_groups(
                groups, split, plan.spec, run_dir, cores, progress, done, rule, on_trial
            )
        configs, keep = list(plan.configs), baseline_keep(plan)
        return run_sequential(configs, split, plan.spec, run_dir, cores, progress, done, on_trial, rule, keep)
    except KeyboardInterrupt:  # finished trials are in trials.jsonl already
        progress.close()
        trials = read_sequential(run_dir)
        return RunnerResult("sequential", trials, time.perf_counter() - start, cores)


def _tasks(session: Session) -> RunnerResult:
    """The tasks runner (`tuning.runners.tasks`): each trial a Ray Core task."""
    plan, run_dir = session.plan, session.run_dir
    cluster = plan.cluster
    session.echo(f"Ray Core tasks: {plan.slots} at a time on {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs")
    done = read_tasks(run_dir) if session.resume else None
    progress = session.progress("tasks", plan.slots)
    progress.done = sum(t.finished for t in done or [])
    start = time.perf_counter()
    on_trial = partial(session.trackers.log_sequential, runner="tasks") if session.trackers else None
    units = units_of(list(plan.configs), plan.groups)
    try:
        return run_tasks(
            units,
            session.split,
            plan.spec,
            run_dir,
            plan.experiment,
            plan.tune_cores,
            progress,
            done,
            on_trial,
        )
    except KeyboardInterrupt:  # finished trials are in tasks/trials.jsonl already; the rest cancelled
        progress.close()
        return RunnerResult("tasks", read_tasks(run_dir), time.perf_counter() - start, plan.tune_cores)


def baseline_keep(plan: Plan) -> BestScore | None:
    """What the baseline keeps its best fit by, in memory: a run that refits the baseline's best
    (not Tune's: `tuning.reports.best_model.refit_best`)."""
    experiment = plan.experiment
    if not experiment.refit or plan.runs_tune:
        return None
    return BestScore(experiment.metric, experiment.mode)


def _tune(session: Session) -> RunnerResult:
    plan, run_dir, split = session.plan, session.run_dir, session.split
    cluster = plan.cluster
    session.echo(f"Ray Tune: {plan.slots} trials at a time on {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs")
    progress = session.progress("tune", plan.slots)
    # chunks of repeats, a choice's trials (`tuning.runners.listed`): exactly the plan's configurations
    chosen = plan.spec.chunk is not None or plan.spec.choice is not None
    listed = list(plan.configs) if chosen and plan.configs else None
    start = time.perf_counter()
    rule = StopRule.from_experiment(plan.experiment)
    callbacks = [
        *(session.trackers.tune_callbacks(shared=bool(plan.groups)) if session.trackers else []),
        storage_watch(run_dir, session.storage),
    ]
    cores = plan.tune_cores
    try:
        if session.resume and (read_summary(run_dir) or {}).get("stopped"):  # a new budget (`tuning.run`)
            configs = list(plan.configs)
            return continue_tune(plan.experiment, split, plan.spec, run_dir, cores, progress, configs, rule)
        return run_tune(
            plan.experiment,
            split,
            plan.spec,
            run_dir,
            cores,
            progress,
            resume=session.resume,
            groups=plan.groups,
            configs=listed,
            callbacks=callbacks,
            rule=rule,
        )
    except KeyboardInterrupt:  # before Tune's handler, or a second Ctrl-C: its last save
        saved = read_tune(run_dir) if any(run_dir.glob("experiment_state-*.json")) else []
        return RunnerResult("tune", saved, time.perf_counter() - start, cores)


def _replay(session: Session, tune: RunnerResult) -> RunnerResult:
    """The baseline of an adaptive search: Tune's configurations again, one after another."""
    plan = session.plan
    progress = session.progress("sequential")
    return run_sequential(
        proposed(replace(tune, trials=[t for t in tune.trials if t.finished])),
        session.split,
        plan.spec,
        session.run_dir,
        plan.sequential_cores,
        progress,
        on_trial=session.on_trial(),
    )


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
