"""Builders for the unit tests of the modules that decide results (``tests/test_units_*.py``):
estimators that log their calls or refuse values, a tiny split, trials, runner results, a
cluster, experiments and plans. Importable by path (``tests.units.Grower``) in experiments.
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from tests.conftest import experiment_dict
from tuning.config import validate
from tuning.trial.data import Split
from tuning.trial.records import RunnerResult, TrialResult

GROWER = "tests.units.Grower"


class Grower(RegressorMixin, BaseEstimator):
    """Predicts the training mean plus marks of its size and its fits; logs every call.

    ``fits_`` counts the fits of one model under ``warm_start`` (1 for a fresh model), so a
    model that is rebuilt instead of grown predicts differently; ``log`` records
    ``("fit", size, n_jobs, fits)`` and ``("predict", size, n_jobs)`` in call order.
    """

    log: ClassVar[list[tuple]] = []

    def __init__(self, n_estimators: int = 1, warm_start: bool = False, n_jobs=None, sleep: float = 0.0):
        self.n_estimators = n_estimators
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.sleep = sleep

    def fit(self, X, y):
        grown = self.warm_start and hasattr(self, "mean_")
        self.fits_ = self.fits_ + 1 if grown else 1
        Grower.log.append(("fit", self.n_estimators, self.n_jobs, self.fits_))
        time.sleep(self.sleep)
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        Grower.log.append(("predict", self.n_estimators, self.n_jobs))
        return np.full(len(X), self.mean_ + 0.01 * self.n_estimators + 0.001 * self.fits_)


def tiny_split(rows: int = 200, seed: int = 0) -> Split:
    """``rows`` rows of three numeric features, 3/4 for training."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=rows)
    cut = rows * 3 // 4
    return Split(X[:cut], X[cut:], y[:cut], y[cut:], ("a", "b", "c"), "y")


def result_of(runner: str, *trials: TrialResult, wall: float = 1.0, cores: float = 1.0) -> RunnerResult:
    return RunnerResult(runner, list(trials), wall, cores)


def ok(n: int, mse: float, **metrics) -> TrialResult:
    return TrialResult(f"t{n}", {"n": n}, {"mse": mse, **metrics})


def experiment(tmp_path, **changes):
    return validate(experiment_dict(tmp_path, **changes))


ASHA = {"scheduler": "asha", "budget": {"max": 8, "step": 2}, "grace_period": 2, "reduction_factor": 2}


def budgeted(n: int, reached: int | None, error: str | None = None, started: float | None = None):
    metrics = {"mse": float(n)} if error is None else {}
    if reached is not None and error is None:
        metrics.update(budget=reached, step=reached // 2)
    if started is not None:
        metrics["started_at"] = started
    return TrialResult(f"t{n}", {"max_depth": n}, metrics, error)


def cluster(cpus: tuple[float, ...] = (4.0,), gpus: tuple[float, ...] | None = None, here: bool = True):
    from tuning.planning.cluster import Cluster

    gpus = gpus or tuple(0.0 for _ in cpus)
    return Cluster("local", len(cpus), sum(cpus), sum(gpus), cpus, gpus, started_here=here)


def progress_of(total: int, lines: list[str] | None = None):
    from tuning.runners.progress import Progress

    sink = lines if lines is not None else []
    return Progress("sequential", total, "mse", "min", sink.append, live=False)


def grower_plan(tmp_path, runner: str, sizes=(1, 2), **changes):
    from tuning.planning.plan import make_plan

    raw = {"estimator": {"class": GROWER, "params": {}}, "space": {"n_estimators": list(sizes)}, **changes}
    return make_plan(experiment(tmp_path, **raw), runner, cluster((4.0,)))


def session_of(tmp_path, plan, lines=None, **kwargs):
    from tuning.runners.session import Session

    echo = (lines if lines is not None else []).append
    return Session(plan, tiny_split(), tmp_path, echo, **kwargs)


class FakeTrackers:
    """What `Session` asks of `tuning.runners.tracking.Trackers`, recorded."""

    def __init__(self):
        self.logged: list[tuple[int, str]] = []

    def __bool__(self) -> bool:
        return True

    def log_sequential(self, index: int, trial: TrialResult) -> None:
        self.logged.append((index, trial.name))

    def spent_s(self, runner: str) -> float:
        return 0.25  # each runner's logging: taken off its trial phase

    def tune_callbacks(self, shared: bool = False) -> list:
        return ["shared callback" if shared else "callback"]


class Picky(RegressorMixin, BaseEstimator):
    """No scikit-learn constraints: refuses a negative ``depth`` when built, as some estimators do."""

    def __init__(self, depth: int = 1, quiet: bool = False):
        if depth < 0:
            raise ValueError("" if quiet else "depth must be positive\nand more")
        self.depth, self.quiet = depth, quiet

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.zeros(len(X))


class Named(Picky):
    """Names the parameter the way scikit-learn's messages do."""

    def __init__(self, depth: int = 1, quiet: bool = False):
        if depth < 0:
            raise TypeError(f"The 'depth' parameter of Named is {depth}")
        self.depth, self.quiet = depth, quiet


class Voter(ClassifierMixin, BaseEstimator):
    """A classifier with ``predict`` only: no scores for a metric that needs probabilities."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])
