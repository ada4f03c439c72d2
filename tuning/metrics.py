"""The metrics a trial is scored by: one home for their names, directions and computation.

Every metric comes from scikit-learn's own implementation. The config checks (a valid
``metric``, the default ``mode``), the trial, the reports and the refit all ask here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

Mode = Literal["min", "max"]


@dataclass(frozen=True)
class Metric:
    """A metric's name and direction (``min``: lower is better)."""

    name: str
    mode: Mode


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (Metric("mse", "min"), Metric("rmse", "min"), Metric("mae", "min"), Metric("r2", "max"))
}
NAMES: tuple[str, ...] = tuple(METRICS)


def mode_of(name: str) -> Mode:
    """The direction in which ``name`` improves."""
    return METRICS[name].mode


def better(a: float, b: float, mode: str) -> bool:
    """Whether score ``a`` beats score ``b`` in direction ``mode``."""
    return a < b if mode == "min" else a > b


def is_metric_key(key: str) -> bool:
    """A result key that is a metric or its spread over folds (``mse``, ``mse_std``)."""
    return key.removesuffix("_std") in METRICS


def score(y_true, y_pred) -> dict[str, float]:
    """Every metric, from scikit-learn's own implementations."""
    mse = float(mean_squared_error(y_true, y_pred))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }


_BOUNDS: dict[str, tuple[float, float]] = {"mse": (0, math.inf), "rmse": (0, math.inf), "mae": (0, math.inf)}
_BOUNDS["r2"] = (-math.inf, 1)


def bounds(name: str) -> tuple[float, float]:
    """The values ``name`` can take: errors are at least 0, r2 at most 1."""
    return _BOUNDS.get(name, (-math.inf, math.inf))
