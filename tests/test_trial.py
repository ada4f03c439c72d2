"""The trial function, the split and the space expansion, on the tutorial's data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import fetch_california_housing
from sklearn.model_selection import train_test_split

from tests.conftest import experiment_dict
from tuning.config import validate
from tuning.estimators.space import expand
from tuning.trial.fit import TrialSpec, run_trial

pytestmark = pytest.mark.slow

TUTORIAL_MSE = {8: 0.2983, 12: 0.2826, 16: 0.2761, 24: 0.2694}


def test_split_is_the_tutorials(housing_split):
    fingerprint = housing_split.fingerprint()
    assert (fingerprint["train_rows"], fingerprint["test_rows"]) == (16512, 4128)
    assert fingerprint["target"] == "MedHouseVal" and len(fingerprint["features"]) == 8
    X, y = fetch_california_housing(return_X_y=True)  # the tutorial's own split, row for row
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=201)
    np.testing.assert_array_equal(housing_split.X_train, X_train)
    np.testing.assert_array_equal(housing_split.X_test, X_test)
    np.testing.assert_array_equal(housing_split.y_train, y_train)
    np.testing.assert_array_equal(housing_split.y_test, y_test)


@pytest.mark.parametrize("n_estimators", sorted(TUTORIAL_MSE))
def test_tutorial_mse_within_1_5_percent(housing_split, tmp_path, n_estimators):
    spec = TrialSpec.from_experiment(validate(experiment_dict(tmp_path, estimator={})))
    assert spec.params == {"random_state": 201, "n_jobs": 1}
    mse = run_trial({"n_estimators": n_estimators}, housing_split, spec)["mse"]
    assert mse == pytest.approx(TUTORIAL_MSE[n_estimators], rel=0.015)


def test_trial_is_deterministic_and_reports_everything(housing_split, tmp_path):
    spec = TrialSpec.from_experiment(validate(experiment_dict(tmp_path)))
    first, second = (run_trial({"n_estimators": 4}, housing_split, spec) for _ in range(2))
    assert first["mse"] == second["mse"]
    assert set(first) >= {"mse", "rmse", "mae", "r2", "fit_time_s", "started_at", "ended_at", "pid"}
    assert first["rmse"] == pytest.approx(first["mse"] ** 0.5)
    assert first["ended_at"] >= first["started_at"] and first["fit_time_s"] > 0


def test_threads_follow_the_trials_cpus(tmp_path):
    raw = experiment_dict(tmp_path, resources={"num_cpus": 3})
    assert TrialSpec.from_experiment(validate(raw)).params["n_jobs"] == 3
    raw["estimator"]["params"]["n_jobs"] = 1  # the user's choice wins
    assert TrialSpec.from_experiment(validate(raw)).params["n_jobs"] == 1


def test_expansion_is_seeded_and_crosses_grids(tmp_path):
    space = {"n_estimators": {"grid": [4, 8]}, "max_features": {"uniform": [0.2, 1.0]}}
    first = expand(space, num_samples=3, seed=7)
    assert len(first) == 6 and first == expand(space, num_samples=3, seed=7)
    assert first != expand(space, num_samples=3, seed=8)
    assert [c["n_estimators"] for c in first[:2]] == [4, 8]
    assert all(0.2 <= c["max_features"] <= 1.0 for c in first)
