"""The parallel runner: Ray Tune's Tuner, one resource-specified trial per configuration."""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib

from tuning.config import Experiment
from tuning.errors import ExperimentError
from tuning.estimators.models import flat_choice, nested_choice
from tuning.estimators.space import config_key, variant_generator
from tuning.metrics import BestScore, Mode
from tuning.planning.search import param_space, scheduler, search_alg
from tuning.run_files import write_atomic
from tuning.runner_names import TUNE
from tuning.runners.events import write_trial_events
from tuning.runners.moved import old_paths
from tuning.runners.progress import tune_callback
from tuning.runners.sequential import config_events_path
from tuning.runners.session import RunnerSession
from tuning.stopping import StopRule
from tuning.storage import is_uri, join, names, read_text, remote, storage_problem, tune_storage_path
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.shared_fits import FIT_FILE, INDEX_KEY, SHARED_KEY, Group, run_group, size_key


@dataclass(frozen=True)
class KeepFit:
    """A run's wish to keep its best trial's fit (`keep_fit`): a `TrialSpec.one_fit` trial
    checkpoints its model when its ``metric`` beats, in direction ``mode``, every earlier trial
    of this run (``run``: a token of its own) that its worker process ran. Tune reuses actors,
    so a process runs many trials: the run's best trial was its process's best so far, and is
    always kept; the others mostly are not (`tuning.reports.best_model.kept_fit` loads the best one's)."""

    run: str
    metric: str
    mode: Mode

    def best(self) -> BestScore:
        """This process's best score of the run so far."""
        return _BEST.setdefault(self.run, BestScore(self.metric, self.mode))


_BEST: dict[str, BestScore] = {}  # per worker process: each run's best score so far (`KeepFit`)


def keep_fit(experiment: Experiment, spec: TrialSpec) -> KeepFit | None:
    """What a run's unshared trials keep: their best fits, if the run refits one made on the training rows."""
    if not (experiment.refit and spec.one_fit):
        return None
    return KeepFit(uuid.uuid4().hex, experiment.metric, experiment.mode)


def trial(config: dict, split: Split, spec: TrialSpec, keep: KeepFit | None = None) -> None:
    """Tune's trainable: `run_trial` plus where it ran, reported after each step (once without a budget).

    ``keep``: the result carries a checkpoint of the fitted model (`FIT_FILE`) when it is the
    best so far of this process's trials of the run (`KeepFit`).
    """
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    sys.unraisablehook = quiet_exit_in_callbacks  # this actor process's; set once or again: the same
    where, fitted = _where(), []
    if keep is not None:
        _quiet_checkpoints()

    def report(result: dict) -> None:
        if fitted and keep.best().improves(result):  # a fit only where keep is set
            _report_fit(fitted.pop(), {**result, **where})
        else:
            tune.report({**result, **where})

    keeper = fitted.append if keep is not None else None
    run_trial(flat_choice(config), split, spec, report=report, keep=keeper)


def shared_trial(config: dict, split: Split, spec: TrialSpec, keep_fit: bool = False) -> None:
    """Tune's trainable for a group of shared fits: one fit, one result per configuration.

    ``config`` is ``{"shared": [configuration, ...]}`` (`tuning.trial.shared_fits.Group.tune_config`),
    smallest size first; each result carries ``shared_index`` and its size as ``timesteps_total``.
    ``keep_fit``: the last result carries a checkpoint of the one fit (`FIT_FILE`), from
    which the best model is cut instead of refitted (`tuning.reports.best_model.kept_fit`).
    """
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    sys.unraisablehook = quiet_exit_in_callbacks
    configs = tuple(config[SHARED_KEY])
    group = Group(size_key(spec, configs[0]), configs, tuple(range(len(configs))))
    where, kept = _where(), []
    _quiet_checkpoints()

    def report(result: dict) -> None:
        if kept and result[INDEX_KEY] == len(configs) - 1:
            _report_fit(kept.pop(), {**result, **where})
        else:
            tune.report({**result, **where})

    run_group(group, split, spec, report=report, keep=kept.append if keep_fit else None)


def _quiet_checkpoints() -> None:
    """Not "Checkpoint successfully created at" for each kept fit."""
    for name in ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _report_fit(model: Any, result: dict) -> None:
    """Report ``result`` with a checkpoint of ``model`` (`FIT_FILE`)."""
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    with tempfile.TemporaryDirectory(prefix="fit-") as folder:  # Tune copies it to the trial
        joblib.dump(model, Path(folder) / FIT_FILE)
        tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder))


def _where() -> dict[str, str]:
    """Where a trial runs: its node and GPUs."""
    import ray  # Ray on first use: `tuning.inspect` reads Tune's state without it

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    }


def quiet_exit_in_callbacks(unraisable) -> None:
    """Python's unraisable-exception hook, minus `SystemExit`.

    Ray's SIGTERM handler raises `SystemExit` in a worker that is being stopped; when the
    signal lands in a weakref callback, Python prints it as an "Exception ignored" traceback,
    which Ray forwards to the user's terminal after a successful run. Other errors still print.
    """
    if not issubclass(unraisable.exc_type, SystemExit):
        sys.__unraisablehook__(unraisable)


def trainable(experiment: Experiment, split: Split, spec: TrialSpec, groups: tuple[Group, ...] = ()):
    """`trial` (`shared_trial` for shared fits) with the split in the object store and the resources.

    Each call keeps its own run's best fits (`keep_fit`: a new token; a restored run's too)."""
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    resources = {"cpu": experiment.resources.num_cpus, "gpu": experiment.resources.num_gpus}
    if groups:
        shared = tune.with_parameters(shared_trial, split=split, spec=spec, keep_fit=experiment.refit)
        return tune.with_resources(shared, resources)
    keep = keep_fit(experiment, spec)
    return tune.with_resources(tune.with_parameters(trial, split=split, spec=spec, keep=keep), resources)


def tune_config(
    experiment: Experiment,
    groups: tuple[Group, ...],
    configs: list[dict] | None = None,
    run_dir: Path | None = None,
):
    """The ``param_space`` and `TuneConfig` of a run: one trial per configuration, per group,
    or per listed trial (``configs``: a configuration's chunks of repeats); ``run_dir`` labels
    an Optuna study."""
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    settings = dict(
        metric=experiment.metric,
        mode=experiment.mode,
        max_concurrent_trials=experiment.resources.max_concurrent_trials,
        reuse_actors=True,
    )
    if groups:  # the groups in the plan's order, as a grid; no scheduler: each group runs whole
        cap = experiment.resources.max_concurrent_trials
        space = {SHARED_KEY: tune.grid_search([g.tune_config()[SHARED_KEY] for g in groups])}
        return space, tune.TuneConfig(
            num_samples=1, search_alg=variant_generator(experiment.seed, None, cap), **settings
        )
    if configs is not None and experiment.estimator.choice is not None:  # a choice's trials, in order
        from tuning.runners.listed import ListedSearcher  # imports Ray

        searcher = ListedSearcher([nested_choice(c) for c in configs])
        return {}, tune.TuneConfig(
            num_samples=len(configs), search_alg=searcher, scheduler=scheduler(experiment), **settings
        )
    if configs is not None:  # exactly these trials, in order; no scheduler (refused with repeats)
        space, searcher, samples = listed(configs, experiment)
        return space, tune.TuneConfig(num_samples=samples, search_alg=searcher, **settings)
    return param_space(experiment), tune.TuneConfig(
        num_samples=experiment.search.num_samples,
        search_alg=search_alg(experiment, run_dir),
        scheduler=scheduler(experiment),
        **settings,
    )


def _prepare_the_process() -> None:
    """Tune's output and failure handling in this process, before a `Tuner` runs."""
    from tuning.runners.lost import handle_lost_workers  # imports Ray

    # Tune's legacy console output is silent at verbose=0, so `Progress` speaks alone. (The new
    # one prints banners even when silent, and a second reporter crashes on a trial's retry.)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    _quiet_analysis()
    _one_line_failures()
    handle_lost_workers()  # a worker killed for memory loses a trial, not the run; concurrency kept


def run_tune(
    session: RunnerSession,
    *,
    experiment: Experiment,
    resume: bool = False,
    groups: tuple[Group, ...] = (),
    configs: list[dict] | None = None,
    callbacks: list | None = None,
    rule: StopRule | None = None,
) -> RunnerResult:
    """Run every configuration of ``experiment`` as a Tune trial; the run directory is Tune's experiment.

    ``rule`` (``search.stop``): Tune's ``time_budget_s`` and a stopper end the search early
    (`stop_hooks`); the result says why in ``stopped``.

    ``configs``: run exactly these trials, in order, instead of searching the space (the
    chunks of repeats of `tuning.planning.plan.group_repeats`).

    With ``resume`` and Tune's state in ``run_dir`` (an interrupted run), `Tuner.restore`
    continues it: finished and errored trials are kept, only unfinished ones run.
    A SIGINT stops Tune gracefully; the trials it left are then not `finished`.
    ``callbacks`` are more Tune callbacks (the trackers' loggers).
    """
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    _prepare_the_process()
    split, spec, run_dir, progress = session.split, session.spec, session.run_dir, session.progress
    if resume and tune.Tuner.can_restore(str(run_dir.resolve())):
        return _restore(session, experiment, groups, callbacks)
    space, settings = tune_config(experiment, groups, configs, run_dir)
    stopper, feeder = stop_hooks(rule) if rule else (None, None)
    events = [shared_events()] if groups else []
    settings.time_budget_s = rule and rule.time
    tuner = tune.Tuner(
        trainable(experiment, split, spec, groups),
        param_space=space,
        tune_config=settings,
        run_config=tune.RunConfig(
            name=run_dir.name,
            storage_path=tune_storage_path(run_dir),  # a local folder or a URI (tuning.storage)
            failure_config=tune.FailureConfig(max_failures=experiment.max_failures),
            callbacks=[tune_callback(progress), *([feeder] if feeder else []), *events, *(callbacks or [])],
            stop=stopper,
            verbose=0,  # `Progress` prints one line per trial instead
            progress_reporter=silent_reporter(),
        ),
    )
    start = time.perf_counter()
    tuner.fit()
    wall = time.perf_counter() - start
    if rule and rule.time and rule.reason is None and wall >= rule.time:
        rule.timed_out()  # Tune's own time_budget_s ended it
    trials = read_tune(remote(run_dir) or run_dir)
    return RunnerResult(TUNE, trials, wall, session.cores, stopped=rule and rule.reason)


def shared_events():
    """Ray Tune's `Callback` that writes each configuration a shared fit's trial scores as its own
    TensorBoard HParams entry (``config_<k>`` in the trial's folder), as the sequential runner does."""
    from ray.tune import Callback  # Ray on first use: `tuning.inspect` reads Tune's state without it

    class SharedEvents(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if INDEX_KEY in result:
                index = result[INDEX_KEY]
                path = config_events_path(trial.local_path, index)
                write_trial_events(path, trial.config[SHARED_KEY][index], result)

    return SharedEvents()


def stop_hooks(rule: StopRule) -> tuple[Any, Any]:
    """Ray Tune's `Stopper` and `Callback` for ``rule``: the callback feeds it each finished trial
    (each configuration of a shared fit), the stopper's ``stop_all`` asks it after every step."""
    from ray.tune import Callback  # Ray on first use: `tuning.inspect` reads Tune's state without it
    from ray.tune.stopper import Stopper

    class RuleStopper(Stopper):
        def __call__(self, trial_id: str, result: dict) -> bool:
            return False

        def stop_all(self) -> bool:
            return rule.check() is not None

    class RuleFeeder(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if INDEX_KEY in result:  # a shared fit reports each configuration once it is scored
                rule.add(result.get(rule.metric))

        def on_trial_complete(self, iteration, trials, trial, **info):
            if INDEX_KEY not in (trial.last_result or {}):
                rule.add((trial.last_result or {}).get(rule.metric))

        def on_trial_error(self, iteration, trials, trial, **info):
            if INDEX_KEY not in (trial.last_result or {}):
                rule.add(None)

    return RuleStopper(), RuleFeeder()


def storage_watch(run_dir: Path, problems: list[str], every_s: float = 1.0):
    """A Tune callback that watches the run directory's storage (`storage_problem`) between
    steps, at most every ``every_s`` seconds: on a read-only or nearly full disk it appends the
    problem to ``problems`` and stops Tune as a Ctrl-C would (SIGUSR1, Tune's own graceful stop:
    its state is saved while it still fits). While the storage is fine, it keeps the last whole
    copy of Tune's experiment state (`keep_whole_state`)."""
    from ray.tune import Callback  # Ray on first use: `tuning.inspect` reads Tune's state without it

    class StorageWatch(Callback):
        checked = 0.0

        def on_step_begin(self, iteration, trials, **info):
            if problems or time.monotonic() - self.checked < every_s:
                return
            self.checked = time.monotonic()
            problem = storage_problem(run_dir)
            if problem is None:
                keep_whole_state(run_dir)
                return
            problems.append(problem)
            # the run's last line says why; not Tune's traceback of its own failed save as well
            logging.getLogger("ray.tune.execution.experiment_state").setLevel(logging.CRITICAL)
            os.kill(os.getpid(), signal.SIGUSR1)  # `tune.run`'s handler: stop, save, return

    return StorageWatch()


def keep_whole_state(run_dir: Path) -> None:
    """Copy Tune's newest experiment state to `GOOD_STATE` (atomically) if it changed and is
    whole JSON: Tune rewrites its state in place, and a full disk leaves it cut short."""
    newest = max(run_dir.glob(STATE_PATTERN), default=None)
    good = run_dir / GOOD_STATE
    if newest is None or (good.exists() and good.stat().st_mtime >= newest.stat().st_mtime):
        return
    text = newest.read_text()
    try:
        json.loads(text)
    except json.JSONDecodeError:  # being written, or cut short: keep the last whole one
        return
    write_atomic(good, text)


def restore_whole_state(run_dir: Path) -> None:
    """Before `Tuner.restore`: put the last whole copy back over a state a full disk cut short."""
    newest = max(run_dir.glob(STATE_PATTERN), default=None)
    good = run_dir / GOOD_STATE
    if newest is None or not good.exists():
        return
    try:
        json.loads(newest.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        write_atomic(newest, good.read_text())


def _restore(
    session: RunnerSession,
    experiment: Experiment,
    groups: tuple[Group, ...],
    callbacks: list | None = None,
) -> RunnerResult:
    """`Tuner.restore` of an interrupted run: finished and errored trials kept, the others run."""
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    run_dir, progress = session.run_dir, session.progress

    restore_whole_state(run_dir)
    progress.done = sum(t.finished for t in read_tune(run_dir))
    try:
        with old_paths():  # a run written before the packages names the flat modules
            tuner = tune.Tuner.restore(
                str(run_dir.resolve()),
                trainable=trainable(experiment, session.split, session.spec, groups),
                resume_unfinished=True,
                resume_errored=False,  # a configuration that raised would raise again
                restart_errored=False,
            )
    except Exception as exc:  # unpickling a damaged tuner.pkl can raise anything
        raise damaged(
            f"--resume {run_dir}", "Tune's saved state (tuner.pkl, experiment_state-*.json)", exc
        ) from None
    run_config = getattr(getattr(tuner, "_local_tuner", None), "get_run_config", None)
    if run_config:  # the pickled callback counts from zero; this one knows what is done
        run_config().callbacks = [tune_callback(progress), *(callbacks or [])]
    start = time.perf_counter()
    tuner.fit()
    return RunnerResult(TUNE, read_tune(run_dir), time.perf_counter() - start, session.cores)


def listed(configs: list[dict], experiment: Experiment):
    """Tune's ``(param_space, search_alg, num_samples)`` that run exactly ``configs``, in order.

    The configurations go to Tune's own generator as points to evaluate; the space only
    names each key's values (Tune requires every preset key to be in it).
    """
    return listed_search(configs, experiment.seed, experiment.resources.max_concurrent_trials)


def listed_search(configs: list[dict], seed: int, cap: int | None = None):
    """`listed` by its parts: the generator's ``seed`` and the cap on trials at once."""
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    values: dict[str, dict[str, object]] = {}
    for config in configs:
        for key, value in config.items():
            values.setdefault(key, {})[repr(value)] = value
    space = {key: tune.choice(list(seen.values())) for key, seen in values.items()}
    return space, variant_generator(seed, list(configs), cap), len(configs)


def run_listed(session: RunnerSession, configs: list[dict], *, resources: dict[str, float]) -> RunnerResult:
    """Ray Tune on exactly ``configs``, in order, outside an experiment (`tuning.searchcv.SearchCV`):
    the same trainable (`trial`) and Tune settings as `run_tune`'s listed trials, ranked by
    ``progress.metric`` in ``progress.mode``; ``resources`` per trial (``{"cpu": 1}``)."""
    from ray import tune  # Ray on first use: `tuning.inspect` reads Tune's state without it

    from tuning.runners.lost import handle_lost_workers  # imports Ray

    split, spec, run_dir, progress = session.split, session.spec, session.run_dir, session.progress
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    _quiet_analysis()
    handle_lost_workers()
    space, searcher, samples = listed_search(configs, seed=spec.seed)
    trainable_ = tune.with_resources(tune.with_parameters(trial, split=split, spec=spec), resources)
    tuner = tune.Tuner(
        trainable_,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=progress.metric,
            mode=progress.mode,
            num_samples=samples,
            search_alg=searcher,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=run_dir.name,
            storage_path=tune_storage_path(run_dir),
            callbacks=[tune_callback(progress)],
            verbose=0,
            progress_reporter=silent_reporter(),
        ),
    )
    start = time.perf_counter()
    tuner.fit()
    return RunnerResult(TUNE, read_tune(run_dir), time.perf_counter() - start, session.cores)


def damaged(where: str, what: str, exc: BaseException) -> ExperimentError:
    """The one-line error of a run directory file that cannot be read back (cut short, garbage)."""
    reason = (str(exc).strip().splitlines() or [""])[-1][:200]
    return ExperimentError(f"cannot be read: {what} is damaged ({type(exc).__name__}: {reason})", where=where)


def silent_reporter():
    """A Tune progress reporter that reports nothing: `Progress` speaks. (In a notebook Tune's
    own displays an empty HTML output under the cell, even at verbose 0.)"""
    from ray.tune import ProgressReporter  # Ray on first use: `tuning.inspect` reads Tune's state without it

    class Silent(ProgressReporter):
        def should_report(self, trials, done=False) -> bool:
            return False

        def report(self, trials, done, *sys_info) -> None:
            pass

    return Silent()


def _quiet_analysis() -> None:
    """Trials that never reported (an interrupted run) have no result files: Tune warns
    about each, with its path, whenever it reads the experiment; the report says it once."""
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)


class OneLineFailures(logging.Filter):
    """Tune logs a failed trial's whole Ray traceback, once per try; the terminal gets one line
    per failure instead (Tune writes the traceback to the trial's ``error.txt`` itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Trial task failed") and record.exc_info:
            error = record.exc_info[1]
            last = (str(error).strip().splitlines() or [type(error).__name__])[-1].strip()
            name = record.getMessage().removeprefix("Trial task failed for trial ")
            record.msg, record.args, record.exc_info, record.exc_text = (
                f"{name} failed: {last} (the traceback is in its folder's error.txt)",
                None,
                None,
                None,
            )
        return True


def _one_line_failures() -> None:
    """Install `OneLineFailures` on Tune's controller logger (once)."""
    controller = logging.getLogger("ray.tune.execution.tune_controller")
    if not any(isinstance(f, OneLineFailures) for f in controller.filters):
        controller.addFilter(OneLineFailures())


CONTINUED = "continued_"  # a stopped run continued with a new budget: its own Tune experiment


def read_tune(run_dir: Path | str) -> list[TrialResult]:
    """The Tune trials of a run directory (a local path or a URI), read as JSON (`state_trials`),
    with those of its continuations (`continue_tune`): a configuration's finished trial wins."""
    trials = _read_experiment(run_dir)
    if is_uri(run_dir):
        return trials
    for later in sorted(
        Path(run_dir).glob(f"{CONTINUED}*"), key=lambda p: int(p.name.removeprefix(CONTINUED))
    ):
        more = _read_experiment(later)
        again = {config_key(t.config) for t in more}
        trials = [t for t in trials if t.finished or config_key(t.config) not in again] + more
    return trials


def continue_tune(
    session: RunnerSession, *, experiment: Experiment, configs: list[dict], rule: StopRule | None
) -> RunnerResult:
    """Continue a run a ``search.stop`` rule ended: the configurations no trial finished, in
    order, as a new Tune experiment ``continued_<n>`` inside the run directory (Tune cannot
    restore a search it was told to finish), under the new ``rule``."""
    run_dir = session.run_dir
    earlier = {config_key(t.config) for t in read_tune(run_dir) if t.finished}
    todo = [c for c in configs if config_key(c) not in earlier]
    session.progress.done = len(configs) - len(todo)
    number = 1 + len(list(run_dir.glob(f"{CONTINUED}*")))
    later_session = replace(session, run_dir=run_dir / f"{CONTINUED}{number}")
    later = run_tune(later_session, experiment=experiment, configs=todo, rule=rule)
    return replace(later, trials=read_tune(run_dir))


def _read_experiment(run_dir: Path | str) -> list[TrialResult]:
    """The trials of one Tune experiment folder (`state_trials`: read as JSON only)."""
    results = []
    for t in state_trials(run_dir if is_uri(run_dir) else str(Path(run_dir).resolve())):
        metrics = dict(t.last_result) if t.last_result and "fit_time_s" in t.last_result else {}
        error = None
        if t.status == "ERROR":
            text = t.get_error() or "trial failed"
            error = str(text).strip().splitlines()[-1]
        # num_failures counts failures; an errored trial's last failure was not retried
        retries = max(0, t.num_failures - (t.status == "ERROR"))
        if SHARED_KEY in t.config:
            results += shared_rows(str(t), t.config[SHARED_KEY], t.path, error, retries)
            continue
        results.append(TrialResult(str(t), flat_choice(t.config), metrics, error, retries, t.path))
    return results


STATE_PATTERN = "experiment_state-*.json"  # Tune's experiment state, one file per session
GOOD_STATE = ".experiment_state.good.json"  # the last whole copy of it (`StateKeeper`)


@dataclass(frozen=True)
class StateTrial:
    """What a report needs of one of Tune's trials, as its experiment state records it."""

    name: str
    config: dict
    last_result: dict
    status: str
    num_failures: int
    path: str
    error_file: str | None = None

    def __str__(self) -> str:
        return self.name

    def get_error(self) -> str | None:
        """The text of the trial's last error (Tune's ``error.txt``), if it has one."""
        plain = self.error_file and Path(self.error_file).name == self.error_file  # in the trial's folder
        return read_text(self.path, self.error_file) if plain else None


def state_trials(run_dir: str) -> list[StateTrial]:
    """Tune's trials of an experiment folder (absolute, or a URI), from its newest state file
    read with `json` alone (else the last whole copy `StateKeeper` kept).

    Tune's own readers (`ExperimentAnalysis`, `Tuner.restore`) unpickle each trial's state: a
    crafted run directory would run its code. A report reads nothing but JSON; values Tune
    could only pickle stay as they are, unread.
    """
    pairs = read_state(run_dir)["trial_data"]
    try:
        return [_state_trial(run_dir, *(json.loads(half) for half in pair)) for pair in pairs]
    except (ValueError, KeyError, TypeError) as exc:  # JSON, but not Tune's
        raise ExperimentError(
            "cannot be read: Tune's experiment state has a trial it cannot read "
            f"({type(exc).__name__}: {exc})",
            where=str(run_dir),
        ) from None


def _state_trial(run_dir: str, trial: dict, metadata: dict) -> StateTrial:
    """One trial of Tune's state: its JSON state and its runtime metadata (Tune's two halves)."""
    relative = trial["relative_logdir"]
    return StateTrial(
        trial.get("custom_trial_name") or f"{trial['trainable_name']}_{trial['trial_id']}",
        trial["config"],
        metadata.get("last_result") or {},
        trial["status"],
        int(metadata.get("num_failures") or 0),
        join(run_dir, relative) if is_uri(run_dir) else str(Path(run_dir) / relative),
        metadata.get("error_filename"),
    )


def read_state(run_dir: Path | str) -> dict:
    """The newest experiment state of a Tune experiment folder, as JSON; its last whole copy
    (`GOOD_STATE`) if the newest was cut short (a full disk); `ExperimentError` if neither reads."""
    newest = max(fnmatch.filter(names(run_dir), STATE_PATTERN), default=None)
    for candidate in (newest, GOOD_STATE):
        try:
            state = json.loads(read_text(run_dir, candidate) or "null") if candidate else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if isinstance(state, dict) and isinstance(state.get("trial_data"), list):
            return state
    raise ExperimentError(
        f"cannot be read: Tune's {newest or STATE_PATTERN} is not whole JSON, and no whole copy "
        f"({GOOD_STATE}) is kept",
        where=str(run_dir),
    )


def shared_rows(
    name: str, configs: list[dict], path: str, error: str | None, retries: int
) -> list[TrialResult]:
    """One row per configuration of a shared-fit trial, from its ``result.json`` (one line per result).

    A configuration the trial did not reach before an error gets the error; one it did not
    reach otherwise (an interrupted run) is unfinished. A retried trial reports again: the
    last result of each configuration counts.
    """
    by_index: dict[int, dict] = {}
    for line in (read_text(path, "result.json") or "").splitlines():
        try:
            result = json.loads(line)
        except json.JSONDecodeError:  # a line cut short
            continue
        if INDEX_KEY in result:
            by_index[result[INDEX_KEY]] = result
    rows = []
    for index, config in enumerate(configs):
        metrics = by_index.get(index, {})
        row_name = f"{name}_{index:03d}"
        rows.append(TrialResult(row_name, dict(config), metrics, None if metrics else error, retries, path))
    return rows
