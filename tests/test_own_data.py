"""Users' own data (categories, missing values) through the pipeline, k-fold CV, the budget
path of the trial function, and the refitted best model."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import assert_rejected, cli, write
from tuning.config import DataConfig, SplitConfig, validate
from tuning.trial.fit import TrialSpec, run_trial

pytestmark = pytest.mark.slow

CARS = ROOT / "experiments" / "data" / "cars.csv"


@pytest.fixture(scope="module")
def cars_split(ray_session):
    from tuning.trial.data import load_split

    return load_split(DataConfig(source=str(CARS), target="price"), SplitConfig(test_size=0.25), seed=7)


def spec_for(tmp_path, **changes) -> TrialSpec:
    raw = experiment_dict(tmp_path, data={"source": str(CARS), "target": "price"}, **changes)
    return TrialSpec.from_experiment(validate(raw))


def test_categorical_and_missing_columns_are_kept_raw(cars_split):
    assert cars_split.raw and cars_split.categorical == ("make", "fuel")
    assert isinstance(cars_split.X_train, pd.DataFrame)
    assert cars_split.X_train["power"].isna().any() and cars_split.X_train["fuel"].isna().any()
    assert cars_split.fingerprint()["categorical"] == ["make", "fuel"]
    assert (len(cars_split.y_train), len(cars_split.y_test)) == (300, 100)


def test_parquet_of_the_same_rows_gives_the_same_split(cars_split, tmp_path):
    from tuning.trial.data import load_split

    parquet = tmp_path / "cars.parquet"
    pd.read_csv(CARS).to_parquet(parquet)
    split = load_split(DataConfig(source=str(parquet), target="price"), SplitConfig(test_size=0.25), seed=7)
    assert split.fingerprint() == cars_split.fingerprint()
    assert split.X_test.equals(cars_split.X_test)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_ray_data_and_the_direct_read_give_the_same_split(cars_split, tmp_path, suffix):
    """data.reader: ray_data and the in-process read (auto for a local file): same rows, same split."""
    from tuning.trial import data

    path = tmp_path / f"cars{suffix}"
    pd.read_csv(CARS).to_csv(path, index=False) if suffix == ".csv" else pd.read_csv(CARS).to_parquet(path)
    config = DataConfig(source=str(path), target="price")
    direct = data.load_split(config, SplitConfig(test_size=0.25), seed=7)
    through_ray = data.load_split(
        config.model_copy(update={"reader": "ray_data"}), SplitConfig(test_size=0.25), seed=7
    )
    assert direct.fingerprint() == through_ray.fingerprint() == cars_split.fingerprint()
    assert direct.X_train.dtypes.equals(through_ray.X_train.dtypes)


def test_the_trial_imputes_and_encodes_inside_its_pipeline(cars_split, tmp_path):
    from tuning.trial.fit import build_estimator

    spec = spec_for(tmp_path)
    model = build_estimator({"n_estimators": 10}, cars_split, spec)
    assert [name for name, _ in model.steps] == ["preprocess", "estimator"]
    metrics = run_trial({"n_estimators": 10}, cars_split, spec)
    assert metrics["r2"] > 0.8  # a forest on make/fuel/age/km/power explains the prices
    assert metrics == {**run_trial({"n_estimators": 10}, cars_split, spec), **_times(metrics)}


def _times(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("fit_time_s", "predict_s_per_1k", "started_at", "ended_at")}


def test_kfold_cv_reports_mean_and_std_of_each_metric(cars_split, tmp_path):
    from sklearn.model_selection import KFold, cross_val_score

    from tuning.trial.fit import build_estimator

    spec = spec_for(tmp_path, split={"test_size": 0.25, "cv": 3})
    assert spec.cv == 3
    metrics = run_trial({"n_estimators": 8}, cars_split, spec)
    assert {"mse", "mse_std", "rmse_std", "mae_std", "r2", "r2_std"} <= set(metrics)
    # scikit-learn's own cross-validation of the same pipeline gives the same folds and scores
    folds = KFold(n_splits=3, shuffle=True, random_state=spec.seed)
    model = build_estimator({"n_estimators": 8}, cars_split, spec)
    mse = -cross_val_score(
        model, cars_split.X_train, cars_split.y_train, cv=folds, scoring="neg_mean_squared_error"
    )
    assert metrics["mse"] == pytest.approx(mse.mean(), rel=1e-12)
    assert metrics["mse_std"] == pytest.approx(mse.std(), rel=1e-9) and metrics["mse_std"] > 0


def test_a_budgeted_trial_reports_each_step_and_ends_as_one_full_fit(housing_split, tmp_path):
    grown = TrialSpec.from_experiment(
        validate(
            experiment_dict(tmp_path, space={"max_depth": [6]}, search={"budget": {"max": 9, "step": 3}})
        )
    )
    assert grown.budget == ("n_estimators", (3, 6, 9)) and grown.params["warm_start"] is True
    reports: list[dict] = []
    last = run_trial({"max_depth": 6}, housing_split, grown, report=reports.append)
    assert [r["budget"] for r in reports] == [3, 6, 9] and [r["step"] for r in reports] == [1, 2, 3]
    assert reports[-1] is last and reports[0]["mse"] > last["mse"]
    # the forest grown 3 trees at a time is the forest fitted with 9 trees at once
    once = run_trial(
        {"max_depth": 6, "n_estimators": 9}, housing_split, spec_for(tmp_path, space={"max_depth": [6]})
    )
    assert last["mse"] == once["mse"] and last["r2"] == once["r2"]
    single: list[dict] = []
    run_trial({"max_depth": 6, "n_estimators": 3}, housing_split, spec_for(tmp_path), report=single.append)
    assert len(single) == 1 and "budget" not in single[0]


def test_own_data_end_to_end_saves_a_model_that_predicts_raw_rows(tmp_path):
    result = cli(
        "tuning.run",
        "experiments/own_data.yaml",
        "--set",
        f"storage_path={tmp_path}",
        "--set",
        "space.max_depth=[4, null]",
        "--set",
        "space.min_samples_leaf=[1]",
        "--set",
        "estimator.params.n_estimators=10",
        "--num-cpus",
        "2",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "own_data").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert all("mse_std" in t["metrics"] for t in summary["trials"]["tune"])  # cv: 4 in the file
    info = json.loads((run_dir / "best_model.json").read_text())
    assert info["config"] == summary["best"]["config"] | {} and info["categorical"] == ["make", "fuel"]
    assert summary["best_model"]["test_metrics"] == info["test_metrics"]
    assert f"Best model: {run_dir / 'best_model.joblib'}" in result.stdout
    model = joblib.load(run_dir / "best_model.joblib")
    rows = pd.read_csv(CARS).drop(columns="price").head(4)
    rows.loc[0, "make"] = "tesla"  # a category never seen: ignored by the encoder
    rows.loc[1, ["power", "fuel"]] = [np.nan, None]
    predictions = model.predict(rows)
    assert predictions.shape == (4,) and np.isfinite(predictions).all()
    assert list(model.feature_names_in_) == ["make", "fuel", "age", "km", "power"]


def test_refit_matches_the_best_trial_and_can_be_turned_off(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    summary = run_experiment(
        validate(experiment_dict(tmp_path, space={"n_estimators": [2, 4]})), echo=lambda line: None
    )
    run_dir = tmp_path / "results" / "small"
    (saved,) = run_dir.iterdir()
    info = json.loads((saved / "best_model.json").read_text())
    best = min(summary["trials"]["tune"], key=lambda t: t["metrics"]["mse"])
    assert info["config"] == best["config"] == {"n_estimators": 4}
    assert info["validation_metrics"]["mse"] == best["metrics"]["mse"]  # same rows and seed: the same forest
    assert info["fitted_by"] == "trial" and info["fit_threads"] is None  # the best trial's own fit
    assert info["params"]["max_depth"] == 6 and info["trial"] == best["name"]
    model = joblib.load(saved / "best_model.joblib")
    assert type(model).__name__ == "RandomForestRegressor" and len(model.estimators_) == 4
    assert model.n_jobs == 1  # saved to predict as the trials scored
    assert list(model.feature_names_in_)[:2] == ["MedInc", "HouseAge"]
    assert not any(p.suffix == ".joblib" for p in saved.rglob("*") if p.name != "best_model.joblib")

    folds = experiment_dict(tmp_path, space={"n_estimators": [2]}, split={"cv": 2})  # no fit to keep
    refitted = run_experiment(validate(folds), echo=lambda line: None)
    info = json.loads((Path(refitted["run_dir"]) / "best_model.json").read_text())
    assert info["fitted_by"] == "refit" and info["fit_threads"] == 1  # a trial's threads (num_cpus: 1)
    off = run_experiment(
        validate(experiment_dict(tmp_path, space={"n_estimators": [2]}, refit=False)), echo=lambda line: None
    )
    assert "best_model" not in off and not (tmp_path / off["run_dir"] / "best_model.joblib").exists()


def test_a_text_target_is_refused_in_one_line(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i * 2},{'abc'[i % 3]}\n" for i in range(30)))
    path = write(tmp_path, experiment_dict(tmp_path, data={"source": str(csv), "target": "y"}))
    assert_rejected(
        cli("tuning.run", str(path), "--num-cpus", "2"), "data.target must be a numeric column", tmp_path
    )
