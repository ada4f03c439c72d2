"""`tuning.SearchCV`: scikit-learn's searches on this project's trial function and runners.

Its ``cv_results_`` are compared, key by key, with ``GridSearchCV``'s/``RandomizedSearchCV``'s
on the same estimator, folds and seeds (the times apart); tiny data, a few candidates.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from tests.conftest import ROOT
from tuning import SearchCV


def classification():
    return make_classification(60, 5, n_informative=3, random_state=0)


def regression():
    return make_regression(60, 5, noise=5.0, random_state=0)


FOREST = RandomForestClassifier(n_estimators=4, random_state=0)
FOREST_GRID = {"max_depth": [2, None], "min_samples_leaf": [1, 4]}
RIDGE_DRAWS = {"alpha": loguniform(1e-3, 1e2), "fit_intercept": [True, False]}


def searches(kind: str, runner: str):
    """``(ours, scikit-learn's, X, y)``: a classifier's grid, or a regressor's random draws."""
    if kind == "classifier":
        X, y = classification()
        ours = SearchCV(FOREST, FOREST_GRID, cv=3, runner=runner)
        return ours, GridSearchCV(FOREST, FOREST_GRID, cv=3), X, y
    X, y = regression()
    ours = SearchCV(Ridge(), param_distributions=RIDGE_DRAWS, n_iter=3, cv=3, random_state=7, runner=runner)
    theirs = RandomizedSearchCV(Ridge(), RIDGE_DRAWS, n_iter=3, cv=3, random_state=7)
    return ours, theirs, X, y


def assert_same_results(ours, theirs) -> None:
    """Every key of scikit-learn's ``cv_results_`` holds the same values (times: same shape, >= 0)."""
    assert list(ours.cv_results_) == list(theirs.cv_results_)
    for key, expected in theirs.cv_results_.items():
        got = ours.cv_results_[key]
        if key.endswith("_time"):
            assert got.shape == expected.shape and (got >= 0).all(), key
        elif key == "params":
            assert got == expected
        else:
            assert np.asarray(got).dtype == np.asarray(expected).dtype, key
            np.testing.assert_array_equal(np.asarray(got), np.asarray(expected), err_msg=key)
    assert ours.best_params_ == theirs.best_params_
    assert ours.best_score_ == theirs.best_score_
    assert ours.best_index_ == theirs.best_index_


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_sequential_cv_results_equal_scikit_learns(kind):
    ours, theirs, X, y = searches(kind, "sequential")
    ours.fit(X, y)
    theirs.fit(X, y)
    assert_same_results(ours, theirs)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X, y) == theirs.score(X, y)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_tune_cv_results_equal_scikit_learns(ray_session, kind):
    ours, theirs, X, y = searches(kind, "tune")
    ours.fit(X, y)
    theirs.fit(X, y)
    assert_same_results(ours, theirs)


def test_nested_cv_in_a_pipeline_scores_as_gridsearchcv():
    X, y = regression()
    outer = KFold(2, shuffle=True, random_state=0)

    def nested(search) -> np.ndarray:
        return cross_val_score(Pipeline([("scale", StandardScaler()), ("search", search)]), X, y, cv=outer)

    grid = {"alpha": [0.1, 10.0]}
    ours = nested(SearchCV(Ridge(), grid, cv=2, runner="sequential"))
    np.testing.assert_array_equal(ours, nested(GridSearchCV(Ridge(), grid, cv=2)))


def test_objects_as_parameter_values_and_several_metrics():
    """Estimators as a pipeline step's values, numpy numbers, two scorers refitted by one."""
    X, y = classification()
    pipe = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])
    grid = {"scale": [StandardScaler(), MinMaxScaler()], "model__C": [np.float64(0.1), np.float64(1.0)]}
    scoring = ["accuracy", "f1_macro"]
    ours = SearchCV(pipe, grid, cv=2, scoring=scoring, refit="f1_macro", runner="sequential").fit(X, y)
    theirs = GridSearchCV(pipe, grid, cv=2, scoring=scoring, refit="f1_macro").fit(X, y)
    assert [str(p) for p in ours.cv_results_["params"]] == [str(p) for p in theirs.cv_results_["params"]]
    for key in ("mean_test_accuracy", "std_test_f1_macro", "rank_test_f1_macro", "split1_test_accuracy"):
        np.testing.assert_array_equal(ours.cv_results_[key], theirs.cv_results_[key], err_msg=key)
    assert ours.best_index_ == theirs.best_index_
    assert ours.score(X, y) == theirs.score(X, y)
    assert grid["scale"][0].__dict__.get("mean_") is None  # the grid's own objects stay unfitted


def test_a_classifiers_methods_are_its_best_estimators():
    X, y = classification()
    search = SearchCV(
        DecisionTreeClassifier(random_state=0), {"max_depth": [1, 3]}, cv=2, runner="sequential"
    )
    assert not hasattr(search, "classes_") or search.__sklearn_tags__().estimator_type == "classifier"
    search.fit(X, y)
    np.testing.assert_array_equal(search.predict_proba(X), search.best_estimator_.predict_proba(X))
    np.testing.assert_array_equal(search.classes_, [0, 1])
    assert not hasattr(SearchCV(Ridge(), {"alpha": [1.0]}), "predict_proba")


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        pytest.param({}, "exactly one of param_grid and param_distributions", id="no-space"),
        pytest.param(
            {"param_grid": {"alpha": [1.0]}, "param_distributions": {"alpha": [1.0]}},
            "exactly one of param_grid and param_distributions",
            id="both-spaces",
        ),
        pytest.param(
            {"param_grid": {"alpha": [1.0]}, "runner": "dask"}, "runner must be one of tune", id="runner"
        ),
        pytest.param(
            {"param_grid": {"alpha": [1.0]}, "scoring": ["r2", "explained_variance"]},
            "refit must be one of r2, explained_variance",
            id="refit-with-two-metrics",
        ),
    ],
)
def test_bad_arguments_are_refused_in_one_line(kwargs, expected):
    X, y = regression()
    with pytest.raises(ValueError, match=expected):
        SearchCV(Ridge(), **{"runner": "sequential", **kwargs}).fit(X, y)


def test_a_failing_candidate_scores_error_score_or_raises():
    X, y = regression()
    grid = {"alpha": [1.0, -1.0], "solver": ["cholesky"]}  # a negative alpha is refused by Ridge
    search = SearchCV(Ridge(), grid, cv=2, runner="sequential").fit(X, y)
    assert np.isnan(search.cv_results_["mean_test_score"][1])
    assert list(search.cv_results_["rank_test_score"]) == [1, 2]
    with pytest.raises(ValueError, match="1 of 2 candidates failed"):
        SearchCV(Ridge(), grid, cv=2, runner="sequential", error_score="raise").fit(X, y)


def test_importing_searchcv_does_not_import_ray():
    code = "import sys; from tuning import SearchCV; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
