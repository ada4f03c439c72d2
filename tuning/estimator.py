"""Estimators named by import path: resolve them safely and check their parameters.

An import path in a YAML file is a way to run code, so only classes that look like
scikit-learn estimators (``fit``, ``predict`` and ``get_params``) are accepted.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuning.errors import ExperimentError

if TYPE_CHECKING:
    from tuning.config import Experiment

_SKLEARN_MESSAGE = re.compile(r"parameter of \w+ must be (?P<rule>.*?)\. Got (?P<got>.*) instead")


def resolve_estimator(path: str) -> type:
    """The estimator class at ``module.Class``; `ValueError` says why it is not one."""
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ValueError("must be an import path such as sklearn.ensemble.RandomForestRegressor")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"must be an importable class ({exc})") from None
    if not inspect.isclass(obj):
        raise ValueError(f"must be an estimator class; it is a {type(obj).__name__}")
    missing = [m for m in ("fit", "predict", "get_params") if not callable(getattr(obj, m, None))]
    if missing:
        raise ValueError(f"must be a scikit-learn-style estimator class; it has no {', '.join(missing)}")
    return obj


def default_params(cls: type) -> dict[str, Any]:
    """The estimator's parameters and their defaults."""
    return cls().get_params(deep=False)


def fixed_params(cls: type, params: dict[str, Any], searched: set[str], *, seed: int, n_jobs: int) -> dict:
    """The fixed parameters of every trial: the user's, plus a seed and matched threads.

    ``random_state`` follows the experiment seed and ``n_jobs`` the trial's CPUs, unless
    the user set or searches them.
    """
    defaults = default_params(cls)
    filled = {"random_state": seed, "n_jobs": n_jobs}
    extra = {k: v for k, v in filled.items() if k in defaults and k not in params and k not in searched}
    return {**extra, **params}


def check_experiment_estimator(experiment: Experiment, where: Callable[[str], str]) -> None:
    """Raise `ExperimentError` if the estimator, its params or the space's values are invalid."""
    try:
        cls = resolve_estimator(experiment.estimator.class_path)
    except ValueError as exc:
        raise ExperimentError(
            f"{exc}; got {experiment.estimator.class_path!r}",
            where=where("estimator.class"),
            key="estimator.class",
        ) from None
    valid = default_params(cls)
    fixed = experiment.estimator.params
    from tuning.config import SPLIT_SEED

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


def _check_values(
    cls: type, params: dict[str, Any], key: str, where: Callable[[str], str], only: str | None = None
) -> None:
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
    match = re.search(r"The '(\w+)' parameter", text)
    if match and match[1] in params:
        return match[1]
    return None
