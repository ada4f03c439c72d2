"""How Tune explores the space: the search algorithm, the early-stopping scheduler, and
what the sequential baseline can replay of them (imports Ray lazily)."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from tuning.config import ADAPTIVE_RUNNER
from tuning.errors import ExperimentError
from tuning.estimators.models import CHOICE_KEY, choice_key, model_of
from tuning.estimators.space import (
    config_key,
    distinct_count,
    distinct_sample,
    for_algorithm,
    ordered,
    suggest_choice,
    to_tune,
    variant_generator,
)
from tuning.runner_names import RUNNERS, SEQUENTIAL, TASKS, TUNE
from tuning.summary_types import Search

if TYPE_CHECKING:
    from pathlib import Path

    from tuning.config import Experiment
    from tuning.trial.records import RunnerResult, TrialResult


def adaptive(experiment: Experiment) -> bool:
    """Whether the configurations depend on earlier results (only Tune can run it)."""
    return experiment.search.algorithm == "optuna"


def check_runner(experiment: Experiment, runner: str) -> None:
    """Refuse a sequential-only run of an adaptive search (``both`` replays Tune's configurations),
    and the task runner with what only Ray Tune does (`needs_tune`)."""
    if runner not in RUNNERS:  # the file's is validated; a caller's (the Python API) may not be
        raise ExperimentError(f"must be one of {', '.join(RUNNERS)}; got {runner!r}", key="runner")
    if adaptive(experiment) and runner == SEQUENTIAL:
        raise ExperimentError(ADAPTIVE_RUNNER.removeprefix("runner "), key="runner")
    if TASKS in RUNNERS[runner] and (needs := needs_tune(experiment)):
        what, supported = needs
        raise ExperimentError(
            f"must be {supported} when {what}; the tasks runner has none; got {runner!r}", key="runner"
        )


def needs_tune(experiment: Experiment) -> tuple[str, str] | None:
    """What in the experiment the tasks runner cannot run (Ray Tune's searcher, scheduler or
    stopper) and the runners that can, or None."""
    search = experiment.search
    if adaptive(experiment):
        return f"search.algorithm is {search.algorithm} (Ray Tune's adaptive searcher)", "tune or both"
    if search.scheduler is not None:
        return f"search.scheduler is {search.scheduler} (Ray Tune's trial scheduler)", "tune or both"
    if search.stop.active:
        return "search.stop is set (Ray Tune's stopper, or checks between sequential trials)", (
            "tune, sequential or both"
        )
    return None


def search_space(experiment: Experiment) -> dict[str, Any]:
    """The space as both runners walk it: ``search.order`` applied."""
    return ordered(experiment.space, experiment.search.order, experiment.search.size_param)


def param_space(experiment: Experiment) -> dict[str, Any]:
    """Tune's ``param_space`` for the experiment's algorithm (a choice's: empty, its searcher
    proposes whole configurations)."""
    if experiment.estimator.choice is not None:
        return {}
    return to_tune(for_algorithm(search_space(experiment), experiment.search.algorithm))


def search_alg(experiment: Experiment, run_dir: Path | None = None):
    """Tune's searcher: the seeded variant generator, or Optuna's seeded TPE (`UnrepeatedSearch`:
    no configuration twice in a study; the study labelled with the metric and ``run_dir``)."""
    search = experiment.search
    cap = experiment.resources.max_concurrent_trials
    if search.algorithm == "random" and distinct_count(experiment.space) is not None:
        points = distinct_sample(experiment.space, search.num_samples, experiment.seed)
        return variant_generator(experiment.seed, points, cap)
    if search.algorithm != "optuna":
        return variant_generator(experiment.seed, max_concurrent=cap)
    try:
        import optuna  # optional: tuning[optuna]
        from optuna.samplers import TPESampler

        from tuning.planning.study import UnrepeatedSearch  # imports Ray Tune's OptunaSearch
    except ImportError:  # validated already; installed packages may still change under us
        raise ExperimentError(
            "needs Optuna for 'optuna', an optional extra: pip install 'tuning[optuna]'",
            key="search.algorithm",
        ) from None
    # metric and mode come from TuneConfig; the seeded sampler makes the proposals repeatable
    optuna.logging.set_verbosity(logging.WARNING)  # "A new study created in memory" is no news
    storage = study_storage(experiment)
    study = {"storage": storage, "study_name": search.study_name or experiment.name} if storage else {}
    if experiment.estimator.choice is not None:  # Optuna's define-by-run: conditional parameters
        space = partial(suggest_choice, for_choice(experiment))
        study.update(space=space, metric=experiment.metric, mode=experiment.mode)
    # a continued study (its storage holds trials) seeds on from them: not the first run's proposals again
    seed = experiment.seed + (_trials_so_far(storage, study["study_name"]) if storage else 0)
    labels = {"metric": experiment.metric, "run_dir": str(run_dir.resolve()) if run_dir else ""}
    return UnrepeatedSearch(sampler=TPESampler(seed=seed), labels=labels, **study)


def _trials_so_far(storage, name: str) -> int:
    """How many trials the study ``name`` in ``storage`` holds (0: no such study yet)."""
    import optuna  # optional: tuning[optuna]

    try:
        return len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:  # no study of that name yet
        return 0


def for_choice(experiment: Experiment) -> dict[str, dict[str, Any]]:
    """Each branch's space as the algorithm explores it, ``search.order`` applied."""
    search = experiment.search
    return {
        name: for_algorithm(ordered(space, search.order, search.size_param), search.algorithm)
        for name, space in experiment.spaces().items()
    }


def study_storage(experiment: Experiment):
    """The Optuna storage that keeps the study (``search.storage``), opened now; None: in memory."""
    url = experiment.search.storage
    if url is None:
        return None
    from optuna.storages import RDBStorage  # optional: tuning[optuna]

    try:
        return RDBStorage(url)
    except Exception as exc:  # a bad URL, a missing folder, a database that does not answer
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ExperimentError(
            f"must be an Optuna storage URL that opens (e.g. sqlite:///study.db); got {url!r} ({reason})",
            key="search.storage",
        ) from None


def scheduler(experiment: Experiment):
    """ASHA over the budget steps (``training_iteration``), or None: every trial runs to the end."""
    search = experiment.search
    if search.scheduler != "asha" or search.budget is None:
        return None
    from ray.tune.schedulers import ASHAScheduler  # heavy: Ray Tune only when a run starts

    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=len(search.budget.steps),
        grace_period=search.grace_period,
        reduction_factor=search.reduction_factor,
    )


def stopped_early(trials: list[TrialResult], experiment: Experiment) -> list[TrialResult]:
    """Trials that ended without error before the full budget (the scheduler stopped them)."""
    budget = experiment.search.budget
    if budget is None:
        return []
    return [t for t in trials if t.ok and t.metrics.get("budget", budget.max) < budget.max]


def full_budget(result: RunnerResult, experiment: Experiment) -> RunnerResult:
    """The runner's trials without those stopped early: what the baseline can be compared with."""
    stopped = {id(t) for t in stopped_early(result.trials, experiment)}
    return replace(result, trials=[t for t in result.trials if id(t) not in stopped])


def best_config(trial: TrialResult, experiment: Experiment) -> dict[str, Any]:
    """The full configuration of a trial, the budget it reached included (under the key of the
    model's parameter: ``model__n_estimators`` in a pipeline, ``branch/...`` in a choice)."""
    budget = experiment.search.budget
    config = dict(trial.config)
    if budget is not None:
        branch = config[CHOICE_KEY] if experiment.estimator.choice is not None else ""
        key = model_of(experiment.models()[branch], set()).key(budget.param)
        config[choice_key(branch, key) if branch else key] = trial.metrics.get("budget", budget.max)
    return config


def proposed(result: RunnerResult) -> list[dict[str, Any]]:
    """The configurations an adaptive search chose, in the order their trials started."""
    ordered = sorted(result.trials, key=lambda t: t.metrics.get("started_at", float("inf")))
    return [dict(t.config) for t in ordered]


def comparable(
    results: dict[str, RunnerResult], experiment: Experiment, other: str = TUNE
) -> tuple[RunnerResult, RunnerResult]:
    """``(sequential, tune)`` (or the ``other`` runner) restricted to what both ran in full, for
    the parity check.

    Under a scheduler the baseline runs every configuration to the full budget, so only
    the Tune trials that were not stopped early can match it; under a ``search.stop`` rule,
    only the configurations both finished.
    """
    seq, tune = results[SEQUENTIAL], results[other]
    if seq.stopped or tune.stopped:  # a stop rule may end them at different points
        both = {config_key(t.config) for t in seq.trials} & {config_key(t.config) for t in tune.trials}
        seq = replace(seq, trials=[t for t in seq.trials if config_key(t.config) in both])
        tune = replace(tune, trials=[t for t in tune.trials if config_key(t.config) in both])
    if experiment.search.scheduler is None:
        return seq, tune
    tune = full_budget(tune, experiment)
    kept = {config_key(t.config) for t in tune.trials}
    return replace(seq, trials=[t for t in seq.trials if config_key(t.config) in kept]), tune


def search_record(results: dict[str, RunnerResult], experiment: Experiment) -> Search:
    """The search's settings and, under a budget, how many trials stopped early."""
    search = experiment.search
    record: Search = {"algorithm": search.algorithm, "num_samples": search.num_samples}
    if search.budget is not None:
        record["scheduler"] = search.scheduler
        record["budget"] = {"param": search.budget.param, "steps": list(search.budget.steps)}
        for name, result in results.items():
            stopped = stopped_early(result.trials, experiment)
            record[f"{name}_stopped_early"] = len(stopped)
            record[f"{name}_steps_run"] = sum(t.metrics.get("step", 0) for t in result.trials if t.ok)
    return record


def stopping_line(record: Search, total: int) -> str | None:
    """``Early stopping: asha stopped 9 of 12 Tune trials (35 of 72 steps run)``, or None."""
    if not record.get("scheduler") or "tune_stopped_early" not in record:
        return None
    steps, param = len(record["budget"]["steps"]), record["budget"]["param"]
    stopped = record["tune_stopped_early"]
    return (
        f"Early stopping: {record['scheduler']} stopped {stopped} of {total} Tune trials "
        f"({record['tune_steps_run']} of {total * steps} steps of {param} run)"
    )
