"""A trial is the same trial wherever it runs: every thread pool has the trial's CPUs."""

from __future__ import annotations

import os

import pytest

from tests.conftest import ROOT, experiment_dict
from tests.probes import seen_threads
from tests.test_cli import cli, write
from tuning._experiment import run_experiment
from tuning.config import validate
from tuning.estimators.classes import default_params, deprecated_params, fixed_params, resolve_estimator


def probe_experiment(tmp_path, share_fits: str | bool) -> dict:
    """Two forest sizes, 2-fold cv (the refit fits), both runners, 1 CPU a trial."""
    marks = tmp_path / f"marks-{share_fits}"
    marks.mkdir()
    estimator = {"class": "tests.probes.ThreadProbeForest", "params": {"max_depth": 3, "marks": str(marks)}}
    raw = experiment_dict(
        tmp_path,
        estimator=estimator,
        space={"n_estimators": [2, 3]},
        split={"cv": 2, "test_size": 0.2},
        runner="both",
    )
    raw["search"] = {"share_fits": share_fits}
    return raw


@pytest.mark.slow
@pytest.mark.parametrize("share_fits", [False, True], ids=["trials", "shared-groups"])
def test_every_pool_has_the_trials_cpus_in_both_runners_and_the_refit(ray_session, tmp_path, share_fits):
    raw = probe_experiment(tmp_path, share_fits)
    summary = run_experiment(validate(raw), echo=lambda line: None)
    assert summary["status"] == "complete"
    seen = seen_threads(tmp_path / f"marks-{share_fits}")
    here = [s for s in seen if s["pid"] == os.getpid()]
    workers = [s for s in seen if s["pid"] != os.getpid()]
    fits = 2 if share_fits else 4  # per runner: one fit per fold of each group, or of each configuration
    assert (len(here), len(workers)) == (fits + 1, fits)  # the baseline's fits and the refit's; Tune's
    assert all(s["pools"] for s in seen)  # numpy's BLAS at least
    for s in seen:
        assert set(s["pools"].values()) == {1}, s  # OpenMP, BLAS: the trial's 1 CPU
        assert (s["n_jobs"], s["joblib_default"]) == (1, 1), s


def scaled(path: str, **params) -> dict:
    """A branch that scales the rows before ``path`` (linear models, SVMs, MLPs converge)."""
    model = {"name": "model", "class": path, **({"params": params} if params else {})}
    return {"steps": [{"name": "scale", "class": "sklearn.preprocessing.StandardScaler"}, model]}


def branch(path: str, space: dict, **params) -> dict:
    return {"class": path, **({"params": params} if params else {}), "space": space}


CLASSIFIERS = {  # on breast cancer (569 rows): each fits in milliseconds
    "logistic": {**scaled("sklearn.linear_model.LogisticRegression"), "space": {"model__C": [1.0]}},
    "linear_svc": {**scaled("sklearn.svm.LinearSVC"), "space": {"model__C": [0.1]}},
    "svc": {**scaled("sklearn.svm.SVC"), "space": {"model__C": [1.0]}},
    "knn": branch("sklearn.neighbors.KNeighborsClassifier", {"n_neighbors": [5]}),
    "nb": branch("sklearn.naive_bayes.GaussianNB", {"var_smoothing": [1e-9]}),
    "mlp": {
        **scaled("sklearn.neural_network.MLPClassifier", max_iter=2000, hidden_layer_sizes=[8]),
        "space": {"model__alpha": [0.001]},
    },
    "hgb": branch("sklearn.ensemble.HistGradientBoostingClassifier", {"max_iter": [5]}),
    "lgbm": branch("lightgbm.LGBMClassifier", {"n_estimators": [5]}, verbose=-1),
}
REGRESSORS = {  # on experiments/data/cars.csv (400 rows, text columns and gaps: preprocessed)
    "ridge": {**scaled("sklearn.linear_model.Ridge"), "space": {"model__alpha": [1.0]}},
    "lasso": {**scaled("sklearn.linear_model.Lasso"), "space": {"model__alpha": [0.1]}},
    "elastic": {**scaled("sklearn.linear_model.ElasticNet"), "space": {"model__alpha": [0.1]}},
    "sgd": {**scaled("sklearn.linear_model.SGDRegressor"), "space": {"model__alpha": [0.001]}},
    "gb": branch("sklearn.ensemble.GradientBoostingRegressor", {"n_estimators": [5]}),
    "hgb": branch("sklearn.ensemble.HistGradientBoostingRegressor", {"max_iter": [5]}),
    "extra": branch("sklearn.ensemble.ExtraTreesRegressor", {"n_estimators": [5]}),
    "xgb": branch("xgboost.XGBRegressor", {"n_estimators": [5]}),
    "lgbm": branch("lightgbm.LGBMRegressor", {"n_estimators": [5]}, verbose=-1),
}
MATRIX = {
    "classifiers": ({"source": "breast_cancer"}, CLASSIFIERS),
    "regressors": ({"source": str(ROOT / "experiments/data/cars.csv"), "target": "price"}, REGRESSORS),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(MATRIX))
def test_common_estimators_run_in_both_runners_without_a_warning(tmp_path, task):
    """No warning from the driver or a Ray worker (Ray forwards the workers' output)."""
    pytest.importorskip("lightgbm")  # the test extra has it; CI runs every branch
    data, choice = MATRIX[task]
    raw = experiment_dict(tmp_path, data=data, estimator={"choice": choice}, runner="both")
    del raw["space"]
    result = cli("tuning.run", str(write(tmp_path, raw)), "--num-cpus", "2")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Trials:        {len(choice)} ok, 0 errored" in output
    assert "warning" not in output.lower(), output


@pytest.mark.parametrize(
    ("path", "filled"),
    [
        pytest.param("sklearn.linear_model.LogisticRegression", {"random_state": 5}, id="n_jobs-deprecated"),
        pytest.param("sklearn.ensemble.ExtraTreesClassifier", {"random_state": 5, "n_jobs": 2}, id="forest"),
        pytest.param("sklearn.neighbors.KNeighborsClassifier", {"n_jobs": 2}, id="knn"),
        pytest.param("sklearn.svm.SVC", {"random_state": 5}, id="svc"),
        pytest.param("sklearn.naive_bayes.GaussianNB", {}, id="nothing"),
    ],
)
def test_seed_and_threads_are_filled_only_where_they_have_an_effect(path, filled):
    cls = resolve_estimator(path)
    assert fixed_params(cls, {}, set(), seed=5, n_jobs=2) == filled
    assert "n_jobs" in default_params(cls) or "n_jobs" not in filled


def test_deprecated_params_reads_the_parameters_section_only():
    class Documented:
        """An estimator.

        Parameters
        ----------
        n_jobs : int
            Does nothing.

            .. deprecated:: 1.8
               Gone in 1.10.

        alpha : float
            Kept.

        Attributes
        ----------
        coef_ : array
            .. deprecated:: 1.9
               Not a parameter.
        """

    assert deprecated_params(Documented) == {"n_jobs"}
    assert deprecated_params(type("Bare", (), {})) == set()


def test_a_library_parameter_passed_on_by_kwargs_is_accepted(tmp_path):
    raw = experiment_dict(tmp_path, estimator={"class": "lightgbm.LGBMRegressor", "params": {"verbose": -1}})
    pytest.importorskip("lightgbm")
    assert validate(raw).estimator.params == {"verbose": -1}
