"""The metrics a trial is scored by: one home for their names, directions, tasks and scoring.

Two kinds of names. The short ones, ``mse``, ``rmse``, ``mae`` and ``r2`` (the tutorial's),
computed from the predictions with scikit-learn's metric functions. And every scorer name
scikit-learn knows (`sklearn.metrics.get_scorer_names`: accuracy, f1_macro, roc_auc,
neg_log_loss, neg_root_mean_squared_error...), scored by scikit-learn's own scorers, which
call ``predict``, ``predict_proba`` or ``decision_function`` as they need; like every
scikit-learn scorer they are greater-is-better. Each name is for classifiers or for
regressors. The config checks, the trial, the reports and the refit all ask here.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import (
    check_scoring,
    classification_report,
    confusion_matrix,
    get_scorer,
    get_scorer_names,
    make_scorer,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)

Mode = Literal["min", "max"]
Task = Literal["classifier", "regressor"]


def _rmse(y_true, y_pred) -> float:
    return math.sqrt(mean_squared_error(y_true, y_pred))


@dataclass(frozen=True)
class Metric:
    """A metric's name, direction (``min``: lower is better), task and scorer.

    ``scorer(estimator, X, y)`` gives the value; ``needs`` are the estimator's methods the
    scorer calls, any one of which will do.
    """

    name: str
    mode: Mode
    task: Task
    scorer: Callable[..., float]
    needs: tuple[str, ...] = ("predict",)


def _short(name: str, func: Callable, mode: Mode) -> Metric:
    """A short name: ``func(y_true, model.predict(X))`` as it is (the scorer's sign stays +1)."""
    return Metric(name, mode, "regressor", make_scorer(func))


def _scikit_learn(name: str) -> Metric:
    """A scikit-learn scorer name: greater is better; a regression metric's scorer is for regressors."""
    scorer = get_scorer(name)
    func = getattr(scorer, "_score_func", None)  # the metric function behind the scorer
    task = "regressor" if getattr(func, "__module__", "") == "sklearn.metrics._regression" else "classifier"
    needs = getattr(scorer, "_response_method", "predict")
    return Metric(name, "max", task, scorer, (needs,) if isinstance(needs, str) else tuple(needs))


SHORT_NAMES = ("mse", "rmse", "mae", "r2")
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _short("mse", mean_squared_error, "min"),
        _short("rmse", _rmse, "min"),
        _short("mae", mean_absolute_error, "min"),
        _short("r2", r2_score, "max"),
    )
}
METRICS.update({name: _scikit_learn(name) for name in get_scorer_names() if name not in METRICS})
NAMES: tuple[str, ...] = tuple(METRICS)
# what a trial records when the experiment's ``metrics`` leaves it out (the ranking metric first)
DEFAULT_METRICS: dict[Task, tuple[str, ...]] = {"regressor": SHORT_NAMES, "classifier": ("accuracy",)}
DEFAULT_METRIC: dict[Task, str] = {"regressor": "mse", "classifier": "accuracy"}
KINDS: dict[Task, str] = {"regressor": "regression", "classifier": "classification"}
EXAMPLES: dict[Task, tuple[str, ...]] = {  # what an error message offers
    "regressor": (*SHORT_NAMES, "neg_mean_absolute_percentage_error"),
    "classifier": ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "neg_log_loss"),
}


def unknown(name: Any) -> str | None:
    """Why ``name`` is not a metric name (with the closest ones), or None if it is one."""
    if isinstance(name, str) and name in METRICS:
        return None
    close = difflib.get_close_matches(str(name), NAMES, n=3, cutoff=0.6)
    hint = f"; closest: {', '.join(close)}" if close else ""
    return (
        f"must be {', '.join(SHORT_NAMES)} or a scikit-learn scorer name "
        f"(sklearn.metrics.get_scorer_names(): accuracy, f1_macro, roc_auc, neg_log_loss, ...); "
        f"got {name!r}{hint}"
    )


def mode_of(name: str) -> Mode:
    """The direction in which ``name`` improves."""
    return METRICS[name].mode


def task_of(name: str) -> Task:
    """Whether ``name`` scores classifiers or regressors."""
    return METRICS[name].task


def recorded(metric: str, metrics: Sequence[str] | None, task: Task) -> tuple[str, ...]:
    """The metrics a trial records: ``metrics`` with the ranking ``metric`` in it (first if
    it was not), or the task's defaults with it."""
    listed = tuple(metrics) if metrics else DEFAULT_METRICS[task]
    return tuple(dict.fromkeys(listed if metric in listed else (metric, *listed)))


def better(a: float, b: float, mode: str) -> bool:
    """Whether score ``a`` beats score ``b`` in direction ``mode``."""
    return a < b if mode == "min" else a > b


def sort_sign(mode: str) -> int:
    """1 where lower is better, -1 where higher is: sorting by ``sort_sign(mode) * score`` puts
    the best first."""
    return 1 if mode == "min" else -1


def best_of(mode: str) -> Callable[..., Any]:
    """`min` or `max`: the builtin that picks the best score in direction ``mode``."""
    return min if mode == "min" else max


@dataclass
class BestScore:
    """The best ``metric`` of the results offered so far, in direction ``mode`` (the experiment's)."""

    metric: str
    mode: Mode
    score: float | None = None

    def improves(self, result: dict[str, Any]) -> bool:
        """Whether ``result`` beats every earlier one (then it is the best); a NaN or no score never does."""
        score = result.get(self.metric)
        if score is None or math.isnan(score):
            return False
        if self.score is not None and not better(score, self.score, self.mode):
            return False
        self.score = score
        return True


def is_metric_key(key: str) -> bool:
    """A result key that is a metric or its spread over folds (``mse``, ``mse_std``)."""
    return key.removesuffix("_std") in METRICS


def scorer(names: Iterable[str], own: dict[str, Any] | None = None) -> Callable[..., dict[str, float]]:
    """One scorer of ``names``, ``scorer(model, X, y) -> {name: value}``: scikit-learn's
    multi-metric scorer, which calls each of the model's methods once for all of them.
    ``own``: scorer callables by name (a `tuning.searchcv.SearchCV`'s ``scoring``), used first."""
    scorers = {**{name: METRICS[name].scorer for name in names if name not in (own or {})}, **(own or {})}
    multi = check_scoring(scoring={name: scorers[name] for name in names})

    def score(model, X, y) -> dict[str, float]:
        return {name: float(value) for name, value in multi(model, X, y).items()}

    return score


def unscorable(names: Sequence[str], task: Task, y_train, y_test) -> tuple[str, str] | None:
    """The first metric of ``names`` that cannot score these targets, and scikit-learn's reason.

    A baseline that predicts the training rows' class frequencies (or mean) is scored on the
    test rows: a binary-only scorer on three classes, ``f1`` with string labels and no
    ``pos_label``, a log error on negative targets fail here, before any trial runs.
    """
    baseline = DummyClassifier(strategy="prior") if task == "classifier" else DummyRegressor()
    baseline.fit(np.zeros((len(y_train), 1)), y_train)
    X = np.zeros((len(y_test), 1))
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a constant baseline leaves some scores undefined
                METRICS[name].scorer(baseline, X, y_test)
        except ValueError as exc:
            return name, (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return None


def class_report(y_true, y_pred, classes) -> dict[str, Any]:
    """A classifier's confusion matrix (rows: true class, columns: predicted) and per-class
    scores, from scikit-learn's own functions, as plain JSON values."""
    labels = np.asarray(classes)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    names = [str(label) for label in labels.tolist()]
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=names, output_dict=True, zero_division=0
    )
    per_class = {name: {key: float(value) for key, value in report[name].items()} for name in names}
    averages = {key: {k: float(v) for k, v in report[key].items()} for key in ("macro avg", "weighted avg")}
    return {
        "classes": labels.tolist(),
        "confusion_matrix": matrix.tolist(),
        "per_class": per_class,
        "averages": averages,
    }


_BOUNDS: dict[str, tuple[float, float]] = {"mse": (0, math.inf), "rmse": (0, math.inf), "mae": (0, math.inf)}
_BOUNDS["r2"] = (-math.inf, 1)


def bounds(name: str) -> tuple[float, float]:
    """The values ``name`` can take: errors are at least 0, r2 at most 1."""
    return _BOUNDS.get(name, (-math.inf, math.inf))
