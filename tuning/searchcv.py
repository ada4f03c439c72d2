"""`SearchCV`: scikit-learn's ``GridSearchCV``/``RandomizedSearchCV``, run on this project's engine.

    from tuning import SearchCV
    search = SearchCV(RandomForestClassifier(random_state=0), {"max_depth": [2, 4, None]}, cv=3)
    search.fit(X, y).best_params_, search.best_score_, search.cv_results_, search.predict(X)

The candidates are scikit-learn's own (`ParameterGrid` of ``param_grid``, or ``n_iter``
draws of `ParameterSampler` from ``param_distributions``), the folds those of ``cv`` as
``check_cv`` makes them (a classifier's are stratified), the scores ``scoring``'s (None: the
estimator's own ``score``). Each candidate is one trial of `tuning.trial.fit.run_trial`, run by
Ray Tune (``runner="tune"``, the default) or one after another in this process
(``runner="sequential"``, no Ray): the same fits and scores as ``GridSearchCV``'s, so
``cv_results_`` holds the same numbers under the same keys. The estimator is an object,
cloned for every fit; a candidate's parameters may be any value (an estimator, a numpy number).
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.ma import MaskedArray
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.metrics import check_scoring, get_scorer
from sklearn.model_selection import ParameterGrid, ParameterSampler, check_cv
from sklearn.utils import get_tags, indexable
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from tuning.console import say
from tuning.estimators.models import CANDIDATE_KEY, Prototype
from tuning.runner_names import SEQUENTIAL, TUNE
from tuning.runners.progress import Progress
from tuning.runners.sequential import run_sequential
from tuning.runners.session import RunnerSession
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec
from tuning.trial.records import RunnerResult, TrialResult

RUNNERS = (TUNE, SEQUENTIAL)  # the runners SearchCV offers
SCORE = "score"  # the one metric's name, as scikit-learn's searches name it (mean_test_score)


def _best_has(method: str) -> Callable[[Any], bool]:
    """Whether the refitted estimator (or, before fit, the estimator) has ``method``."""

    def check(self) -> bool:
        estimator = getattr(self, "best_estimator_", self.estimator)
        return hasattr(estimator, method)

    return check


class SearchCV(MetaEstimatorMixin, BaseEstimator):
    """Cross-validated search over ``param_grid`` or ``param_distributions``, as scikit-learn's.

    ``runner``: ``"tune"`` (Ray Tune: trials in parallel, ``num_cpus`` each; a running Ray is
    joined, else a local one started) or ``"sequential"``. ``random_state`` seeds the draws
    from ``param_distributions``. ``error_score``: a failed candidate's scores (``"raise"``:
    raise). ``verbose``: print the progress lines. The rest as in ``GridSearchCV``.
    """

    def __init__(
        self,
        estimator,
        param_grid=None,
        param_distributions=None,
        *,
        n_iter: int = 10,
        scoring=None,
        cv=5,
        refit=True,
        runner: str = TUNE,
        random_state=None,
        num_cpus: float = 1,
        error_score=np.nan,
        verbose: int = 0,
    ):
        self.estimator = estimator
        self.param_grid = param_grid
        self.param_distributions = param_distributions
        self.n_iter = n_iter
        self.scoring = scoring
        self.cv = cv
        self.refit = refit
        self.runner = runner
        self.random_state = random_state
        self.num_cpus = num_cpus
        self.error_score = error_score
        self.verbose = verbose

    def __sklearn_tags__(self):
        """The estimator's kind (classifier, regressor) and input tags, as scikit-learn's searches."""
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.input_tags.pairwise = inner.input_tags.pairwise
        tags.input_tags.sparse = inner.input_tags.sparse
        return tags

    def fit(self, X, y=None, groups=None) -> SearchCV:
        """Score every candidate on the folds of ``cv`` (``groups`` for a group splitter), then
        refit the best on all the rows (``refit``)."""
        self._check_params()
        X, y, groups = indexable(X, y, groups)
        scorers = self._scorers()
        refit_metric = self._refit_metric(scorers)
        candidates = self._candidates()
        classifier = is_classifier(self.estimator)
        splits = tuple(check_cv(self.cv, y, classifier=classifier).split(X, y, groups))
        spec = TrialSpec(
            "",
            {},
            prototype=Prototype(clone(self.estimator), tuple(candidates)),
            splits=splits,
            metrics=tuple(scorers),
            scorers=scorers,
            classifier=classifier,
        )
        trials = self._run(spec, _rows(X, y), refit_metric)
        names = {name: name for name in scorers} if len(scorers) > 1 else {SCORE: SCORE}
        self.cv_results_ = cv_results(candidates, trials, names, len(splits), self.error_score)
        self.n_splits_, self.multimetric_ = len(splits), len(scorers) > 1
        self.scorer_ = scorers if self.multimetric_ else scorers[SCORE]
        self._keep_best(X, y, refit_metric)
        return self

    def _check_params(self) -> None:
        if (self.param_grid is None) == (self.param_distributions is None):
            raise ValueError("SearchCV needs exactly one of param_grid and param_distributions")
        if self.runner not in RUNNERS:
            raise ValueError(f"runner must be one of {', '.join(RUNNERS)}; got {self.runner!r}")

    def _candidates(self) -> list[dict[str, Any]]:
        """scikit-learn's candidates: the grid's, or ``n_iter`` seeded draws from the distributions."""
        if self.param_grid is not None:
            return list(ParameterGrid(self.param_grid))
        return list(ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state))

    def _scorers(self) -> dict[str, Any]:
        """The scorers by name (one metric: ``{"score": scorer}``), as ``GridSearchCV`` reads ``scoring``."""
        if callable(self.scoring):
            return {SCORE: self.scoring}
        if self.scoring is None or isinstance(self.scoring, str):
            return {SCORE: check_scoring(self.estimator, self.scoring)}
        if isinstance(self.scoring, dict):
            return {k: get_scorer(v) if isinstance(v, str) else v for k, v in self.scoring.items()}
        return {name: get_scorer(name) for name in self.scoring}

    def _refit_metric(self, scorers: dict[str, Any]) -> str:
        """The metric that ranks the candidates for ``refit`` (several metrics: ``refit`` names one)."""
        if len(scorers) == 1:
            return next(iter(scorers))
        if self.refit is False or callable(self.refit) or self.refit in scorers:
            return self.refit if isinstance(self.refit, str) else next(iter(scorers))
        names = ", ".join(scorers)
        raise ValueError(f"refit must be one of {names}, a callable or False; got {self.refit!r}")

    def _run(self, spec: TrialSpec, rows: Split, metric: str) -> list[TrialResult | None]:
        """Each candidate's trial, in candidate order, through the chosen runner."""
        configs = [{CANDIDATE_KEY: i} for i in range(len(spec.prototype.candidates))]
        echo = say if self.verbose else _silent
        with tempfile.TemporaryDirectory(prefix="searchcv-") as folder:
            run_dir = Path(folder) / "search"
            if self.runner == SEQUENTIAL:
                progress = Progress(SEQUENTIAL, len(configs), metric, "max", echo, 1, configs, live=False)
                result = run_sequential(RunnerSession(rows, spec, run_dir, 1, progress), configs)
            else:
                result = self._run_tune(configs, rows, spec, run_dir, metric, echo)
        by_index = {t.config[CANDIDATE_KEY]: t for t in result.trials}
        trials = [by_index.get(i) for i in range(len(configs))]
        failed = [t for t in trials if t is None or not t.ok]
        if failed and (self.error_score == "raise" or len(failed) == len(trials)):
            why = failed[0].error if failed[0] is not None else "it did not run"
            raise ValueError(f"{len(failed)} of {len(trials)} candidates failed; the first: {why}")
        return trials

    def _run_tune(
        self, configs: list, rows: Split, spec: TrialSpec, run_dir: Path, metric: str, echo
    ) -> RunnerResult:
        from tuning.planning.cluster import connect  # imports Ray: only for the tune runner
        from tuning.runners.tune import run_listed

        cluster = connect()
        slots = max(1, math.floor(cluster.cpus / self.num_cpus))
        progress = Progress(TUNE, len(configs), metric, "max", echo, slots, configs, live=False)
        session = RunnerSession(rows, spec, run_dir, slots, progress)
        return run_listed(session, configs, resources={"cpu": self.num_cpus})

    def _keep_best(self, X, y, refit_metric: str) -> None:
        """``best_index_``, ``best_score_``, ``best_params_`` and the refitted ``best_estimator_``."""
        results = self.cv_results_
        if self.refit or not self.multimetric_:
            key = SCORE if not self.multimetric_ else refit_metric
            if callable(self.refit):
                self.best_index_ = int(self.refit(results))
            else:
                self.best_index_ = int(results[f"rank_test_{key}"].argmin())
                self.best_score_ = float(results[f"mean_test_{key}"][self.best_index_])
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self.best_estimator_ = clone(self.estimator).set_params(**clone(self.best_params_, safe=False))
            start = time.time()
            self.best_estimator_.fit(X, y) if y is not None else self.best_estimator_.fit(X)
            self.refit_time_ = time.time() - start
            if hasattr(self.best_estimator_, "feature_names_in_"):
                self.feature_names_in_ = self.best_estimator_.feature_names_in_

    def score(self, X, y=None) -> float:
        """The ``scoring``'s score of the refitted estimator (its own ``score`` without one)."""
        check_is_fitted(self, "best_estimator_")
        scorer = self.scorer_[self.refit] if self.multimetric_ else self.scorer_
        return scorer(self.best_estimator_, X, y)

    @available_if(_best_has("predict"))
    def predict(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    @available_if(_best_has("predict_proba"))
    def predict_proba(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    @available_if(_best_has("predict_log_proba"))
    def predict_log_proba(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_log_proba(X)

    @available_if(_best_has("decision_function"))
    def decision_function(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.decision_function(X)

    @available_if(_best_has("transform"))
    def transform(self, X):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.transform(X)

    @property
    def classes_(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.classes_

    @property
    def n_features_in_(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.n_features_in_


def _silent(line: str) -> None:
    """No progress lines (``verbose=0``)."""


def _rows(X, y) -> Split:
    """All the rows as the training rows of a `Split` (the folds index them); no test rows."""
    X = X if hasattr(X, "iloc") or isinstance(X, np.ndarray) else np.asarray(X)
    y = np.asarray(y) if y is not None else np.zeros(len(X))
    columns = [str(c) for c in X.columns] if hasattr(X, "columns") else [f"x{i}" for i in range(X.shape[1])]
    empty = X.iloc[:0] if hasattr(X, "iloc") else X[:0]
    return Split(X, empty, y, y[:0], tuple(columns), "y")


def cv_results(
    candidates: list[dict[str, Any]],
    trials: list[TrialResult | None],
    names: dict[str, str],
    n_splits: int,
    error_score: Any = np.nan,
) -> dict[str, Any]:
    """``GridSearchCV``'s ``cv_results_`` of the trials: keys, order and arithmetic as scikit-learn's.

    ``names``: each metric's key in the trials' results by its name in the table (``score``:
    ``mean_test_score``). A failed trial scores ``error_score`` on each split and takes no time.
    """
    results: dict[str, Any] = {}
    zeros = [0.0] * n_splits
    _store(results, "fit_time", [t.metrics["split_fit_s"] if _ok(t) else zeros for t in trials])
    _store(results, "score_time", [t.metrics["split_score_s"] if _ok(t) else zeros for t in trials])
    results.update(_param_columns(candidates))
    results["params"] = list(candidates)
    failed = [error_score] * n_splits
    for name, key in names.items():
        scores = [_split_scores(t.metrics, key, n_splits) if _ok(t) else failed for t in trials]
        _store(results, f"test_{name}", scores, splits=True, rank=True)
    return results


def _ok(trial: TrialResult | None) -> bool:
    return trial is not None and trial.ok


def _split_scores(metrics: dict[str, Any], key: str, n_splits: int) -> list[float]:
    """Each split's score of a trial's result (one split: the score itself)."""
    return metrics[f"{key}_repeats"] if f"{key}_repeats" in metrics else [metrics[key]] * n_splits


def _store(results: dict[str, Any], name: str, rows: list, splits: bool = False, rank: bool = False) -> None:
    """The ``split<i>_``, ``mean_``, ``std_`` (and ``rank_``) columns of ``name``, as scikit-learn's."""
    array = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
    if splits:
        for index in range(array.shape[1]):
            results[f"split{index}_{name}"] = array[:, index]
    means = np.average(array, axis=1)
    results[f"mean_{name}"] = means
    results[f"std_{name}"] = np.sqrt(np.average((array - means[:, np.newaxis]) ** 2, axis=1))
    if rank:
        if np.isnan(means).all():
            results[f"rank_{name}"] = np.ones_like(means, dtype=np.int32)
        else:  # a failed candidate ties with the worst
            filled = np.nan_to_num(means, nan=np.nanmin(means) - 1)
            results[f"rank_{name}"] = rankdata(-filled, method="min").astype(np.int32, copy=False)


def _param_columns(candidates: Iterable[dict[str, Any]]) -> dict[str, MaskedArray]:
    """One masked ``param_<name>`` column per parameter (masked where a candidate lacks it)."""
    candidates = list(candidates)
    values: dict[str, dict[int, Any]] = defaultdict(dict)
    for index, params in enumerate(candidates):
        for name, value in params.items():
            values[f"param_{name}"][index] = value
    columns = {}
    for key, by_index in values.items():
        try:
            array = np.array(list(by_index.values()))
            dtype = array.dtype if array.dtype.kind != "U" and array.ndim == 1 else object
        except ValueError:  # sequences of different lengths
            dtype = np.dtype(object)
        column = MaskedArray(np.empty(len(candidates), dtype=dtype), mask=True)
        for index, value in by_index.items():
            column[index] = value
        columns[key] = column
    return columns
