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


def import_path(cls: type) -> str:
    """The shortest import path of ``cls``: ``sklearn.ensemble.RandomForestClassifier``, not its
    private module's (``sklearn.ensemble._forest``); `ValueError` if it has none (``__main__``)."""
    module, name = cls.__module__, cls.__qualname__
    if module == "__main__" or "." in name or "<locals>" in name:
        raise ValueError(
            f"must be a class importable by Ray's workers; {name} is defined in {module} "
            "(a notebook or script): move it to a module"
        )
    parts = module.split(".")
    public = next((i for i, part in enumerate(parts) if part.startswith("_")), len(parts))
    for end in range(max(public, 1), len(parts) + 1):
        try:
            if getattr(importlib.import_module(".".join(parts[:end])), name, None) is cls:
                return f"{'.'.join(parts[:end])}.{name}"
        except ImportError:
            continue
    return f"{module}.{name}"


def estimator_section(estimator: Any) -> dict[str, Any]:
    """The experiment's ``estimator`` section of an estimator OBJECT (or class): its class's import
    path and the parameters it sets away from their defaults (``get_params(deep=False)``); a
    `Pipeline`'s steps likewise. `ValueError` says why an object cannot be written as one."""
    from sklearn.pipeline import Pipeline  # here: scikit-learn's pipeline module only for objects

    if inspect.isclass(estimator):
        return {"class": import_path(estimator)}
    if isinstance(estimator, Pipeline):
        if changed_params(estimator, skip=("steps",)):
            raise ValueError("must be a Pipeline with only steps set (no memory, verbose or transform_input)")
        steps = [{"name": name, **estimator_section(step)} for name, step in estimator.steps]
        return {"steps": steps}
    if not callable(getattr(estimator, "get_params", None)):
        raise ValueError(f"must be an estimator (with get_params) or an import path; got {estimator!r}")
    section: dict[str, Any] = {"class": import_path(type(estimator))}
    params = changed_params(estimator)
    return {**section, "params": params} if params else section


def changed_params(estimator: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The parameters ``estimator`` sets away from its class's defaults, as plain values."""
    defaults = inspect.signature(type(estimator).__init__).parameters
    changed = {}
    for name, value in estimator.get_params(deep=False).items():
        default = defaults[name].default if name in defaults else inspect.Parameter.empty
        if name in skip or repr(value) == repr(default):
            continue
        changed[name] = _plain(name, value)
    return changed


def _plain(name: str, value: Any) -> Any:
    """``value`` as a plain YAML value (numpy numbers as Python's, tuples as lists), or `ValueError`."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a numpy number
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(name, v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(f"{name}.{k}", v) for k, v in value.items()}
    raise ValueError(
        f"must have plain parameter values (numbers, strings, booleans, None, lists) to be written "
        f"to experiment.yaml; got {name}={value!r} (use tuning.SearchCV for object-valued parameters)"
    )
