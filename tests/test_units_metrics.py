"""`tuning.metrics`, the one home of metric names, directions, tasks and scoring: each answer
against scikit-learn's own documented behaviour, written out here (not computed by the module)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from tuning import metrics
from tuning.metrics import Metric

UNKNOWN = (
    "must be mse, rmse, mae, r2 or a scikit-learn scorer name "
    "(sklearn.metrics.get_scorer_names(): accuracy, f1_macro, roc_auc, neg_log_loss, ...); got "
)


@pytest.mark.parametrize(
    ("name", "task", "needs"),
    [
        ("accuracy", "classifier", ("predict",)),
        ("f1_macro", "classifier", ("predict",)),
        ("roc_auc", "classifier", ("decision_function", "predict_proba")),
        ("roc_auc_ovr", "classifier", ("predict_proba",)),
        ("neg_log_loss", "classifier", ("predict_proba",)),
        ("top_k_accuracy", "classifier", ("decision_function", "predict_proba")),
        ("neg_mean_squared_error", "regressor", ("predict",)),
        ("neg_mean_absolute_percentage_error", "regressor", ("predict",)),
        ("explained_variance", "regressor", ("predict",)),
        ("r2", "regressor", ("predict",)),
    ],
)
def test_a_scikit_learn_scorer_is_greater_is_better_with_its_task_and_methods(name, task, needs):
    made = metrics._scikit_learn(name)
    assert (made.name, made.mode, made.task, made.needs) == (name, "max", task, needs)
    assert made.scorer._score_func is metrics.METRICS.get(name, made).scorer._score_func


def test_the_table_holds_every_scorer_as_its_builder_makes_it():
    built = [metrics._scikit_learn(name) for name in metrics.NAMES if name not in metrics.SHORT_NAMES]
    assert [(m.name, m.mode, m.task, m.needs) for m in built] == [
        (m.name, m.mode, m.task, m.needs)
        for m in metrics.METRICS.values()
        if m.name not in metrics.SHORT_NAMES
    ]


def test_a_short_name_scores_the_predictions_with_its_function():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0) ** 1.5
    model = LinearRegression().fit(X, y)
    predicted = model.predict(X)
    for name, func, mode in [("mse", mean_squared_error, "min"), ("r2", r2_score, "max")]:
        made = metrics._short(name, func, mode)
        assert (made.name, made.mode, made.task, made.needs) == (name, mode, "regressor", ("predict",))
        assert made.scorer(model, X, y) == func(y, predicted)
    assert metrics.METRICS["rmse"].scorer(model, X, y) == pytest.approx(
        math.sqrt(mean_squared_error(y, predicted))
    )
    assert metrics.METRICS["mae"].scorer(model, X, y) == mean_absolute_error(y, predicted)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("mse", None),
        ("neg_log_loss", None),
        ("msee", UNKNOWN + "'msee'; closest: mse, rmse"),
        ("f1_macr", UNKNOWN + "'f1_macr'; closest: f1_macro, f1_micro"),
        ("precisio", UNKNOWN + "'precisio'; closest: precision, precision_micro, precision_macro"),
        ("zzzzq", UNKNOWN + "'zzzzq'"),
        (5, UNKNOWN + "5"),
        (None, UNKNOWN + "None"),
    ],
)
def test_an_unknown_metric_names_the_closest_three(name, message):
    assert metrics.unknown(name) == message


@pytest.mark.parametrize(
    ("key", "is_metric"),
    [
        ("mse", True),
        ("mse_std", True),
        ("accuracy_std", True),
        ("mse_STD", False),
        ("_stdmse", False),
        ("started_at", False),
        ("mse_repeats", False),
    ],
)
def test_a_metric_key_is_a_metric_or_its_spread(key, is_metric):
    assert metrics.is_metric_key(key) is is_metric


def test_bounds():
    assert metrics.bounds("mse") == (0, math.inf)
    assert metrics.bounds("rmse") == (0, math.inf)
    assert metrics.bounds("mae") == (0, math.inf)
    assert metrics.bounds("r2") == (-math.inf, 1)
    assert metrics.bounds("accuracy") == (-math.inf, math.inf)


@pytest.mark.parametrize(
    ("names", "task", "y_train", "y_test", "expected"),
    [
        (["mse", "r2"], "regressor", [1.0, 2.0, 3.0], [-1.0, 2.0], None),
        # the mean (1.0) is a positive prediction; a class prior's most frequent value (-1.0) is not
        (["neg_mean_poisson_deviance"], "regressor", [-1.0, 0.0, 4.0], [0.0, 1.0], None),
        (
            ["mse", "neg_mean_squared_log_error"],
            "regressor",
            [1.0, 2.0, 3.0],
            [-1.0, 2.0],
            (
                "neg_mean_squared_log_error",
                "Mean Squared Logarithmic Error cannot be used when targets "
                "contain values less than or equal to -1.",
            ),
        ),
        (["accuracy", "f1_macro"], "classifier", ["a", "b", "c"], ["a", "b", "c"], None),
        (
            ["accuracy", "f1"],
            "classifier",
            ["a", "b", "c"],
            ["a", "b", "c"],
            (
                "f1",
                "Target is multiclass but average='binary'. Please choose another average setting, "
                "one of [None, 'micro', 'macro', 'weighted'].",
            ),
        ),
        (
            ["accuracy", "f1", "roc_auc"],
            "classifier",
            ["a", "b"],
            ["a", "b"],
            ("f1", "pos_label=1 is not a valid label: It should be one of ['a' 'b']"),
        ),
        (["roc_auc", "neg_log_loss"], "classifier", [0, 1, 1], [1, 0], None),
        (
            ["accuracy", "roc_auc"],
            "classifier",
            [0, 1, 2],
            [0, 1, 2],
            ("roc_auc", "multi_class must be in ('ovo', 'ovr')"),
        ),
    ],
)
def test_unscorable_names_the_first_metric_that_cannot_score_the_targets(
    names, task, y_train, y_test, expected
):
    assert metrics.unscorable(names, task, np.array(y_train), np.array(y_test)) == expected


def test_unscorable_keeps_the_first_line_or_else_the_errors_type(monkeypatch):
    def raising(message):
        def scorer(model, X, y):
            assert len(X) == len(y) and X.shape[1] == 1 and model.predict(X).shape == (len(y),)
            raise ValueError(message)

        return Metric("x", "max", "regressor", scorer)

    monkeypatch.setitem(metrics.METRICS, "two_lines", raising("first line\nsecond line"))
    monkeypatch.setitem(metrics.METRICS, "silent", raising("  "))
    y = np.array([1.0, 2.0])
    assert metrics.unscorable(["two_lines"], "regressor", y, y) == ("two_lines", "first line")
    assert metrics.unscorable(["silent"], "regressor", y, y) == ("silent", "ValueError")


def test_a_warning_while_probing_a_metric_is_not_shown(recwarn):
    assert metrics.unscorable(["precision_macro"], "classifier", np.array([0, 1]), np.array([0, 1])) is None
    assert not recwarn.list  # a constant baseline predicts one class: precision is undefined for the other


def test_the_class_report_keeps_the_given_classes_and_order(recwarn):
    report = metrics.class_report(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0]), [1, 0, 2])
    assert not recwarn.list  # an undefined precision is 0, without scikit-learn's warning
    assert report["classes"] == [1, 0, 2]
    # rows: true 1, 0, 2; columns: predicted 1, 0, 2 (class 2 never occurs, class 1 is never predicted)
    assert report["confusion_matrix"] == [[0, 2, 0], [0, 2, 0], [0, 0, 0]]
    assert list(report["per_class"]) == ["1", "0", "2"]
    assert report["per_class"]["1"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 2.0}
    assert report["per_class"]["0"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1-score": pytest.approx(2 / 3),
        "support": 2.0,
    }
    assert report["per_class"]["2"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0.0}
    assert report["averages"] == {
        "macro avg": {
            "precision": pytest.approx(0.5 / 3),
            "recall": pytest.approx(1 / 3),
            "f1-score": pytest.approx(2 / 9),
            "support": 4.0,
        },
        "weighted avg": {"precision": 0.25, "recall": 0.5, "f1-score": pytest.approx(1 / 3), "support": 4.0},
    }


def test_a_probability_scorer_scores_a_classifier():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    model = LogisticRegression().fit(X, y)
    scores = metrics.scorer(["accuracy", "neg_log_loss"])(model, X, y)
    assert scores["accuracy"] == 1.0 and -1 < scores["neg_log_loss"] < 0
