"""The one trial function both runners call: build, fit, predict, score."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from tuning.config import Experiment
from tuning.data import Split
from tuning.estimator import fixed_params, resolve_estimator, task_of
from tuning.metrics import DEFAULT_METRICS, scorer
from tuning.validation import REPEAT_CHUNK, aggregate, folds

Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrialSpec:
    """What every trial shares: the estimator and its fixed parameters (small, picklable).

    ``budget`` is ``(param, steps)``: the estimator grows (``warm_start``) through ``steps``
    values of ``param`` and is scored after each. ``cv``, ``repeats``, ``test_size`` and
    ``seed`` choose the splits (`tuning.validation`); ``chunk`` is how many of a
    configuration's repeats one trial runs (None: all; set by `tuning.plan.group_repeats`).
    ``metrics`` are the names of `tuning.metrics` each trial records; ``classifier``: the
    estimator is one.
    """

    estimator: str
    params: dict[str, Any]
    budget: tuple[str, tuple[int, ...]] | None = None
    cv: int | None = None
    seed: int = 0
    repeats: int | None = None
    test_size: float = 0.2
    chunk: int | None = None
    metrics: tuple[str, ...] = DEFAULT_METRICS["regressor"]
    classifier: bool = False

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> TrialSpec:
        estimator = resolve_estimator(experiment.estimator.class_path)
        n_jobs = max(1, math.floor(experiment.resources.num_cpus))  # threads match the CPUs reserved
        params = fixed_params(
            estimator,
            experiment.estimator.params,
            set(experiment.space),
            seed=experiment.seed,
            n_jobs=n_jobs,
        )
        budget = experiment.search.budget
        if budget is not None:
            params["warm_start"] = True  # each step adds to the fitted estimator
        return cls(
            experiment.estimator.class_path,
            params,
            budget=(budget.param, budget.steps) if budget else None,
            cv=experiment.split.cv,
            seed=experiment.split.seed,
            repeats=experiment.split.repeats,
            test_size=experiment.split.test_size,
            metrics=tuple(experiment.metrics or (experiment.metric,)),
            classifier=task_of(estimator) == "classifier",
        )


def preprocessor(split: Split):
    """Impute missing values and one-hot encode the categorical columns (raw rows in)."""

    numeric = [c for c in split.features if c not in split.categorical]
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    return ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), numeric),
            ("categorical", categorical, list(split.categorical)),
        ],
        verbose_feature_names_out=False,
    )


def build_estimator(config: dict[str, Any], split: Split, spec: TrialSpec):
    """The estimator of one configuration, behind the preprocessing pipeline if the data need it."""
    estimator = resolve_estimator(spec.estimator)(**{**spec.params, **config})
    if not split.raw:
        return estimator
    return Pipeline([("preprocess", preprocessor(split)), ("estimator", estimator)])


def final_estimator(model):
    """The estimator itself (the last step of a pipeline)."""
    return model.steps[-1][1] if hasattr(model, "steps") else model


def set_budget(model, param: str, value: int) -> None:
    """Set the budget parameter on the estimator (the last step of a pipeline)."""
    final_estimator(model).set_params(**{param: value})


def run_trial(
    config: dict[str, Any], split: Split, spec: TrialSpec, report: Report | None = None
) -> dict[str, Any]:
    """Fit one configuration on the training rows and score it on the test rows, or on each
    split of `tuning.validation` (k-fold CV, repeats; ``config[REPEAT_CHUNK]``: one chunk of them).

    With a budget the estimator grows step by step and ``report`` gets the metrics after
    each step (Tune passes ``tune.report``: a scheduler may stop the trial there). Without
    one there is one step, reported once. Returns the last step's metrics.
    """
    started = time.time()
    config = dict(config)
    chunk = config.pop(REPEAT_CHUNK, None)
    threads = final_estimator(build_estimator(config, split, spec)).get_params(deep=False).get("n_jobs")
    scores_of = scorer(spec.metrics)  # each of the model's methods called once for every metric
    param, steps = spec.budget or (None, (None,))
    grown: dict[int, Any] = {}  # under a budget, each split's model grows step by step (warm_start)
    fit_time = 0.0
    result: dict[str, Any] = {}
    for step, amount in enumerate(steps, start=1):
        scores = []
        for index, (X_fit, y_fit, X_score, y_score) in enumerate(folds(split, spec, chunk)):
            model = grown.get(index) or build_estimator(config, split, spec)
            if param is not None:
                grown[index] = model
                set_budget(model, param, amount)
            if threads not in (None, 1):
                final_estimator(model).set_params(n_jobs=threads)
            fit_start = time.perf_counter()
            model.fit(X_fit, y_fit)
            fit_time += time.perf_counter() - fit_start
            if threads not in (None, 1):
                # a forest's threads add the trees' predictions in whatever order they finish,
                # which changes the last bits: predict with one thread so every run scores alike
                final_estimator(model).set_params(n_jobs=1)
            scores.append(scores_of(model, X_score, y_score))
        result = {
            **aggregate(scores, keep=spec.repeats is not None),
            "fit_time_s": fit_time,
            "started_at": started,
            "ended_at": time.time(),
            "pid": os.getpid(),
        }
        if param is not None:
            result.update(budget=amount, step=step)
        if report is not None:
            report(result)
    return result
