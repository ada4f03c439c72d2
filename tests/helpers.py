"""Estimators for tests: importable by Ray workers as ``tests.helpers.<name>``."""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class SleepyRegressor(RegressorMixin, BaseEstimator):
    """Predicts the training mean after sleeping ``sleep`` seconds in `fit`: a slow trial."""

    def __init__(self, n_estimators: int = 1, sleep: float = 0.0, fail: bool = False):
        self.n_estimators = n_estimators
        self.sleep = sleep
        self.fail = fail

    def fit(self, X, y):
        if self.fail:
            raise ValueError("this configuration fails at fit time")
        time.sleep(self.sleep)
        self.mean_ = float(np.mean(y)) + 0.001 * self.n_estimators
        return self

    def predict(self, X):
        return np.full(len(X), self.mean_)


def not_a_class():
    """A callable that is not an estimator: import paths must not reach it."""
    raise AssertionError("called")


class MarkedRegressor(SleepyRegressor):
    """A `SleepyRegressor` that leaves marks in the folder ``marks``, for fault tests.

    `fit` appends ``start <n_estimators> <pid>`` to ``fits.log`` and writes its pid to
    ``<n_estimators>.pid`` before sleeping, then appends ``end <n_estimators> <pid>``: a test
    can find the process running a configuration, kill it, and count the fits.
    """

    def __init__(self, n_estimators: int = 1, sleep: float = 0.0, fail: bool = False, marks: str = ""):
        super().__init__(n_estimators=n_estimators, sleep=sleep, fail=fail)
        self.marks = marks

    def fit(self, X, y):
        import os
        from pathlib import Path

        marks = Path(self.marks)
        with open(marks / "fits.log", "a") as log:
            log.write(f"start {self.n_estimators} {os.getpid()}\n")
        (marks / f"{self.n_estimators}.pid").write_text(str(os.getpid()))
        super().fit(X, y)
        with open(marks / "fits.log", "a") as log:
            log.write(f"end {self.n_estimators} {os.getpid()}\n")
        return self
