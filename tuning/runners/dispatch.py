"""Run a plan's runners: the baseline, Ray Core tasks, Ray Tune, or several, and keep what
finished if stopped.

The runners differ only in how they schedule the same trial function; this module decides
which run, in which order, and turns an interruption (Ctrl-C, SIGTERM) into the trials
that finished, so the run can be resumed.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any

from tuning.estimators.space import config_key
from tuning.metrics import BestScore
from tuning.planning.plan import Plan
from tuning.planning.search import proposed
from tuning.run_files import read_summary
from tuning.runner_names import BOTH, SEQUENTIAL, TASKS, TUNE
from tuning.runners.chunks import merge_chunks
from tuning.runners.sequential import read_sequential, run_sequential, run_sequential_groups
from tuning.runners.session import Session
from tuning.runners.tasks import read_tasks, run_tasks, units_of
from tuning.runners.tune import continue_tune, read_tune, run_tune, storage_watch
from tuning.stopping import StopRule
from tuning.summary_types import Stopped
from tuning.trial.records import RunnerResult
from tuning.trial.validation import chunks


def run_runners(session: Session) -> dict[str, RunnerResult]:
    """Each runner of the plan, by name, one trial per configuration (chunks of repeats merged);
    an interrupted one holds the trials that finished."""
    plan = session.plan
    results: dict[str, RunnerResult] = {}
    with _sigterm_as_sigint():
        if plan.runs_sequential and not plan.adaptive:
            results[SEQUENTIAL] = _sequential(session)
        if plan.runs_tasks and not unfinished(results, plan.total):
            results[TASKS] = _tasks(session)
        if plan.runs_tune and not unfinished(results, plan.total):
            results[TUNE] = _tune(session)
    if plan.runner == BOTH and plan.adaptive and TUNE in results:
        results[SEQUENTIAL] = _replay(session, results[TUNE])
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
    name = TUNE if TUNE in left else next(iter(left))
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
    plan, run_dir = session.plan, session.run_dir
    done = read_sequential(run_dir) if session.resume else None
    runner = session.runner(SEQUENTIAL, plan.sequential_cores)
    runner.progress.done = sum(t.finished for t in done or [])
    start = time.perf_counter()
    rule, on_trial = StopRule.from_experiment(plan.experiment), session.on_trial()
    try:
        if plan.groups:
            return run_sequential_groups(runner, plan.groups, done=done, rule=rule, on_trial=on_trial)
        configs, keep = list(plan.configs), baseline_keep(plan)
        return run_sequential(runner, configs, done=done, on_trial=on_trial, rule=rule, keep=keep)
    except KeyboardInterrupt:  # finished trials are in trials.jsonl already
        runner.progress.close()
        trials = read_sequential(run_dir)
        return RunnerResult(SEQUENTIAL, trials, time.perf_counter() - start, runner.cores)


def _tasks(session: Session) -> RunnerResult:
    """The tasks runner (`tuning.runners.tasks`): each trial a Ray Core task."""
    plan, run_dir = session.plan, session.run_dir
    cluster = plan.cluster
    session.echo(f"Ray Core tasks: {plan.slots} at a time on {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs")
    done = read_tasks(run_dir) if session.resume else None
    runner = session.runner(TASKS, plan.tune_cores, plan.slots)
    runner.progress.done = sum(t.finished for t in done or [])
    start = time.perf_counter()
    on_trial = partial(session.trackers.log_sequential, runner=TASKS) if session.trackers else None
    units = units_of(list(plan.configs), plan.groups)
    try:
        return run_tasks(runner, units, experiment=plan.experiment, done=done, on_trial=on_trial)
    except KeyboardInterrupt:  # finished trials are in tasks/trials.jsonl already; the rest cancelled
        runner.progress.close()
        return RunnerResult(TASKS, read_tasks(run_dir), time.perf_counter() - start, runner.cores)


def baseline_keep(plan: Plan) -> BestScore | None:
    """What the baseline keeps its best fit by, in memory: a run that refits the baseline's best
    (not Tune's: `tuning.reports.best_model.refit_best`)."""
    experiment = plan.experiment
    if not experiment.refit or plan.runs_tune:
        return None
    return BestScore(experiment.metric, experiment.mode)


def _tune(session: Session) -> RunnerResult:
    plan, run_dir = session.plan, session.run_dir
    cluster = plan.cluster
    session.echo(f"Ray Tune: {plan.slots} trials at a time on {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs")
    runner = session.runner(TUNE, plan.tune_cores, plan.slots)
    # chunks of repeats, a choice's trials (`tuning.runners.listed`): exactly the plan's configurations
    chosen = plan.spec.chunk is not None or plan.spec.choice is not None
    listed = list(plan.configs) if chosen and plan.configs else None
    start = time.perf_counter()
    rule = StopRule.from_experiment(plan.experiment)
    callbacks = [
        *(session.trackers.tune_callbacks(shared=bool(plan.groups)) if session.trackers else []),
        storage_watch(run_dir, session.storage),
    ]
    try:
        if session.resume and (read_summary(run_dir) or {}).get("stopped"):  # a new budget (`tuning.run`)
            configs = list(plan.configs)
            return continue_tune(runner, experiment=plan.experiment, configs=configs, rule=rule)
        return run_tune(
            runner,
            experiment=plan.experiment,
            resume=session.resume,
            groups=plan.groups,
            configs=listed,
            callbacks=callbacks,
            rule=rule,
        )
    except KeyboardInterrupt:  # before Tune's handler, or a second Ctrl-C: its last save
        saved = read_tune(run_dir) if any(run_dir.glob("experiment_state-*.json")) else []
        return RunnerResult(TUNE, saved, time.perf_counter() - start, runner.cores)


def _replay(session: Session, tune: RunnerResult) -> RunnerResult:
    """The baseline of an adaptive search: Tune's configurations again, one after another."""
    configs = proposed(replace(tune, trials=[t for t in tune.trials if t.finished]))
    runner = session.runner(SEQUENTIAL, session.plan.sequential_cores)
    return run_sequential(runner, configs, on_trial=session.on_trial())


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
