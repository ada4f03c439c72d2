"""The checks after the schema: each names its key and line; what they let through.

Unit tests of the modules that decide results, without Ray: each builds its `TrialSpec`,
`Plan` or results directly on a few hundred rows (`tests.units`); the mutation run
(docs/testing.md, "Mutation testing") selects them.
"""

from __future__ import annotations

import pytest

from tests.conftest import experiment_dict
from tuning.config import validate
from tuning.errors import ExperimentError

LINES = {
    key: line
    for line, key in enumerate(
        [
            "estimator.class",
            "estimator.params",
            "space",
            "metric",
            "metrics",
            "search.budget",
            "search.budget.param",
            "search.size_param",
            "search.share_fits",
            "data.source",
        ],
        start=10,
    )
}


def rejected_at(tmp_path, **changes) -> tuple[str, str, str]:
    """``(key, line, message)`` of the error an experiment with ``changes`` gets."""
    with pytest.raises(ExperimentError) as caught:
        validate(experiment_dict(tmp_path, **changes), source="f.yaml", lines=LINES)
    error = caught.value
    assert str(error).startswith(f"{error.where}: {error.key} ")
    return error.key, error.where, str(error).removeprefix(f"{error.where}: {error.key} ")


FOREST_PARAMS = ", ".join(
    sorted(__import__("sklearn.ensemble").ensemble.RandomForestRegressor().get_params())
)


CHECKS = [
    pytest.param(
        {"estimator": {"class": "sklearn.ensemble.NoSuchForest"}},
        "estimator.class",
        "must be an importable class (module 'sklearn.ensemble' has no attribute 'NoSuchForest'); "
        "got 'sklearn.ensemble.NoSuchForest'",
        id="class-not-found",
    ),
    pytest.param(
        {"estimator": {"params": {"n_estimatorz": 3}}},
        "estimator.params.n_estimatorz",
        f"is not a parameter of RandomForestRegressor (did you mean 'n_estimators'?); valid: {FOREST_PARAMS}",
        id="param-with-hint",
    ),
    pytest.param(
        {"space": {"qqq": [1]}},
        "space.qqq",
        f"is not a parameter of RandomForestRegressor; valid: {FOREST_PARAMS}",
        id="space-param",
    ),
    pytest.param(
        {"estimator": {"params": {"max_depth": -3}}},
        "estimator.params.max_depth",
        "must be an int in the range [1, inf) or None; got -3",
        id="fixed-value",
    ),
    pytest.param(
        {"space": {"n_estimators": [4, 0]}},
        "space.n_estimators",
        "must be an int in the range [1, inf); got 0",
        id="grid-value",
    ),
    pytest.param(
        {"space": {"n_estimators": {"choice": [4, 0]}}},
        "space.n_estimators",
        "must be an int in the range [1, inf); got 0",
        id="choice-value",
    ),
    pytest.param(
        {"space": {"n_estimators": {"randint": [0, 4]}}},
        "space.n_estimators",
        "must be an int in the range [1, inf); got 0",
        id="randint-low",
    ),
    pytest.param(
        {"estimator": {"class": "tests.units.Picky"}, "space": {"depth": [1, -1]}},
        "space.depth",
        "is rejected by Picky: depth must be positive",
        id="own-validation",
    ),
    pytest.param(
        {
            "estimator": {"class": "tests.units.Picky", "params": {"quiet": True, "depth": -1}},
            "space": {"depth": [1]},
        },
        "estimator.params",
        "is rejected by Picky: ValueError",
        id="own-validation-silent",
    ),
    pytest.param(
        {
            "estimator": {"class": "tests.units.Named", "params": {"depth": -2}},
            "space": {"quiet": [True]},
        },
        "estimator.params.depth",
        "is rejected by Named: The 'depth' parameter of Named is -2",
        id="own-validation-named",
    ),
    pytest.param(
        {"metric": "accuracy"},
        "metric",
        "must be a regression metric for RandomForestRegressor (a regressor: mse, rmse, mae, r2, "
        "neg_mean_absolute_percentage_error, ...); got 'accuracy', a classification metric",
        id="metric-task",
    ),
    pytest.param(
        {"metrics": ["mse", "accuracy"]},
        "metrics.1",
        "must be a regression metric for RandomForestRegressor (a regressor: mse, rmse, mae, r2, "
        "neg_mean_absolute_percentage_error, ...); got 'accuracy', a classification metric",
        id="metrics-task",
    ),
    pytest.param(
        {
            "estimator": {"class": "tests.units.Voter"},
            "space": {},
            "split": {"repeats": 2},
            "metric": "roc_auc",
        },
        "metric",
        "must be a metric Voter can give; got 'roc_auc', which needs decision_function or predict_proba "
        "(Voter has no decision_function or predict_proba with these estimator.params)",
        id="metric-methods",
    ),
    pytest.param(
        {"estimator": {"class": "sklearn.svm.SVC"}, "space": {"C": [1.0]}, "metric": "neg_log_loss"},
        "metric",
        "must be a metric SVC can give; got 'neg_log_loss', which needs predict_proba "
        "(SVC has no predict_proba with these estimator.params)",
        id="metric-method",
    ),
    pytest.param(
        {"space": {"max_depth": [2]}, "search": {"budget": {"param": "n_trees", "max": 4, "step": 2}}},
        "search.budget.param",
        "must be a parameter of RandomForestRegressor; got 'n_trees'",
        id="budget-param",
    ),
    pytest.param(
        {
            "estimator": {"class": "sklearn.linear_model.Ridge"},
            "space": {"alpha": [1.0]},
            "search": {"budget": {"param": "max_iter", "max": 4, "step": 2}},
        },
        "search.budget",
        "must belong to an estimator with warm_start (grown in steps); Ridge has none",
        id="budget-warm-start",
    ),
    pytest.param(
        {"space": {"max_depth": [2, 3]}, "search": {"order": "largest_first"}},
        "search.size_param",
        "must name a grid of numbers in space when search.order is largest_first; got 'n_estimators'",
        id="order-no-size",
    ),
    pytest.param(
        {
            "space": {"criterion": ["squared_error", "absolute_error"]},
            "search": {"order": "largest_first", "size_param": "criterion"},
        },
        "search.size_param",
        "must name a grid of numbers in space when search.order is largest_first; got 'criterion'",
        id="order-not-numbers",
    ),
    pytest.param(
        {"space": {"n_estimators": {"randint": [2, 9]}}, "search": {"order": "largest_first"}},
        "search.size_param",
        "must name a grid of numbers in space when search.order is largest_first; got 'n_estimators'",
        id="order-range",
    ),
    pytest.param(
        {"data": {"source": "missing.csv", "target": "y"}},
        "data.source",
        "must be a built-in data set (california_housing, breast_cancer, wine, iris, digits) or an existing "
        "CSV/Parquet file; got 'missing.csv' (no such file)",
        id="data-missing",
    ),
]


@pytest.mark.parametrize(("changes", "key", "message"), CHECKS)
def test_each_check_names_its_key_and_line(tmp_path, changes, key, message):
    found, where, text = rejected_at(tmp_path, **changes)
    assert (found, text) == (key, message)
    known = max((k for k in LINES if key == k or key.startswith(f"{k}.")), key=len)
    assert where == f"f.yaml:{LINES[known]}"


def test_a_class_that_cannot_be_built_bare_is_refused(tmp_path):
    key, where, text = rejected_at(tmp_path, estimator={"class": "sklearn.pipeline.Pipeline"})
    assert (key, where) == ("estimator.class", "f.yaml:10")
    assert text.startswith("must be an estimator class that can be built without arguments (")
    assert text.endswith(
        "); a pipeline is written as its steps (estimator.steps); got 'sklearn.pipeline.Pipeline'"
    )


def test_what_the_checks_let_through(tmp_path):
    raw = {"estimator": {"class": "sklearn.ensemble.GradientBoostingRegressor"}}
    # a range's upper bound is excluded (uniform, randint): only its lower bound is a value
    validate(experiment_dict(tmp_path, **raw, space={"validation_fraction": {"uniform": [0.1, 1.0]}}))
    validate(experiment_dict(tmp_path, space={"n_estimators": [4, 8]}, search={"order": "largest_first"}))
    svc = {"class": "sklearn.svm.SVC", "params": {"probability": True}}
    validate(experiment_dict(tmp_path, estimator=svc, space={"C": [1.0]}, metric="neg_log_loss"))
    for name in ("rows.csv", "rows.PARQUET", "rows.pq"):
        (tmp_path / name).write_text("a,y\n1,2\n")
        validate(experiment_dict(tmp_path, data={"source": str(tmp_path / name), "target": "y"}))
    validate(experiment_dict(tmp_path, data={"source": "s3://bucket/rows.txt", "target": "y"}))
    validate(
        experiment_dict(
            tmp_path,
            data={"source": "iris"},
            estimator={"class": "sklearn.tree.DecisionTreeClassifier"},
            space={"max_depth": [2]},
        )
    )
    (tmp_path / "rows.txt").write_text("a,y\n1,2\n")
    key, where, text = rejected_at(tmp_path, data={"source": str(tmp_path / "rows.txt"), "target": "y"})
    assert (key, text) == ("data.source", f"must end in .csv or .parquet; got '{tmp_path / 'rows.txt'}'")
    assert where == "f.yaml:19"


SHARE = [
    pytest.param(
        {"search": {"algorithm": "optuna", "num_samples": 2}},
        "search.algorithm optuna proposes each configuration after the last one's score",
        id="optuna",
    ),
    pytest.param(
        {"space": {"max_depth": [2, 3]}, "search": {"budget": {"max": 4, "step": 2}}},
        "search.budget grows each trial step by step already",
        id="budget",
    ),
    pytest.param(
        {"split": {"repeats": 2}},
        "split.repeats fits each configuration once per split (chunks of repeats are the trials)",
        id="repeats",
    ),
    pytest.param(
        {"estimator": {"class": "sklearn.linear_model.Ridge"}, "space": {"alpha": [1.0, 2.0]}},
        "Ridge has no size parameter that grows by exact prefixes (forests, boosting)",
        id="no-family",
    ),
    pytest.param(
        {"space": {"max_depth": [2, 3]}},
        "the space does not vary n_estimators, the forest size parameter",
        id="size-not-searched",
    ),
    pytest.param(
        {"space": {"n_estimators": {"randint": [2, 9]}}},
        "space.n_estimators must be a list of sizes (grid or choice) to share fits",
        id="size-range",
    ),
    pytest.param(
        {"estimator": {"params": {"random_state": None}}},
        "random_state must be a fixed integer (it is None)",
        id="fixed-breaks",
    ),
    pytest.param(
        {"space": {"n_estimators": [2, 4], "warm_start": [False, True]}},
        "warm_start is set (the fits grow from earlier ones) (space.warm_start has True)",
        id="value-breaks",
    ),
    pytest.param(
        {"space": {"n_estimators": [2, 4], "warm_start": [True]}},
        "warm_start is set (the fits grow from earlier ones)",
        id="first-value-breaks",
    ),
    pytest.param(
        {"space": {"n_estimators": [2, 4], "warm_start": {"choice": [False, True]}}},
        "warm_start is set (the fits grow from earlier ones) (space.warm_start has True)",
        id="choice-breaks",
    ),
]


@pytest.mark.parametrize(("changes", "reason"), SHARE)
def test_share_fits_true_is_refused_with_the_reason_sharing_would_not_be_exact(tmp_path, changes, reason):
    from tuning.config import why_not_share

    raw = experiment_dict(tmp_path, **changes)
    raw["search"] = {**raw.get("search", {}), "share_fits": "auto"}
    assert why_not_share(validate(raw)) == reason
    raw["search"]["share_fits"] = True
    key, where, text = rejected_at(tmp_path, **{k: v for k, v in raw.items() if k != "storage_path"})
    assert (key, where) == ("search.share_fits", "f.yaml:18")
    assert text == f"must be false or auto here: fits cannot be shared exactly because {reason}"


def test_fits_are_shared_where_they_are_exact(tmp_path):
    from tuning.config import why_not_share

    raw = experiment_dict(tmp_path, space={"n_estimators": {"choice": [2, 4]}, "max_depth": [2, 3]})
    raw["search"] = {"share_fits": True, "algorithm": "random", "num_samples": 2}
    assert why_not_share(validate(raw)) is None
    boosting = {"class": "sklearn.ensemble.GradientBoostingRegressor"}
    assert (
        why_not_share(validate(experiment_dict(tmp_path, estimator=boosting, space={"n_estimators": [2, 4]})))
        is None
    )
