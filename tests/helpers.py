"""Estimators for tests: importable by Ray workers as ``tests.helpers.<name>``."""

from __future__ import annotations

import time
from collections import Counter
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.tree import DecisionTreeClassifier


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


class RetimedRegressor(MarkedRegressor):
    """A `MarkedRegressor` that sleeps the seconds written in ``<marks>/sleep`` when that file
    exists: a test makes the machine slower between a run and its resume."""

    def fit(self, X, y):
        from pathlib import Path

        override = Path(self.marks) / "sleep"
        if override.exists():
            self.sleep = float(override.read_text())
        return super().fit(X, y)


class RendezvousRegressor(SleepyRegressor):
    """A `SleepyRegressor` whose `fit` waits until ``parties`` fits have started.

    Each fit leaves ``<marks>/<n_estimators>.started``; the first ``parties`` fits wait for
    each other (up to ``timeout`` seconds, then fail), later ones pass at once. Trials that
    can only run one per node therefore prove, without timing luck, that they ran at once.
    """

    def __init__(
        self,
        n_estimators: int = 1,
        sleep: float = 0.0,
        fail: bool = False,
        marks: str = "",
        parties: int = 2,
        timeout: float = 120.0,
    ):
        super().__init__(n_estimators=n_estimators, sleep=sleep, fail=fail)
        self.marks, self.parties, self.timeout = marks, parties, timeout

    def fit(self, X, y):
        from pathlib import Path

        marks = Path(self.marks)
        (marks / f"{self.n_estimators}.started").touch()
        deadline = time.monotonic() + self.timeout
        while (started := len(list(marks.glob("*.started")))) < self.parties:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {started} of {self.parties} fits started in {self.timeout} s")
            time.sleep(0.05)
        return super().fit(X, y)


class WorkerShiftedRegressor(SleepyRegressor):
    """A `SleepyRegressor` whose predictions move by ``shift`` inside a Ray worker process.

    Run by Tune it scores differently than run by the sequential baseline in the driver:
    the two runners disagree, as they would if a trial depended on where it ran.
    """

    def __init__(self, n_estimators: int = 1, sleep: float = 0.0, fail: bool = False, shift: float = 1e-6):
        super().__init__(n_estimators=n_estimators, sleep=sleep, fail=fail)
        self.shift = shift

    def predict(self, X):
        import ray

        in_worker = ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE
        return super().predict(X) + (self.shift if in_worker else 0.0)


class MarkedForest(RandomForestRegressor):
    """A random forest (a family: its fits can be shared) whose `fit` sleeps ``sleep`` seconds and
    appends ``start <n_estimators> <pid>`` and ``end <n_estimators> <pid>`` to ``<marks>/fits.log``
    (as `MarkedRegressor`): a test counts the fits a resume runs again."""

    def __init__(
        self,
        n_estimators: int = 100,
        *,
        max_depth: int | None = None,
        random_state: int | None = None,
        n_jobs: int | None = None,
        sleep: float = 0.0,
        marks: str = "",
    ):
        super().__init__(
            n_estimators=n_estimators, max_depth=max_depth, random_state=random_state, n_jobs=n_jobs
        )
        self.sleep, self.marks = sleep, marks

    def fit(self, X, y, sample_weight=None):
        import os
        from pathlib import Path

        with open(Path(self.marks) / "fits.log", "a") as log:
            log.write(f"start {self.n_estimators} {os.getpid()}\n")
        time.sleep(self.sleep)
        super().fit(X, y, sample_weight=sample_weight)
        with open(Path(self.marks) / "fits.log", "a") as log:
            log.write(f"end {self.n_estimators} {os.getpid()}\n")
        return self


class CountingTree(DecisionTreeClassifier):
    """A decision tree that counts its calls of ``predict`` and ``predict_proba`` (in ``calls``)."""

    calls: ClassVar[Counter] = Counter()

    def predict(self, X, check_input=True):
        CountingTree.calls["predict"] += 1
        return super().predict(X, check_input)

    def predict_proba(self, X, check_input=True):
        CountingTree.calls["predict_proba"] += 1
        return super().predict_proba(X, check_input)


class GreedyRegressor(MarkedRegressor):
    """A `MarkedRegressor` whose configuration ``n_estimators == greedy`` allocates ``mb``
    megabytes in `fit`, 100 MB at a time, before sleeping: a trial for the memory monitor to
    kill (`tests.test_faults`). The others only leave their marks."""

    def __init__(
        self,
        n_estimators: int = 1,
        sleep: float = 0.0,
        fail: bool = False,
        marks: str = "",
        greedy: int = 0,
        mb: int = 0,
    ):
        super().__init__(n_estimators=n_estimators, sleep=sleep, fail=fail, marks=marks)
        self.greedy, self.mb = greedy, mb

    def fit(self, X, y):
        held = []
        if self.n_estimators == self.greedy:
            for _ in range(self.mb // 100):
                held.append(np.ones(100 * 2**20 // 8))  # written: resident, not only reserved
                time.sleep(0.05)
        super().fit(X, y)
        del held
        return self


class RelayRegressor(MarkedRegressor):
    """A `MarkedRegressor` for the killed-worker tests (`tests.test_faults.kill_a_worker`).

    Until the test writes ``marks/killed``, a fit is a `MarkedRegressor`'s. After it, each fit
    appends its pid to ``marks/after.log`` and sleeps ``sleep`` while fewer than two processes
    are named there: trials shorter than a worker's start, as a run's usually are. Once two are,
    the first two fits to see it wait for each other (up to ``timeout`` seconds, then fail)
    and every fit from then on is quick: two trials ran at once after the kill, whatever the
    machine's load, or the run has an errored trial.
    """

    def __init__(
        self,
        n_estimators: int = 1,
        sleep: float = 0.0,
        fail: bool = False,
        marks: str = "",
        timeout: float = 120.0,
    ):
        super().__init__(n_estimators=n_estimators, sleep=sleep, fail=fail, marks=marks)
        self.timeout = timeout

    def fit(self, X, y):
        import os
        from pathlib import Path

        marks = Path(self.marks)
        if not (marks / "killed").exists():
            return super().fit(X, y)
        with open(marks / "after.log", "a") as log:
            log.write(f"{os.getpid()}\n")
        if len(set((marks / "after.log").read_text().split())) < 2:
            return super().fit(X, y)
        (marks / f"{self.n_estimators}.pair").touch()
        deadline = time.monotonic() + self.timeout
        while len(list(marks.glob("*.pair"))) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no second trial started in {self.timeout} s")
            time.sleep(0.05)
        self.sleep = 0.0  # the pair met: the rest of the run is quick
        return super().fit(X, y)
