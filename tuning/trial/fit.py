"""The one trial function both runners call: build, fit, predict, score."""

from __future__ import annotations

import math
import os
import pickle
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from joblib import parallel_config
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder
from threadpoolctl import threadpool_limits

from tuning.config import Experiment
from tuning.estimators.classes import resolve_estimator, task_of
from tuning.estimators.models import (
    ESTIMATOR_STEP,
    PREPROCESS,
    Model,
    Prototype,
    Step,
    branch_config,
    model_of,
    with_final,
    without_final,
)
from tuning.metrics import DEFAULT_METRICS, scorer
from tuning.trial.data import Split
from tuning.trial.validation import REPEAT_CHUNK, aggregate, folds

Report = Callable[[dict[str, Any]], None]
MODEL_KEY = "model"  # a result's description of what the trial built: its class, or its steps


@dataclass(frozen=True)
class TrialSpec:
    """What every trial shares: the estimator and its fixed parameters (small, picklable).

    ``budget`` is ``(param, steps)``: the estimator grows (``warm_start``) through ``steps``
    values of ``param`` and is scored after each. ``cv``, ``repeats``, ``test_size``,
    ``validation_size`` and ``seed`` choose the splits (`tuning.trial.validation`); ``chunk`` is how many of a
    configuration's repeats one trial runs (None: all; set by `tuning.planning.plan.group_repeats`).
    ``metrics`` are the names of `tuning.metrics` each trial records; ``classifier``: the
    estimator is one. ``threads`` are the trial's CPUs: the size of every thread pool it uses
    (`trial_threads`), wherever it runs.

    ``estimator`` and ``params`` are the model's class and fixed parameters; ``pipeline``
    holds a pipeline's steps (its last one that model), ``choice`` a choice's branches
    (``estimator`` then empty): `model_for` says which a configuration builds.

    ``prototype`` (`tuning.searchcv.SearchCV`): an estimator object whose candidates the
    configurations number (``estimator`` then empty); ``splits``: the caller's folds, ``(train,
    test)`` indices into the training rows, scored instead of ``cv``'s (each split's score and
    times recorded); ``scorers``: scorer callables by metric name, beside `tuning.metrics`'.
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
    pipeline: tuple[Step, ...] = ()
    choice: dict[str, Model] | None = None
    validation_size: float | None = None
    threads: int = 1
    prototype: Prototype | None = None
    splits: tuple[tuple[Any, Any], ...] | None = None
    scorers: dict[str, Any] | None = None

    @classmethod
    def from_experiment(cls, experiment: Experiment) -> TrialSpec:
        n_jobs = max(1, math.floor(experiment.resources.num_cpus))  # threads match the CPUs reserved
        budget = experiment.search.budget
        models = {}
        for name, config in experiment.models().items():
            space = experiment.spaces()[name]
            model = model_of(config, set(space), seed=experiment.seed, n_jobs=n_jobs)
            # under a budget each step adds to the fitted estimator
            models[name] = with_final(model, warm_start=True) if budget is not None else model
        model = next(iter(models.values()))
        choice = models if experiment.estimator.choice is not None else None
        return cls(
            "" if choice else model.final.path,
            {} if choice else model.final.params,
            pipeline=model.steps if model.pipeline and not choice else (),
            choice=choice,
            budget=(budget.param, budget.steps) if budget else None,
            cv=experiment.split.cv,
            seed=experiment.split.seed,
            repeats=experiment.split.repeats,
            test_size=experiment.split.test_size,
            validation_size=experiment.split.validation_size,
            metrics=tuple(experiment.metrics or (experiment.metric,)),
            classifier=task_of(resolve_estimator(model.final.path)) == "classifier",
            threads=n_jobs,
        )

    @property
    def model(self) -> Model:
        """The estimator of a trial that is not a choice's: a class, or a pipeline's steps."""
        if self.pipeline:
            final = Step(self.pipeline[-1].name, self.estimator, self.params)
            return Model((*self.pipeline[:-1], final), pipeline=True)
        return Model((Step(ESTIMATOR_STEP, self.estimator, self.params),))

    def model_for(self, config: dict[str, Any]) -> tuple[Model, dict[str, Any]]:
        """The model a configuration builds and its own parameters (a choice's branch, unprefixed)."""
        if self.choice is None:
            return self.model, config
        branch, own = branch_config(config)
        return self.choice[branch], own

    def describe(self, config: dict[str, Any]) -> str:
        """What a configuration builds: its class, or its steps
        (`tuning.estimators.models.Model.describe`)."""
        if self.prototype is not None:
            return self.prototype.describe()
        return self.model_for(config)[0].describe()

    def params_of(self, config: dict[str, Any]) -> dict[str, Any]:
        """Every parameter set on a configuration's model, fixed or searched (``step__param`` names)."""
        model, own = self.model_for(config)
        return {**model.fixed(), **own}

    @property
    def one_fit(self) -> bool:
        """A trial fits once, on the training rows, and reports once (no cv, repeats, budget or
        validation rows): its model is the one a refit of its configuration fits
        (`tuning.reports.best_model.kept_fit`)."""
        return not (self.cv or self.repeats or self.budget or self.validation_size or self.splits)

    @property
    def selects_on_test(self) -> bool:
        """The trials are scored on the test rows (one hold-out split, no validation rows): the
        saved model's score there is a *validation* score, since selection saw those rows."""
        return not (self.cv or self.repeats or self.validation_size or self.splits)

    def without_budget(self) -> TrialSpec:
        """The spec of a refit: the parameters the budget reached, no ``warm_start`` of its own."""
        if self.budget is None:
            return self
        plain = without_final(self.model, "warm_start")
        choice = {k: without_final(m, "warm_start") for k, m in self.choice.items()} if self.choice else None
        return replace(self, budget=None, params=plain.final.params, choice=choice)


@contextmanager
def trial_threads(threads: int) -> Iterator[None]:
    """Every thread pool of this thread sized to the trial's CPUs: OpenMP and BLAS (threadpoolctl:
    histogram boosting, linear algebra, LightGBM) and joblib's default ``n_jobs``.

    Ray sets ``OMP_NUM_THREADS`` to a Tune trial's CPUs in its workers; the baseline runs in the
    user's process, with every core. Inside this block a trial has the same threads in both,
    and in any other runner that calls `run_trial` or `tuning.trial.shared_fits.run_group`.
    """
    with threadpool_limits(limits=threads), parallel_config(n_jobs=threads):
        yield


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
    """The estimator of one configuration, behind the preprocessing if the data need it (a
    pipeline's steps follow it in one `Pipeline`); an estimator object's clone (`TrialSpec.prototype`)."""
    if spec.prototype is not None:
        return spec.prototype.build(config)
    model, own = spec.model_for(config)
    estimator = model.build(own)
    if not split.raw:
        return estimator
    steps = estimator.steps if model.pipeline else [(ESTIMATOR_STEP, estimator)]
    return Pipeline([(PREPROCESS, preprocessor(split)), *steps])


def final_estimator(model):
    """The estimator itself (the last step of a pipeline)."""
    return model.steps[-1][1] if hasattr(model, "steps") else model


def set_budget(model, param: str, value: int) -> None:
    """Set the budget parameter on the estimator (the last step of a pipeline)."""
    final_estimator(model).set_params(**{param: value})


class _ByteCounter:
    """A file that only counts what is written to it (pickle's protocol 5 writes buffers whole)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data) -> None:
        self.size += memoryview(data).nbytes


class _SizePickler(pickle._Pickler):
    """Pickle's own pure-Python pickler, writing each distinct string once.

    The C pickler shares a string only where it is one object, and which equal strings are one
    object depends on what the process did before (a model unpickled earlier made a forest's
    parameter names pickle 1% larger): this pickler gives a model one size in every process."""

    def __init__(self, file) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._strings: dict[str, str] = {}

    def save(self, obj, save_persistent_id=True) -> None:
        if type(obj) is str:
            obj = self._strings.setdefault(obj, obj)
        super().save(obj, save_persistent_id)

    def memoize(self, obj) -> None:
        # an empty buffer's bytes are Python's one ``b""``, which this pickler would memoize twice
        if id(obj) not in self.memo:
            super().memoize(obj)


PREDICT_ROWS = 1000  # prediction time is that of one predict on this many of the scored rows


def model_costs(model, X) -> dict[str, float | int]:
    """What a fitted model costs to keep and to use: its pickled size in bytes (`_SizePickler`),
    and the time of one ``predict`` on the first `PREDICT_ROWS` scored rows (fewer: scaled),
    per 1,000 rows."""
    counter = _ByteCounter()
    _SizePickler(counter).dump(model)
    rows = X[:PREDICT_ROWS]
    started = time.perf_counter()
    model.predict(rows)
    elapsed = time.perf_counter() - started
    return {"model_bytes": counter.size, "predict_s_per_1k": elapsed * 1000 / max(len(rows), 1)}


def run_trial(
    config: dict[str, Any],
    split: Split,
    spec: TrialSpec,
    report: Report | None = None,
    keep: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Fit one configuration on the training rows and score it on the test rows, or on each
    split of `tuning.trial.validation` (k-fold CV, repeats; ``config[REPEAT_CHUNK]``: one chunk of them).

    With a budget the estimator grows step by step and ``report`` gets the metrics after
    each step (Tune passes ``tune.report``: a scheduler may stop the trial there). Without
    one there is one step, reported once. Returns the last step's metrics. ``keep`` gets the
    fitted model before its result is reported when the trial is `TrialSpec.one_fit`. Every
    thread pool has the trial's CPUs (`trial_threads`).
    """
    with trial_threads(spec.threads):
        return _run_trial(config, split, spec, report, keep)


def _run_trial(
    config: dict[str, Any], split: Split, spec: TrialSpec, report: Report | None, keep: Callable | None
) -> dict[str, Any]:
    """`run_trial` inside its thread limits."""
    started = time.time()
    config = dict(config)
    chunk = config.pop(REPEAT_CHUNK, None)
    threads = final_estimator(build_estimator(config, split, spec)).get_params(deep=False).get("n_jobs")
    scores_of = scorer(spec.metrics, spec.scorers)  # each of the model's methods called once for every metric
    param, steps = spec.budget or (None, (None,))
    grown: dict[int, Any] = {}  # under a budget, each split's model grows step by step (warm_start)
    times: dict[str, list[float]] = {"fit": [], "score": []}
    result: dict[str, Any] = {}
    for step, amount in enumerate(steps, start=1):
        scores = []
        for index, (X_fit, y_fit, X_score, y_score) in enumerate(folds(split, spec, chunk)):
            model = grown.get(index) or build_estimator(config, split, spec)
            if param is not None:
                grown[index] = model
                set_budget(model, param, amount)
            scores.append(_fit_and_score(model, threads, (X_fit, y_fit, X_score, y_score), scores_of, times))
        if keep is not None and spec.one_fit:
            keep(model)
        result = {
            **aggregate(scores, keep=spec.repeats is not None or spec.splits is not None),
            "fit_time_s": sum(times["fit"]),
            **model_costs(model, X_score),
            "started_at": started,
            "ended_at": time.time(),
            "pid": os.getpid(),
            MODEL_KEY: spec.describe(config),
        }
        if spec.splits is not None:  # each split's own times, as scikit-learn's searches keep them
            last = len(scores)
            result.update(split_fit_s=times["fit"][-last:], split_score_s=times["score"][-last:])
        if param is not None:
            result.update(budget=amount, step=step)
        if report is not None:
            report(result)
    return result


def _fit_and_score(model, threads: int | None, fold: tuple, scores_of, times: dict[str, list[float]]) -> dict:
    """Fit ``model`` on one split's rows and score it on its held-out rows; add both times to ``times``."""
    X_fit, y_fit, X_score, y_score = fold
    if threads not in (None, 1):
        final_estimator(model).set_params(n_jobs=threads)
    fit_start = time.perf_counter()
    model.fit(X_fit, y_fit)
    times["fit"].append(time.perf_counter() - fit_start)
    if threads not in (None, 1):
        # a forest's threads add the trees' predictions in whatever order they finish,
        # which changes the last bits: predict with one thread so every run scores alike
        final_estimator(model).set_params(n_jobs=1)
    score_start = time.perf_counter()
    scores = scores_of(model, X_score, y_score)
    times["score"].append(time.perf_counter() - score_start)
    return scores
