"""Estimators named by import path: resolve them safely, list and fill their parameters.

An import path in a YAML file is a way to run code, so only classes that look like
scikit-learn estimators (``fit``, ``predict`` and ``get_params``) are accepted. The checks
of an experiment's estimator section are in `tuning.config.checks`.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from sklearn.base import is_classifier

from tuning.metrics import Task

# parameters that make a fit bigger (and slower), the most common first
SIZE_PARAMS = ("n_estimators", "max_iter", "n_iter", "epochs")


def size_params_first(names: list[str]) -> list[str]:
    """``names`` with the known size parameters first, in `SIZE_PARAMS` order, then the rest."""
    return [p for p in SIZE_PARAMS if p in names] + [p for p in names if p not in SIZE_PARAMS]


ESTIMATOR = ("fit", "predict", "get_params")


def resolve_estimator(path: str, needs: tuple[str, ...] = ESTIMATOR) -> type:
    """The estimator class at ``module.Class`` with the methods ``needs`` (a transformer:
    ``fit``, ``transform``, ``get_params``); `ValueError` says why it is not one."""
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ValueError("must be an import path such as sklearn.ensemble.RandomForestRegressor")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"must be an importable class ({exc})") from None
    if not inspect.isclass(obj):
        raise ValueError(f"must be an estimator class; it is a {type(obj).__name__}")
    missing = [m for m in needs if not callable(getattr(obj, m, None))]
    if missing:
        raise ValueError(f"must be a scikit-learn-style estimator class; it has no {', '.join(missing)}")
    return obj


def task_of(cls: type) -> Task:
    """``classifier`` if the estimator is one (scikit-learn's tags, which XGBoost's and
    LightGBM's classifiers set too), else ``regressor``."""
    estimator = cls()
    try:
        classifier = is_classifier(estimator)
    except AttributeError:  # no scikit-learn tags (not a BaseEstimator): the older marker, if any
        classifier = getattr(estimator, "_estimator_type", None) == "classifier"
    return "classifier" if classifier else "regressor"


def task_of_class(path: str) -> Task:
    """`task_of` the class at ``path``; ``regressor`` if it cannot be built (the estimator
    check says why: `tuning.config.checks.check_estimator`)."""
    try:
        return task_of(resolve_estimator(path))
    except Exception:  # whatever an unknown class raises when built; reported by the check
        return "regressor"


def default_params(cls: type) -> dict[str, Any]:
    """The estimator's parameters and their defaults."""
    return cls().get_params(deep=False)


def deprecated_params(cls: type) -> set[str]:
    """The parameters the class's docstring marks ``.. deprecated::`` (numpydoc, as scikit-learn
    writes them: LogisticRegression's ``n_jobs`` since 1.8): they have no effect, and warn if set."""
    deprecated: set[str] = set()
    section, current, previous = "", None, ""
    for line in (inspect.getdoc(cls) or "").splitlines():
        if re.fullmatch(r"-{3,}", line.strip()):
            section, current = previous.strip(), None  # a numpydoc section starts
        elif section == "Parameters" and (header := re.match(r"(\w+) :", line)):
            current = header.group(1)
        elif current and line.strip().startswith(".. deprecated::"):
            deprecated.add(current)
        previous = line
    return deprecated


def fixed_params(cls: type, params: dict[str, Any], searched: set[str], *, seed: int, n_jobs: int) -> dict:
    """The fixed parameters of every trial: the user's, plus a seed and matched threads.

    ``random_state`` follows the experiment seed and ``n_jobs`` the trial's CPUs, where the
    class takes them, they have an effect (not `deprecated_params`) and the user neither
    sets nor searches them.
    """
    defaults = default_params(cls)
    filled = {"random_state": seed, "n_jobs": n_jobs}
    skipped = {*params, *searched, *deprecated_params(cls)}
    extra = {k: v for k, v in filled.items() if k in defaults and k not in skipped}
    return {**extra, **params}
