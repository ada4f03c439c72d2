"""The checks run after the schema: those that need the estimator class or the file system.

Each takes ``where``, which turns a dotted key into ``file:line`` (or ``--set``), and
raises `ExperimentError` naming that key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuning.config.schema import BUILTIN_DATASETS, Experiment
from tuning.errors import ExperimentError
from tuning.estimator import default_params, fixed_params, resolve_estimator, task_of
from tuning.families import family_of
from tuning.metrics import EXAMPLES, KINDS, METRICS
from tuning.values import is_number

Where = Callable[[str], str]

_SKLEARN_MESSAGE = re.compile(r"parameter of \w+ must be (?P<rule>.*?)\. Got (?P<got>.*) instead")


def check_experiment(experiment: Experiment, where: Where) -> None:
    """Every check after the schema, in order: estimator, metrics, budget, data, search."""
    check_estimator(experiment, where)
    check_metrics(experiment, where)
    check_budget(experiment, where)
    check_local_data(experiment, where)
    check_search(experiment, where)
    check_share_fits(experiment, where)


def check_estimator(experiment: Experiment, where: Where) -> None:
    """Raise `ExperimentError` if the estimator, its params or the space's values are invalid."""
    try:
        cls = resolve_estimator(experiment.estimator.class_path)
    except ValueError as exc:
        raise ExperimentError(
            f"{exc}; got {experiment.estimator.class_path!r}",
            where=where("estimator.class"),
            key="estimator.class",
        ) from None
    try:
        valid = default_params(cls)
    except TypeError as exc:  # e.g. Pipeline() needs its steps
        raise ExperimentError(
            f"must be an estimator class that can be built without arguments ({exc}); a pipeline "
            f"is written as its steps, once the experiment file supports them; got "
            f"{experiment.estimator.class_path!r}",
            where=where("estimator.class"),
            key="estimator.class",
        ) from None
    fixed = experiment.estimator.params
    space = experiment.space
    named = [(f"estimator.params.{k}", k) for k in fixed] + [(f"space.{k}", k) for k in space]
    for key, param in named:
        if param not in valid:
            close = difflib.get_close_matches(param, valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ExperimentError(
                f"is not a parameter of {cls.__name__}{hint}; valid: {', '.join(sorted(valid))}",
                where=where(key),
                key=key,
            )
    _check_values(cls, fixed, "estimator.params", where)
    for name, domain in space.items():
        for kind, values in domain.items():
            candidates = values if kind in ("grid", "choice") else values[:1]
            for value in candidates:
                _check_values(cls, {**fixed, name: value}, f"space.{name}", where, only=name)


def check_metrics(experiment: Experiment, where: Where) -> None:
    """Each recorded metric scores this kind of estimator, with a method the estimator has."""
    cls = resolve_estimator(experiment.estimator.class_path)
    task = task_of(cls)
    estimator = cls(**experiment.estimator.params)
    listed = {name: f"metrics.{i}" for i, name in enumerate(experiment.metrics or [])}
    for name in experiment.metrics or [experiment.metric]:
        metric = METRICS[name]
        key = "metric" if name == experiment.metric else listed[name]
        if metric.task != task:
            raise ExperimentError(
                f"must be a {KINDS[task]} metric for {cls.__name__} (a {task}: {', '.join(EXAMPLES[task])}, "
                f"...); got {name!r}, a {KINDS[metric.task]} metric",
                where=where(key),
                key=key,
            )
        if not any(hasattr(estimator, method) for method in metric.needs):
            needs = " or ".join(metric.needs)
            raise ExperimentError(
                f"must be a metric {cls.__name__} can give; got {name!r}, which needs {needs} "
                f"({cls.__name__} has no {needs} with these estimator.params)",
                where=where(key),
                key=key,
            )


def _check_values(cls: type, params: dict[str, Any], key: str, where: Where, only: str | None = None) -> None:
    """Let the estimator's own parameter validation (scikit-learn >= 1.2) judge the values."""
    try:
        estimator = cls(**params)
        if hasattr(estimator, "_parameter_constraints"):  # scikit-learn's own estimators
            estimator._validate_params()
    except Exception as exc:  # the estimator's own error, whatever its type
        text = str(exc)
        match = _SKLEARN_MESSAGE.search(text)
        name = only or _named_param(text, params)
        full_key = key if only or name is None else f"{key}.{name}"
        if match:
            message = f"must be {match['rule']}; got {match['got']}"
        else:
            message = f"is rejected by {cls.__name__}: {text.splitlines()[0] if text else type(exc).__name__}"
        raise ExperimentError(message, where=where(full_key), key=full_key) from None


def _named_param(text: str, params: dict[str, Any]) -> str | None:
    """The parameter an estimator's error message names, if it is one of ``params``."""
    match = re.search(r"The '(\w+)' parameter", text)
    if match and match[1] in params:
        return match[1]
    return None


def check_budget(experiment: Experiment, where: Where) -> None:
    """The budget must be a parameter of an estimator that can grow (``warm_start``)."""
    budget = experiment.search.budget
    if budget is None:
        return
    cls = resolve_estimator(experiment.estimator.class_path)
    valid = default_params(cls)
    if budget.param not in valid:
        raise ExperimentError(
            f"must be a parameter of {cls.__name__}; got {budget.param!r}",
            where=where("search.budget.param"),
            key="search.budget.param",
        )
    if "warm_start" not in valid:
        raise ExperimentError(
            f"must belong to an estimator with warm_start (grown in steps); {cls.__name__} has none",
            where=where("search.budget"),
            key="search.budget",
        )


def check_search(experiment: Experiment, where: Where) -> None:
    """The ordering's size parameter must be a grid of numbers."""
    search = experiment.search
    if search.order == "largest_first":
        grid = experiment.space.get(search.size_param, {}).get("grid")
        if not grid or not all(is_number(v) for v in grid):
            raise ExperimentError(
                f"must name a grid of numbers in space when search.order is largest_first; "
                f"got {search.size_param!r}",
                where=where("search.size_param"),
                key="search.size_param",
            )


def check_local_data(experiment: Experiment, where: Where) -> None:
    """A data source that is neither built in nor a URI must be an existing CSV/Parquet file."""
    source = experiment.data.source
    if experiment.data.builtin or "://" in source:
        return
    if not Path(source).is_file():
        raise ExperimentError(
            f"must be a built-in data set ({', '.join(BUILTIN_DATASETS)}) or an existing "
            f"CSV/Parquet file; got {source!r} (no such file)",
            where=where("data.source"),
            key="data.source",
        )
    if Path(source).suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ExperimentError(
            f"must end in .csv or .parquet; got {source!r}", where=where("data.source"), key="data.source"
        )


def why_not_share(experiment: Experiment) -> str | None:
    """Why the experiment's trials cannot share fits exactly (None: they can).

    Sharing needs a whole space known in advance, no budget, an estimator family whose
    size parameter grows by exact prefixes (`tuning.families`), that parameter in the
    space, and every other setting (fixed or searched) one that keeps the prefixes exact.
    """
    search = experiment.search
    if search.algorithm == "optuna":
        return "search.algorithm optuna proposes each configuration after the last one's score"
    if search.budget is not None:
        return "search.budget grows each trial step by step already"
    if experiment.split.repeats:
        return "split.repeats fits each configuration once per split (chunks of repeats are the trials)"
    cls = resolve_estimator(experiment.estimator.class_path)
    family = family_of(cls)
    if family is None:
        return f"{cls.__name__} has no size parameter that grows by exact prefixes (forests, boosting)"
    size = family.size_param
    if size not in experiment.space:
        return f"the space does not vary {size}, the {family.name} size parameter"
    sizes = [
        v for kind, values in experiment.space[size].items() for v in values if kind in ("grid", "choice")
    ]
    if len(sizes) != sum(len(v) for v in experiment.space[size].values()):
        return f"space.{size} must be a list of sizes (grid or choice) to share fits"
    searched = set(experiment.space)
    params = {
        **default_params(cls),
        **fixed_params(cls, experiment.estimator.params, searched, seed=experiment.seed, n_jobs=1),
    }
    listed = {
        name: [v for kind, vs in domain.items() if kind in ("grid", "choice") for v in vs]
        for name, domain in experiment.space.items()
        if name != size
    }
    params.update({name: values[0] for name, values in listed.items() if values})
    if reason := family.why_not(params):
        return reason
    for name, values in listed.items():
        for value in values:
            if reason := family.why_not({**params, name: value}):
                return f"{reason} (space.{name} has {value!r})"
    return None


def check_share_fits(experiment: Experiment, where: Where) -> None:
    """``search.share_fits: true`` must be possible exactly; ``auto`` shares only where it is."""
    if experiment.search.share_fits is not True:
        return
    if reason := why_not_share(experiment):
        raise ExperimentError(
            f"must be false or auto here: fits cannot be shared exactly because {reason}",
            where=where("search.share_fits"),
            key="search.share_fits",
        )
