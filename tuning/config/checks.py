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

from tuning.config.schema import BUILTIN_DATASETS, SPLIT_SEED, Experiment
from tuning.errors import ExperimentError
from tuning.estimator import default_params, resolve_estimator, task_of
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
    space = {k: v for k, v in experiment.space.items() if k != SPLIT_SEED}  # a split's, not a param
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
    """The ordering's size parameter and a searched split seed must be integer/numeric grids."""
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
    domain = experiment.space.get(SPLIT_SEED)
    if domain is not None:
        ((kind, values),) = domain.items()
        if kind not in ("grid", "choice", "randint") or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
        ):
            raise ExperimentError(
                f"must be a grid, choice or randint of non-negative integers (one split seed per "
                f"trial); got {{{kind}: {values!r}}}",
                where=where(f"space.{SPLIT_SEED}"),
                key=f"space.{SPLIT_SEED}",
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
