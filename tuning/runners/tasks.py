"""The tutorial's parallel method as a runner: each trial a Ray Core task (imports Ray lazily).

The same trial function as the other runners (`tuning.trial.fit.run_trial`;
`tuning.trial.shared_fits.run_group` for a shared fit), each call a ``@ray.remote`` task that
reserves the trial's ``num_cpus`` and ``num_gpus``. The split is put in the object store once
and every task maps it. Tasks land on Ray's waiting worker processes, where Tune starts an
actor for each trial it runs at once: on tiny trials that start is most of Tune's trial phase
(BENCHMARKS.md).

A worker lost mid-trial (a crashed process, a lost node, killed for memory) is retried up to
``max_failures`` times (Ray's ``max_retries`` and ``task_oom_retries``); an exception in the
trial is not retried: it fails its trial, as in the other runners. The driver writes each
trial's row to ``tasks/trials.jsonl`` (the format of ``sequential/trials.jsonl``) and its
TensorBoard events as it arrives; a resumed run keeps the finished rows and runs the others.
Nothing of Ray Tune is written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuning.config import Experiment
from tuning.estimators.space import config_key
from tuning.run_files import TRIALS_FILE
from tuning.runner_names import TASKS
from tuning.runners.events import write_trial_events
from tuning.runners.sequential import group_events, read_trials, trial_row
from tuning.runners.session import RunnerSession
from tuning.runners.tune import _where
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.shared_fits import Group, run_group

FOLDER = TASKS  # the runner's rows: tasks/trials.jsonl, and a folder per trial for TensorBoard
Outcome = tuple[list[dict[str, Any]] | None, str | None]  # each configuration's metrics, or the error


def trial_task(config: dict[str, Any], split: Split, spec: TrialSpec) -> Outcome:
    """One configuration's trial, where it ran added; its error as the other runners write it."""
    try:
        return [{**run_trial(config, split, spec), **_where()}], None
    except Exception as exc:  # a bad configuration fails its trial, not the run
        return None, f"{type(exc).__name__}: {exc}"


def group_task(group: Group, split: Split, spec: TrialSpec) -> Outcome:
    """A shared fit: one fit, each configuration of the group scored from it."""
    try:
        where = _where()
        return [{**metrics, **where} for metrics in run_group(group, split, spec)], None
    except Exception as exc:  # a bad configuration fails its group, not the run
        return None, f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Unit:
    """What one task runs: one configuration, or a group of shared fits (``group``); ``indices``
    are the configurations' places in the plan (their rows' names)."""

    indices: tuple[int, ...]
    configs: tuple[dict[str, Any], ...]
    group: Group | None = None


def units_of(configs: list[dict[str, Any]], groups: tuple[Group, ...] = ()) -> list[Unit]:
    """One unit per configuration, or per group of shared fits."""
    if groups:
        return [Unit(g.indices, g.configs, g) for g in groups]
    return [Unit((i,), (c,)) for i, c in enumerate(configs)]


def run_tasks(
    session: RunnerSession,
    units: list[Unit],
    *,
    experiment: Experiment,
    done: list[TrialResult] | None = None,
    on_trial: Callable[[int, TrialResult], None] | None = None,
) -> RunnerResult:
    """Run each unit as a Ray Core task, as many at once as the cluster holds; write each
    configuration's row as its task returns (``done``: a resumed run's rows, kept, not run).

    ``on_trial(index, trial)`` is called for each row that ran (the trackers log it). A
    Ctrl-C cancels the tasks still running and is raised again: the rows written are kept.
    ``experiment``: what each task reserves and how often a lost worker's task is retried.
    """
    split, spec, run_dir, progress = session.split, session.spec, session.run_dir, session.progress
    out = run_dir / FOLDER
    out.mkdir(parents=True, exist_ok=True)
    finished = {config_key(t.config): t for t in done or [] if t.finished}
    rows = {
        i: finished[config_key(c)]
        for u in units
        for i, c in zip(u.indices, u.configs, strict=True)
        if config_key(c) in finished
    }
    todo = [u for u in units if not all(i in rows for i in u.indices)]
    start = time.perf_counter()
    with open(run_dir / FOLDER / TRIALS_FILE, "a") as log:
        for unit, outcome in _results(todo, split, spec, experiment):
            for index, trial in zip(unit.indices, _trials(unit, outcome, out, spec), strict=True):
                log.write(json.dumps(trial_row(trial)) + "\n")
                rows[index] = trial
                progress.finished(trial.config, trial.metrics if trial.ok else None)
                if on_trial is not None:
                    on_trial(index, trial)
            log.flush()
    wall = time.perf_counter() - start
    return RunnerResult(FOLDER, [rows[i] for i in sorted(rows)], wall, session.cores)


def _results(
    units: list[Unit], split: Split, spec: TrialSpec, experiment: Experiment
) -> Iterator[tuple[Unit, Outcome]]:
    """Each unit with its task's outcome, in the order they finish; at most
    ``resources.max_concurrent_trials`` tasks at once (none: all submitted at once, Ray queues them)."""
    import ray  # heavy: Ray only when the trials start (the run's other modules never import it)

    resources = experiment.resources
    options = dict(
        num_cpus=resources.num_cpus,
        num_gpus=resources.num_gpus,
        max_retries=experiment.max_failures,  # a lost worker; an exception is the trial's outcome
        retry_exceptions=False,
    )
    single, shared = ray.remote(trial_task).options(**options), ray.remote(group_task).options(**options)
    split_ref = ray.put(split)  # once: every task maps the same arrays
    waiting, pending = list(reversed(units)), {}
    cap = resources.max_concurrent_trials or len(units)
    try:
        while waiting or pending:
            while waiting and len(pending) < cap:
                unit = waiting.pop()
                task = (
                    shared.remote(unit.group, split_ref, spec)
                    if unit.group
                    else single.remote(unit.configs[0], split_ref, spec)
                )
                pending[task] = unit
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            yield pending.pop(ready), _outcome(ready)
    except BaseException:  # a Ctrl-C (or an error) leaves no task running
        _cancel(list(pending))
        raise


def _cancel(tasks: list[Any]) -> None:
    """Cancel the tasks that have not finished. A finished one is left alone: Ray 2.60's driver
    can abort when a cancellation races the reply of a task that is completing
    (``Tried to complete task that was not pending``; ray-project/ray#54798 fixed its retry twin)."""
    import ray  # heavy: see `_results`

    if not tasks:
        return
    _, running = ray.wait(tasks, num_returns=len(tasks), timeout=0)
    for task in running:
        ray.cancel(task)  # a KeyboardInterrupt in the task; its worker ends with the run's Ray


def _outcome(task: Any) -> Outcome:
    """A task's outcome (``task``: its ObjectRef); a task Ray could not finish (its worker lost
    more than ``max_retries`` times, or killed for memory more than ``max_failures`` times:
    `tuning.planning.cluster.limit_oom_retries`) is its trial's error."""
    import ray  # heavy: see `_results`
    from ray.exceptions import OutOfMemoryError, RayError

    # imports Ray: `tuning.inspect` reads the tasks' rows without it
    from tuning.runners.lost import memory_line

    try:
        return ray.get(task)
    except OutOfMemoryError as exc:
        return None, memory_line(str(exc))
    except RayError as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        return None, f"{type(exc).__name__}: {lines[0]}"


def _trials(unit: Unit, outcome: Outcome, out: Path, spec: TrialSpec) -> list[TrialResult]:
    """The unit's rows (``tasks_<index>``), its TensorBoard events written."""
    metrics, error = outcome
    folder = f"shared_{unit.indices[0]:05d}" if unit.group else None  # one TensorBoard run per fit
    trials = [
        TrialResult(
            name=f"{FOLDER}_{i:05d}",
            config=c,
            metrics=metrics[n] if metrics else {},
            error=error,
            path=str(out / (folder or f"{FOLDER}_{i:05d}")),
        )
        for n, (i, c) in enumerate(zip(unit.indices, unit.configs, strict=True))
    ]
    if unit.group is not None:
        group_events(trials[0].path, trials, unit.group.sizes, spec.metrics)
    else:
        write_trial_events(trials[0].path, trials[0].config, trials[0].metrics)
    return trials


def read_tasks(run_dir: Path | str) -> list[TrialResult]:
    """The tasks runner's trials from a run directory (empty if it did not run)."""
    return read_trials(run_dir, FOLDER)
