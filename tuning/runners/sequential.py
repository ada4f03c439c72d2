"""The baseline: the same trials as Tune, one after another in this process, no Ray."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tensorboardX import SummaryWriter

from tuning.estimators.space import config_key
from tuning.metrics import BestScore
from tuning.run_files import SEQUENTIAL_FILE, TRIALS_FILE
from tuning.runner_names import SEQUENTIAL
from tuning.runners.events import write_trial_events
from tuning.runners.session import RunnerSession
from tuning.stopping import StopRule
from tuning.storage import is_uri, join, read_text
from tuning.trial.fit import run_trial
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.shared_fits import Group, run_group

RESULTS_FILE = SEQUENTIAL_FILE


def run_sequential(
    session: RunnerSession,
    configs: list[dict[str, Any]],
    *,
    done: list[TrialResult] | None = None,
    on_trial: Callable[[int, TrialResult], None] | None = None,
    rule: StopRule | None = None,
    keep: BestScore | None = None,
) -> RunnerResult:
    """Run each configuration in turn; write ``sequential/trials.jsonl`` and TensorBoard events.

    A configuration that raises is recorded as errored and the loop goes on. ``done``
    (a resumed run: `read_sequential`) are trials already finished: they are kept, not run.
    ``on_trial(index, trial)`` is called after each trial that ran (the trackers log it).
    ``rule`` (``search.stop``) is asked between trials: once it says stop, no other trial starts.
    ``keep`` (a run that refits): the result's ``kept`` holds the fitted model of the trial that
    improved on it last, the best that ran (`TrialSpec.one_fit` trials only), so it is not refitted.
    """
    split, spec, run_dir, progress = session.split, session.spec, session.run_dir, session.progress
    out = run_dir / SEQUENTIAL
    out.mkdir(parents=True, exist_ok=True)
    trials: list[TrialResult] = []
    kept: tuple[str, Any] | None = None
    finished = {config_key(t.config): t for t in done or [] if t.finished}
    start = time.perf_counter()
    with open(run_dir / RESULTS_FILE, "a") as log:
        for index, config in enumerate(configs):
            if config_key(config) in finished:
                trials.append(finished[config_key(config)])
                continue
            if rule and rule.check():
                break
            trial = TrialResult(
                name=f"sequential_{index:05d}", config=config, path=str(out / f"sequential_{index:05d}")
            )
            fitted: list[Any] = []
            try:
                trial.metrics = run_trial(
                    config, split, spec, keep=fitted.append if keep is not None else None
                )
            except Exception as exc:  # a bad configuration fails its trial, not the run
                trial.error = f"{type(exc).__name__}: {exc}"
            if fitted and keep.improves(trial.metrics):
                kept = (trial.name, fitted[0])
            write_trial_events(trial.path, config, trial.metrics)  # Tune's tags: one chart for both
            log.write(json.dumps(trial_row(trial)) + "\n")
            log.flush()
            trials.append(trial)
            progress.finished(config, trial.metrics if trial.ok else None)
            if on_trial is not None:
                on_trial(index, trial)
            if rule:
                rule.add(trial.metrics.get(rule.metric) if trial.ok else None)
    wall = time.perf_counter() - start
    return RunnerResult(SEQUENTIAL, trials, wall, session.cores, stopped=rule and rule.reason, kept=kept)


def run_sequential_groups(
    session: RunnerSession,
    groups: tuple[Group, ...],
    *,
    done: list[TrialResult] | None = None,
    rule: StopRule | None = None,
    on_trial: Callable[[int, TrialResult], None] | None = None,
) -> RunnerResult:
    """`run_sequential` with shared fits: one fit per group, one row per configuration.

    The rows are those `run_sequential` writes (``sequential_<index>``: the configuration's
    place in the plan); TensorBoard gets one run per group, the score against the size, and
    each configuration's HParams in ``config_<k>`` below it (`group_events`). A group whose
    configurations all finished (a resumed run) is not run again; ``rule`` is asked between
    groups (each configuration of a group counts as a finished trial); ``on_trial(index,
    trial)`` is called for each configuration of a group that ran (the trackers log it).
    """
    split, spec, run_dir, progress = session.split, session.spec, session.run_dir, session.progress
    out = run_dir / SEQUENTIAL
    out.mkdir(parents=True, exist_ok=True)
    finished = {config_key(t.config): t for t in done or [] if t.finished}
    rows: dict[int, TrialResult] = {}
    start = time.perf_counter()
    with open(run_dir / RESULTS_FILE, "a") as log:
        for number, group in enumerate(groups):
            if all(config_key(c) in finished for c in group.configs):
                rows.update(
                    {i: finished[config_key(c)] for i, c in zip(group.indices, group.configs, strict=True)}
                )
                continue
            if rule and rule.check():
                break
            path = str(out / f"shared_{number:05d}")
            trials = [
                TrialResult(name=f"sequential_{i:05d}", config=c, path=path)
                for i, c in zip(group.indices, group.configs, strict=True)
            ]
            try:
                for trial, metrics in zip(trials, run_group(group, split, spec), strict=True):
                    trial.metrics = metrics
            except Exception as exc:  # a bad configuration fails its group, not the run
                for trial in trials:
                    trial.error = f"{type(exc).__name__}: {exc}"
            group_events(path, trials, group.sizes, spec.metrics)
            for index, trial in zip(group.indices, trials, strict=True):
                log.write(json.dumps(trial_row(trial)) + "\n")
                rows[index] = trial
                progress.finished(trial.config, trial.metrics if trial.ok else None)
                if on_trial is not None:
                    on_trial(index, trial)
                if rule:
                    rule.add(trial.metrics.get(rule.metric) if trial.ok else None)
            log.flush()
    ordered = [rows[i] for i in sorted(rows)]
    wall = time.perf_counter() - start
    return RunnerResult(SEQUENTIAL, ordered, wall, session.cores, stopped=rule and rule.reason)


def group_events(
    path: str, trials: list[TrialResult], sizes: tuple[int, ...], metrics: tuple[str, ...]
) -> None:
    """A group's TensorBoard events: its scores against the size in ``path``, and each
    configuration's HParams (`write_trial_events`) in ``path/config_<k>``, as Tune's side writes."""
    with SummaryWriter(path) as writer:
        for trial, size in zip(trials, sizes, strict=True):
            for key in (k for k in metrics if k in trial.metrics):
                writer.add_scalar(f"ray/tune/{key}", trial.metrics[key], size)
    for position, trial in enumerate(trials):
        write_trial_events(config_events_path(path, position), trial.config, trial.metrics)


def config_events_path(path: str, position: int) -> str:
    """The TensorBoard folder of a shared group's ``position``-th configuration."""
    return str(Path(path) / f"config_{position:03d}")


def trial_row(trial: TrialResult) -> dict:
    """One line of a runner's ``trials.jsonl``."""
    return {"name": trial.name, "config": trial.config, "metrics": trial.metrics, "error": trial.error}


def read_sequential(run_dir: Path | str) -> list[TrialResult]:
    """The baseline's trials from a run directory, local or a URI (empty if it did not run).

    A line cut short by a crash is the trial that was being written: it is left out, so a
    resumed run runs that trial again.
    """
    return read_trials(run_dir, SEQUENTIAL)


def read_trials(run_dir: Path | str, folder: str) -> list[TrialResult]:
    """The trials a runner wrote in ``<folder>/trials.jsonl`` (`read_sequential`)."""
    text = read_text(run_dir, f"{folder}/{TRIALS_FILE}")
    if text is None:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    uri = is_uri(run_dir)
    return [
        TrialResult(
            r["name"],
            r["config"],
            r["metrics"],
            r["error"],
            path=join(run_dir, folder, r["name"]) if uri else str(Path(run_dir) / folder / r["name"]),
        )
        for r in rows
    ]
