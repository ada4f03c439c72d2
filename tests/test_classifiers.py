"""Classifiers and any scikit-learn scorer: the registry, the labels, the splits, the trial,
the refit, the reports, and every bad input through the real CLI."""

from __future__ import annotations

import json
import math

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import accuracy_score, get_scorer_names, mean_squared_error, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold, StratifiedShuffleSplit, train_test_split

from tests.conftest import experiment_dict
from tests.helpers import CountingTree
from tests.test_cli import assert_rejected, cli, write
from tuning.config import BUILTIN_DATASETS, validate
from tuning.errors import ExperimentError
from tuning.metrics import METRICS, SHORT_NAMES, recorded, scorer
from tuning.reports.best_model import refit
from tuning.reports.text import class_lines
from tuning.trial.data import Split, builtin_frame, class_labels
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.validation import folds

FOREST = {"class": "sklearn.ensemble.RandomForestClassifier", "params": {"max_depth": 4}}


def classifier_dict(tmp_path, **changes) -> dict:
    """A small classifier experiment on the breast cancer data; ``changes`` replace top-level keys."""
    defaults = {"data": {"source": "breast_cancer"}, "estimator": FOREST, "space": {"n_estimators": [4, 8]}}
    return experiment_dict(tmp_path, **{**defaults, **changes})


def breast_cancer_split() -> Split:
    """The breast cancer rows, split 80/20 with stratification (no Ray: the arrays directly)."""
    frame = load_breast_cancer(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    X, y = frame[features].to_numpy(np.float64), frame["target"].to_numpy()
    parts = train_test_split(X, y, test_size=0.2, random_state=201, stratify=y)
    return Split(*parts, tuple(features), "target", stratified=True)


# --- the registry -----------------------------------------------------------------------------


def test_short_names_keep_their_directions_and_every_scorer_is_known():
    assert {n: METRICS[n].mode for n in SHORT_NAMES} == {
        "mse": "min",
        "rmse": "min",
        "mae": "min",
        "r2": "max",
    }
    assert set(get_scorer_names()) <= set(METRICS)
    assert all(METRICS[n].mode == "max" for n in get_scorer_names() if n not in SHORT_NAMES)


def test_each_scorer_knows_its_task_and_the_methods_it_needs():
    tasks = {n: METRICS[n].task for n in ("accuracy", "roc_auc", "f1_macro", "neg_log_loss", "mse")}
    assert tasks == {
        "accuracy": "classifier",
        "roc_auc": "classifier",
        "f1_macro": "classifier",
        "neg_log_loss": "classifier",
        "mse": "regressor",
    }
    assert METRICS["neg_root_mean_squared_error"].task == "regressor"
    assert METRICS["neg_log_loss"].needs == ("predict_proba",)
    assert set(METRICS["roc_auc"].needs) == {"decision_function", "predict_proba"}


def test_recorded_metrics_default_by_task():
    assert recorded("mse", None, "regressor") == SHORT_NAMES  # every regression run records the four
    assert recorded("neg_root_mean_squared_error", None, "regressor")[0] == "neg_root_mean_squared_error"
    assert recorded("roc_auc", None, "classifier") == ("roc_auc", "accuracy")
    assert recorded("roc_auc", ["accuracy", "f1"], "classifier") == ("roc_auc", "accuracy", "f1")
    assert recorded("f1", ["accuracy", "f1"], "classifier") == ("accuracy", "f1")


def test_a_classifier_gets_a_classification_metric_and_its_mode(tmp_path):
    experiment = validate(classifier_dict(tmp_path))
    assert (experiment.metric, experiment.mode, experiment.metrics) == ("accuracy", "max", ["accuracy"])
    experiment = validate(classifier_dict(tmp_path, metric="neg_log_loss", metrics=["f1"]))
    assert (experiment.mode, experiment.metrics) == ("max", ["neg_log_loss", "f1"])
    regressor = validate(experiment_dict(tmp_path, metric="r2"))
    assert (regressor.mode, regressor.metrics) == ("max", list(SHORT_NAMES))
    assert (
        TrialSpec.from_experiment(experiment).classifier
        and not TrialSpec.from_experiment(regressor).classifier
    )


def test_the_short_names_score_exactly_as_the_metric_functions():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 4)), rng.normal(size=200)
    model = RandomForestRegressor(n_estimators=4, random_state=0).fit(X[:150], y[:150])
    scores = scorer(SHORT_NAMES)(model, X[150:], y[150:])
    mse = float(mean_squared_error(y[150:], model.predict(X[150:])))
    assert scores["mse"] == mse and scores["rmse"] == math.sqrt(mse)  # bit for bit, as before


# --- labels and data --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["a", "b", "a"], ["a", "b", "a"]),
        ([True, False, True], [True, False, True]),
        ([3, 1, 2], [3, 1, 2]),
        ([1.0, 0.0, 1.0], [1, 0, 1]),
    ],
    ids=["strings", "booleans", "integers", "whole floats"],
)
def test_labels_are_kept_as_they_are(values, expected):
    labels = class_labels(pd.Series(values, name="y"))
    assert labels.tolist() == expected and [type(v) for v in labels.tolist()] == [type(v) for v in expected]


@pytest.mark.parametrize(
    ("values", "message"),
    [([0.5, 1.5, 2.0], "has fractional numbers such as 0.5"), (["a", "a"], "has one class, 'a'")],
    ids=["fractional", "one class"],
)
def test_a_target_that_is_not_labels_is_rejected(values, message):
    with pytest.raises(ExperimentError, match=message):
        class_labels(pd.Series(values, name="y"))


def test_the_classification_data_sets_ship_with_scikit_learn():
    for name in ("breast_cancer", "wine", "iris", "digits"):
        frame = builtin_frame(name)
        assert BUILTIN_DATASETS[name].target in frame.columns and len(frame) >= 150
        assert frame[BUILTIN_DATASETS[name].target].nunique() >= 2


# --- the trial --------------------------------------------------------------------------------


def test_a_classifier_trial_is_scored_by_scikit_learns_scorers(tmp_path):
    split = breast_cancer_split()
    spec = TrialSpec.from_experiment(validate(classifier_dict(tmp_path, metric="roc_auc", metrics=["f1"])))
    result = run_trial({"n_estimators": 8}, split, spec)
    model = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=201, n_jobs=1)
    model.fit(split.X_train, split.y_train)
    assert result["roc_auc"] == roc_auc_score(split.y_test, model.predict_proba(split.X_test)[:, 1])
    assert set(result) >= {"roc_auc", "f1"} and not {"accuracy", "mse"} & set(result)  # as listed
    assert run_trial({"n_estimators": 8}, split, spec)["roc_auc"] == result["roc_auc"]  # deterministic


def test_each_method_is_called_once_per_fold_for_every_metric(tmp_path):
    raw = classifier_dict(tmp_path, metric="roc_auc", metrics=["neg_log_loss", "accuracy", "f1"])
    raw["estimator"] = {"class": "tests.helpers.CountingTree", "params": {"max_depth": 2}}
    raw["space"] = {"min_samples_leaf": [1]}
    raw["split"] = {"cv": 3}
    spec = TrialSpec.from_experiment(validate(raw))
    CountingTree.calls.clear()
    result = run_trial({"min_samples_leaf": 1}, breast_cancer_split(), spec)
    # one predict more: the model's cost (`tuning.trial.fit.model_costs`, one predict per trial)
    assert dict(CountingTree.calls) == {"predict": 3 + 1, "predict_proba": 3}
    assert {"roc_auc_std", "neg_log_loss_std", "accuracy_std", "f1_std"} <= set(result)


def test_a_classifier_folds_keep_the_class_shares_and_a_regressor_folds_are_unchanged():
    split = breast_cancer_split()
    spec = TrialSpec("sklearn.tree.DecisionTreeClassifier", {}, cv=5, seed=3)
    held = [y for *_, y in folds(split, spec)]
    expected = StratifiedKFold(5, shuffle=True, random_state=3).split(split.X_train, split.y_train)
    assert [h.tolist() for h in held] == [split.y_train[i].tolist() for _, i in expected]
    plain = Split(split.X_train, split.X_test, split.y_train, split.y_test, split.features, "target")
    unstratified = [y for *_, y in folds(plain, spec)]
    kfold = KFold(5, shuffle=True, random_state=3).split(split.X_train)
    assert [h.tolist() for h in unstratified] == [split.y_train[i].tolist() for _, i in kfold]


def test_a_classifiers_repeats_are_stratified_too():
    split = breast_cancer_split()
    spec = TrialSpec("sklearn.tree.DecisionTreeClassifier", {}, seed=3, repeats=3, test_size=0.2)
    y = np.concatenate([split.y_train, split.y_test])
    expected = StratifiedShuffleSplit(3, test_size=0.2, random_state=3).split(np.zeros(len(y)), y)
    held = [y_score for *_, y_score in folds(split, spec)]
    assert [h.tolist() for h in held] == [y[i].tolist() for _, i in expected]


def test_string_labels_through_the_pipeline_and_the_saved_model(tmp_path):
    rng = np.random.default_rng(1)
    n = 150
    labels = np.array(["low", "mid", "high"])[rng.integers(0, 3, n)]
    X = pd.DataFrame({"x": rng.normal(size=n) + (labels == "high"), "colour": rng.choice(["red", "blue"], n)})
    X.loc[::7, "x"] = np.nan
    X.loc[::11, "colour"] = np.nan
    parts = train_test_split(X, labels, test_size=0.2, random_state=0, stratify=labels)
    split = Split(*parts, ("x", "colour"), "grade", categorical=("colour",), raw=True, stratified=True)
    raw = experiment_dict(
        tmp_path, estimator=FOREST, metric="roc_auc_ovr", metrics=["f1_macro", "neg_log_loss"]
    )
    spec = TrialSpec.from_experiment(validate(raw))
    result = run_trial({"n_estimators": 4}, split, spec)
    assert {"roc_auc_ovr", "f1_macro", "neg_log_loss"} <= set(result)
    info = refit({"n_estimators": 4}, split, spec, tmp_path)
    assert info["classes"] == ["high", "low", "mid"] and np.array(info["confusion_matrix"]).sum() == 30
    assert set(info["per_class"]) == {"high", "low", "mid"} and "predict_proba" in info["load"]
    saved = json.loads((tmp_path / "best_model.json").read_text())
    assert saved["confusion_matrix"] == info["confusion_matrix"]
    model = joblib.load(tmp_path / "best_model.joblib")
    rows = pd.DataFrame({"x": [np.nan, 0.3], "colour": ["green", None]})  # a gap and an unseen colour
    assert model.classes_.tolist() == ["high", "low", "mid"]
    assert model.predict_proba(rows).sum(axis=1) == pytest.approx([1.0, 1.0])


def test_the_text_report_shows_the_confusion_matrix_and_per_class_scores():
    best_model = {
        "classes": ["no", "yes"],
        "confusion_matrix": [[7, 1], [2, 10]],
        "per_class": {
            "no": {"precision": 0.7778, "recall": 0.875, "f1-score": 0.8235, "support": 8.0},
            "yes": {"precision": 0.9091, "recall": 0.8333, "f1-score": 0.8696, "support": 12.0},
        },
    }
    lines = class_lines(best_model)
    assert lines[1].split() == ["true", "\\", "predicted", "no", "yes"]
    assert lines[2].split() == ["no", "7", "1"] and lines[3].split() == ["yes", "2", "10"]
    assert lines[5].split() == ["no", "0.7778", "0.8750", "0.8235", "8"]
    assert class_lines({"test_metrics": {"mse": 1.0}}) == []  # a regressor's best model: no table


def test_an_xgboost_classifier_is_tuned_like_any_other(tmp_path):
    pytest.importorskip("xgboost")
    estimator = {"class": "xgboost.XGBClassifier", "params": {"max_depth": 2}}
    raw = classifier_dict(tmp_path, estimator=estimator, metric="roc_auc")
    spec = TrialSpec.from_experiment(validate(raw))
    assert spec.classifier
    assert run_trial({"n_estimators": 8}, breast_cancer_split(), spec)["roc_auc"] > 0.9


# --- bad input through the CLI ----------------------------------------------------------------

SVC = {"class": "sklearn.svm.LinearSVC", "params": {}}
SPACE_C = {"C": [0.1, 1.0]}
BAD_CONFIGS = [
    pytest.param(
        {"metric": "mse"},
        "exp.yaml:16: metric must be a classification metric for RandomForestClassifier",
        id="classifier-regression-metric",
    ),
    pytest.param(
        {"metrics": ["accuracy", "r2"]},
        "metrics.1 must be a classification metric for RandomForestClassifier",
        id="classifier-regression-metrics",
    ),
    pytest.param(
        {"estimator": {"class": "sklearn.ensemble.RandomForestRegressor"}, "data": {}, "metric": "roc_auc"},
        "metric must be a regression metric for RandomForestRegressor",
        id="regressor-classification-metric",
    ),
    pytest.param({"metric": "acuracy"}, "; got 'acuracy'; closest: accuracy", id="unknown-scorer"),
    pytest.param({"metrics": ["f1", "f1"]}, "metrics.1 must not repeat a metric", id="repeated-metric"),
    pytest.param(
        {"estimator": SVC, "space": SPACE_C, "metric": "neg_log_loss"},
        "metric must be a metric LinearSVC can give; got 'neg_log_loss', which needs predict_proba",
        id="needs-predict-proba",
    ),
    pytest.param(
        {"estimator": {"class": "sklearn.pipeline.Pipeline"}, "space": {"verbose": [True]}},
        "estimator.class must be an estimator class that can be built without arguments",
        id="pipeline",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD_CONFIGS)
def test_bad_classifier_experiments_are_rejected(tmp_path, change, message):
    path = write(tmp_path, classifier_dict(tmp_path, **change))
    assert_rejected(cli("tuning.run", str(path)), message, tmp_path)


def test_roc_auc_on_an_estimator_with_a_decision_function_is_accepted(tmp_path):
    path = write(tmp_path, classifier_dict(tmp_path, estimator=SVC, space=SPACE_C, metric="roc_auc"))
    result = cli("tuning.run", str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "best roc_auc: max" in result.stdout


def labelled_csv(tmp_path, labels) -> str:
    """A CSV of one feature and the target ``y`` holding ``labels``."""
    rng = np.random.default_rng(0)
    path = tmp_path / "rows.csv"
    pd.DataFrame({"x": rng.normal(size=len(labels)), "y": labels}).to_csv(path, index=False)
    return str(path)


BAD_DATA = [
    pytest.param(["a"] * 40, {}, "data.target must hold at least two classes", id="one-class"),
    pytest.param(
        ["a"] * 40 + ["b"] * 40 + ["c"],
        {},
        "must have at least 2 rows of each class to stratify",
        id="tiny-class",
    ),
    pytest.param(
        ["a"] * 40 + ["b"] * 40 + ["c"] * 4,
        {"cv": 5},
        "must have at least 5 training rows of each class to fill every fold of split.cv: 5; class 'c' has 3",
        id="class-smaller-than-folds",
    ),
    pytest.param(
        list(np.linspace(0.05, 3.95, 40)), {}, "has fractional numbers such as 0.05", id="float-target"
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("labels", "split", "message"), BAD_DATA)
def test_bad_classification_targets_are_rejected_before_anything_is_written(tmp_path, labels, split, message):
    data = {"source": labelled_csv(tmp_path, labels), "target": "y"}
    path = write(tmp_path, classifier_dict(tmp_path, data=data, split=split))
    assert_rejected(cli("tuning.run", str(path), "--num-cpus", "1"), message, tmp_path)


@pytest.mark.slow
def test_a_binary_scorer_on_three_classes_is_rejected(tmp_path):
    path = write(tmp_path, classifier_dict(tmp_path, data={"source": "iris"}, metric="f1"))
    assert_rejected(
        cli("tuning.run", str(path), "--num-cpus", "1"),
        "metric must be a metric that can score 'target'; got 'f1': Target is multiclass",
        tmp_path,
    )


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_classifier_yaml_end_to_end_with_both_runners(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    storage = tmp_path / "results"
    result = cli(
        "tuning.run", "experiments/classifier.yaml", "--runner", "both", "--set", f"storage_path={storage}"
    )
    assert result.returncode == 0, result.stderr
    (run_dir,) = (storage / "classifier").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["parity"]["identical"]
    assert (summary["metric"], summary["mode"], summary["metrics"]) == (
        "roc_auc",
        "max",
        ["roc_auc", "accuracy", "f1"],
    )
    runs = {
        name: {str(t["config"]): t["metrics"] for t in trials} for name, trials in summary["trials"].items()
    }
    for config, metrics in runs["tune"].items():  # every recorded metric, bit for bit
        assert {k: metrics[k] for k in summary["metrics"]} == {
            k: runs["sequential"][config][k] for k in summary["metrics"]
        }
    best = summary["best_model"]
    assert np.array(best["confusion_matrix"]).sum() == summary["split"]["test_rows"] == 114
    assert best["classes"] == [0, 1] and set(best["per_class"]) == {"0", "1"}
    assert "Best model on the validation rows:" in result.stdout and "roc_auc  accuracy  f1" in result.stdout
    assert 'class="confusion"' in (run_dir / "report.html").read_text()
    for runner in ("tune", "sequential"):
        trial = summary["trials"][runner][0]
        events = EventAccumulator(trial["path"])
        events.Reload()
        for metric in summary["metrics"]:
            (scalar,) = events.Scalars(f"ray/tune/{metric}")
            assert scalar.value == pytest.approx(trial["metrics"][metric], rel=1e-6)
    inspected = cli("tuning.inspect", str(run_dir))
    assert inspected.returncode == 0 and "roc_auc  accuracy  f1" in inspected.stdout
    model = joblib.load(run_dir / "best_model.joblib")
    rows = load_breast_cancer(as_frame=True).data.head(5)
    assert model.predict_proba(rows).shape == (5, 2)


@pytest.mark.slow
def test_the_tutorial_mse_is_computed_as_before_to_the_last_bit(housing_split, tmp_path):
    spec = TrialSpec.from_experiment(validate(experiment_dict(tmp_path, estimator={})))
    model = RandomForestRegressor(n_estimators=8, random_state=201, n_jobs=1)
    model.fit(housing_split.X_train, housing_split.y_train)
    expected = float(mean_squared_error(housing_split.y_test, model.predict(housing_split.X_test)))
    assert run_trial({"n_estimators": 8}, housing_split, spec)["mse"] == expected
    assert not housing_split.stratified and housing_split.y_train.dtype == np.float64


def test_accuracy_is_accuracy_score():  # the scikit-learn scorers are the library's own
    split = breast_cancer_split()
    model = RandomForestClassifier(n_estimators=4, random_state=0).fit(split.X_train, split.y_train)
    scores = scorer(["accuracy"])(model, split.X_test, split.y_test)
    assert scores == {"accuracy": accuracy_score(split.y_test, model.predict(split.X_test))}
