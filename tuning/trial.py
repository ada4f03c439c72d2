"""The one trial function both runners call: build, fit, predict, score."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from tuning.config import SPLIT_SEED, Experiment
from tuning.data import Split
from tuning.estimator import fixed_params, resolve_estimator, task_of
from tuning.metrics import DEFAULT_METRICS, scorer

Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrialSpec:
    """What every trial shares: the estimator and its fixed parameters (small, picklable).

    ``budget`` is ``(param, steps)``: the estimator grows (``warm_start``) through ``steps``
    values of ``param`` and is scored after each. ``cv`` is a number of folds of the
    training rows that replace the test rows for scoring. ``metrics`` are the names of
    `tuning.metrics` each trial records; ``classifier``: the estimator is one.
    """

    estimator: str
    params: dict[str, Any]
    budget: tuple[str, tuple[int, ...]] | None = None
    cv: int | None = None
    seed: int = 0
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


def _folds(split: Split, spec: TrialSpec) -> list[tuple[Any, Any, Any, Any]]:
    """``(X_fit, y_fit, X_score, y_score)``: the train/test split, or k folds of the training rows."""
    if not spec.cv:
        return [(split.X_train, split.y_train, split.X_test, split.y_test)]

    def rows(X, index):
        return X.iloc[index] if hasattr(X, "iloc") else X[index]

    folds = StratifiedKFold if split.stratified else KFold  # a classifier's folds keep each class's share
    kfold = folds(n_splits=spec.cv, shuffle=True, random_state=spec.seed)
    return [
        (rows(split.X_train, fit), split.y_train[fit], rows(split.X_train, held), split.y_train[held])
        for fit, held in kfold.split(split.X_train, split.y_train)
    ]


def _aggregate(scores: list[dict[str, float]]) -> dict[str, float]:
    """One fold: its metrics. Several: the mean of each metric and its std (``mse_std``)."""
    if len(scores) == 1:
        return scores[0]
    out: dict[str, float] = {}
    for key in scores[0]:
        values = np.array([s[key] for s in scores])
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std())
    return out


def run_trial(
    config: dict[str, Any], split: Split, spec: TrialSpec, report: Report | None = None
) -> dict[str, Any]:
    """Fit one configuration on the training rows and score it on the test rows (or by k-fold CV).

    With a budget the estimator grows step by step and ``report`` gets the metrics after
    each step (Tune passes ``tune.report``: a scheduler may stop the trial there). Without
    one there is one step, reported once. Returns the last step's metrics.
    """
    started = time.time()
    if SPLIT_SEED in config:  # Monte Carlo cross-validation: this trial's own split
        config = dict(config)
        split = resplit(split, config.pop(SPLIT_SEED))
    folds = _folds(split, spec)
    models = [build_estimator(config, split, spec) for _ in folds]
    scores_of = scorer(spec.metrics)  # each of the model's methods called once for every metric
    threads = final_estimator(models[0]).get_params(deep=False).get("n_jobs")
    param, steps = spec.budget or (None, (None,))
    fit_time = 0.0
    result: dict[str, Any] = {}
    for step, amount in enumerate(steps, start=1):
        scores = []
        for model, (X_fit, y_fit, X_score, y_score) in zip(models, folds, strict=True):
            if param is not None:
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
            **_aggregate(scores),
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


def resplit(split: Split, seed: int) -> Split:
    """A fresh split of all the rows (train then test), as large as ``split``'s, shuffled with ``seed``."""
    raw = hasattr(split.X_train, "iloc")  # DataFrames: the rows go through the preprocessing pipeline
    X = (
        pd.concat([split.X_train, split.X_test], ignore_index=True)
        if raw
        else np.concatenate([split.X_train, split.X_test])
    )
    y = np.concatenate([split.y_train, split.y_test])
    X_train, X_test, y_train, y_test = train_test_split(
        X,
        y,
        test_size=len(split.y_test),
        random_state=seed,
        shuffle=True,
        stratify=y if split.stratified else None,
    )
    return replace(split, X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)
