"""The checks after the schema: each names its key and line; what they let through.

Unit tests of the modules that decide results, without Ray: each builds its `TrialSpec`,
`Plan` or results directly on a few hundred rows (`tests.units`); the mutation run
(docs/testing.md, "Mutation testing") selects them.
"""

from __future__ import annotations

import pytest

from tests.conftest import experiment_dict
from tests.test_dry_run import cluster
from tuning.config import validate
from tuning.errors import ExperimentError
from tuning.planning.plan import Plan, make_plan

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


FOREST = {"class": "sklearn.ensemble.RandomForestRegressor", "space": {"n_estimators": [2, 4]}}
RIDGE = {"class": "sklearn.linear_model.Ridge", "space": {"alpha": [1.0]}}
SCALER = {"class": "sklearn.preprocessing.StandardScaler"}
RIDGE_STEP = {"class": "sklearn.linear_model.Ridge"}
NAMES = "reserved: preprocess, steps, memory, verbose, transform_input"
RIDGE_PARAMS = "alpha, copy_X, fit_intercept, max_iter, positive, random_state, solver, tol"


def _choice(**branches) -> dict:
    return {"estimator": {"choice": branches}, "space": {}}


def _piped(*steps, **space) -> dict:
    return {"estimator": {"steps": list(steps)}, "space": space or {"ridge__alpha": [1.0]}}


MODEL_CHECKS = [
    pytest.param(
        _choice(**{"a b": FOREST}),
        "estimator.choice.a b",
        "must be named with letters, digits, '_' or '-' (not 'estimator'); got 'a b'",
        id="branch-name",
    ),
    pytest.param(
        _choice(**{"a" * 65: FOREST}),
        "estimator.choice." + "a" * 65,
        f"must be named with letters, digits, '_' or '-' (not 'estimator'); got {'a' * 65!r}",
        id="branch-name-long",
    ),
    pytest.param(
        _choice(estimator=FOREST),
        "estimator.choice.estimator",
        "must be named with letters, digits, '_' or '-' (not 'estimator'); got 'estimator'",
        id="branch-named-estimator",
    ),
    pytest.param(
        _choice(f={**FOREST, "steps": [RIDGE_STEP]}),
        "estimator.choice.f",
        "must have one of class and steps; got both",
        id="branch-both",
    ),
    pytest.param(
        _choice(f={"space": {}}),
        "estimator.choice.f",
        "must have one of class and steps; got neither",
        id="neither",
    ),
    pytest.param(
        _choice(f={"steps": [RIDGE_STEP], "params": {"alpha": 2.0}, "space": {}}),
        "estimator.choice.f.params",
        "belongs to class; each step has its own params",
        id="branch-params-of-steps",
    ),
    pytest.param(
        _choice(f=FOREST, r=RIDGE, l={"class": "sklearn.linear_model.LogisticRegression"}),
        "estimator.choice.l",
        "must be a regressor like RandomForestRegressor (estimator.choice.f): a choice's branches are all "
        "classifiers or all regressors; got LogisticRegression, a classifier",
        id="branch-tasks",
    ),
    pytest.param(
        _choice(f=FOREST, r={"class": "sklearn.linear_model.Ridge", "space": {"alpah": [1.0]}}),
        "estimator.choice.r.space.alpah",
        f"is not a parameter of Ridge (did you mean 'alpha'?); valid: {RIDGE_PARAMS}",
        id="branch-space",
    ),
    pytest.param(
        _choice(f=FOREST, r={**RIDGE, "params": {"alpha": -1.0}}),
        "estimator.choice.r.params.alpha",
        "must be a float in the range [0.0, inf) or an array-like; got -1.0",
        id="branch-params",
    ),
    pytest.param(
        _choice(f=FOREST, r={"class": "sklearn.linear_model.Ridg"}),
        "estimator.choice.r.class",
        "must be an importable class (module 'sklearn.linear_model' has no attribute 'Ridg'); "
        "got 'sklearn.linear_model.Ridg'",
        id="branch-class",
    ),
    pytest.param(
        _piped(RIDGE_STEP, {**RIDGE_STEP, "name": "ridge"}),
        "estimator.steps.0.class",
        "must be a scikit-learn-style estimator class; it has no transform (a step before the last "
        "transforms the rows); got 'sklearn.linear_model.Ridge'",
        id="first-step-no-transformer",
    ),
    pytest.param(
        _piped(SCALER, {"class": "sklearn.preprocessing.MinMaxScaler"}, standardscaler__with_mean=[True]),
        "estimator.steps.1.class",
        "must be a scikit-learn-style estimator class; it has no predict (the last step is the model); "
        "got 'sklearn.preprocessing.MinMaxScaler'",
        id="last-step-no-model",
    ),
    pytest.param(
        _piped(SCALER, SCALER, RIDGE_STEP),
        "estimator.steps.1.class",
        f"must give each step its own name (another step has it; {NAMES}); got step name 'standardscaler'",
        id="same-default-name",
    ),
    pytest.param(
        _piped({**SCALER, "name": "a__b"}, RIDGE_STEP),
        "estimator.steps.0.name",
        f"must give each step its own name (names a step once, without '__' or '/'; {NAMES}); "
        "got step name 'a__b'",
        id="name-dunder",
    ),
    pytest.param(
        _piped({**SCALER, "name": "a/b"}, RIDGE_STEP),
        "estimator.steps.0.name",
        f"must give each step its own name (names a step once, without '__' or '/'; {NAMES}); "
        "got step name 'a/b'",
        id="name-slash",
    ),
    pytest.param(
        _piped({**SCALER, "name": "transform_input"}, RIDGE_STEP),
        "estimator.steps.0.name",
        f"must give each step its own name (names a step once, without '__' or '/'; {NAMES}); "
        "got step name 'transform_input'",
        id="name-reserved",
    ),
    pytest.param(
        _piped({**SCALER, "params": {"with_meen": True}}, RIDGE_STEP),
        "estimator.steps.0.params.with_meen",
        "is not a parameter of StandardScaler (did you mean 'with_mean'?); valid: copy, with_mean, with_std",
        id="step-param",
    ),
    pytest.param(
        _piped(SCALER, {**RIDGE_STEP, "params": {"alpha": -1.0}}),
        "estimator.steps.1.params.alpha",
        "must be a float in the range [0.0, inf) or an array-like; got -1.0",
        id="step-value",
    ),
    pytest.param(
        _piped(SCALER, RIDGE_STEP, ridge__alpha=[1.0, -1.0]),
        "space.ridge__alpha",
        "must be a float in the range [0.0, inf) or an array-like; got -1.0",
        id="step-space-value",
    ),
    pytest.param(
        _piped(SCALER, RIDGE_STEP, ridge__alpah=[1.0]),
        "space.ridge__alpah",
        f"is not a parameter of Ridge (did you mean 'alpha'?); valid: {RIDGE_PARAMS}",
        id="step-space-param",
    ),
    pytest.param(
        _piped(SCALER, RIDGE_STEP, ridg__alpha=[1.0]),
        "space.ridg__alpha",
        "must be a step__param name with a step among standardscaler, ridge (scikit-learn's Pipeline names) "
        "(did you mean 'ridge__alpha'?); got 'ridg__alpha'",
        id="no-such-step",
    ),
    pytest.param(
        _piped(SCALER, RIDGE_STEP, alpha=[1.0]),
        "space.alpha",
        "must be a step__param name with a step among standardscaler, ridge (scikit-learn's Pipeline names); "
        "got 'alpha'",
        id="no-step",
    ),
    pytest.param(
        _piped(
            SCALER, {"class": "sklearn.ensemble.BaggingRegressor"}, baggingregressor__estimator__max_depth=[1]
        ),
        "space.baggingregressor__estimator__max_depth",
        "is not a parameter of step baggingregressor (BaggingRegressor) "
        "(did you mean 'baggingregressor__estimator'?)",
        id="nested-param",
    ),
    pytest.param(
        {
            **_choice(v={"class": "tests.units.Voter"}, t={"class": "sklearn.tree.DecisionTreeClassifier"}),
            "metric": "roc_auc",
            "data": {"source": "iris"},
        },
        "metric",
        "must be a metric Voter can give; got 'roc_auc', which needs decision_function or predict_proba "
        "(Voter has no decision_function or predict_proba with these estimator.choice.v.params)",
        id="branch-metric-methods",
    ),
    pytest.param(
        {
            **_choice(t={"class": "sklearn.tree.DecisionTreeClassifier"}, v={"class": "tests.units.Voter"}),
            "metric": "roc_auc",
            "data": {"source": "iris"},
        },
        "metric",
        "must be a metric Voter can give; got 'roc_auc', which needs decision_function or predict_proba "
        "(Voter has no decision_function or predict_proba with these estimator.choice.v.params)",
        id="second-branch-metric-methods",
    ),
    pytest.param(
        {**_choice(f=FOREST, r=RIDGE), "search": {"budget": {"max": 4, "step": 2}}},
        "search.budget.param",
        "must not also be in estimator.choice.f.space (the budget sets it); got 'n_estimators'",
        id="budget-in-branch-space",
    ),
    pytest.param(
        {**_choice(f={"class": FOREST["class"]}, r=RIDGE), "search": {"budget": {"max": 4, "step": 2}}},
        "search.budget.param",
        "must be a parameter of Ridge (estimator.choice.r: a budget grows every branch's model); "
        "got 'n_estimators'",
        id="budget-branch-param",
    ),
    pytest.param(
        {
            **_choice(f={"class": FOREST["class"]}, a={"class": "sklearn.ensemble.AdaBoostRegressor"}),
            "search": {"budget": {"max": 4, "step": 2}},
        },
        "search.budget",
        "must belong to an estimator with warm_start (grown in steps); AdaBoostRegressor has none "
        "(estimator.choice.a: a budget grows every branch's model)",
        id="budget-branch-warm-start",
    ),
    pytest.param(
        {
            **_piped(SCALER, {"class": FOREST["class"]}, randomforestregressor__n_estimators=[2]),
            "search": {"budget": {"max": 4, "step": 2}},
        },
        "search.budget.param",
        "must not also be in space (the budget sets it); got 'n_estimators'",
        id="budget-in-pipeline-space",
    ),
    pytest.param(
        {**_choice(f=FOREST, r=RIDGE), "search": {"order": "largest_first"}},
        "search.size_param",
        "must name a grid of numbers in estimator.choice.r.space (every branch's) when search.order is "
        "largest_first; got 'n_estimators'",
        id="order-in-a-branch",
    ),
]


@pytest.mark.parametrize(("changes", "key", "message"), MODEL_CHECKS)
def test_each_check_of_a_pipeline_or_choice_names_its_key(tmp_path, changes, key, message):
    found, where, text = rejected_at(tmp_path, **changes)
    assert (found, text) == (key, message)
    known = [k for k in LINES if key == k or key.startswith(f"{k}.")]
    assert where == (f"f.yaml:{LINES[max(known, key=len)]}" if known else "f.yaml")


def test_what_the_checks_let_through_in_pipelines_and_choices(tmp_path):
    """Names with digits, '-' and '_', a step's n_jobs, largest_first over every branch's size,
    a budget beside a branch that searches nothing: each is let through and planned as written."""

    def planned(**changes) -> Plan:
        return make_plan(validate(experiment_dict(tmp_path, **changes)), "sequential", cluster())

    bagging = {"class": "sklearn.ensemble.BaggingRegressor", "params": {"n_jobs": 1}}
    plan = planned(**_piped({**SCALER, "name": "scale-1_x"}, bagging, baggingregressor__n_estimators=[1]))
    steps = plan.experiment.resolved()["estimator"]["steps"]
    assert [(s["name"], s["params"]) for s in steps] == [("scale-1_x", {}), (None, {"n_jobs": 1})]
    assert plan.configs == ({"baggingregressor__n_estimators": 1},)
    order = {"order": "largest_first"}
    trees = {"class": "sklearn.ensemble.ExtraTreesRegressor", "space": {"n_estimators": [2, 4]}}
    plan = planned(**_choice(f=FOREST, t=trees, **{"A-1_b": trees}), search=order)
    assert [(c["estimator"], c[f"{c['estimator']}/n_estimators"]) for c in plan.configs] == [
        (branch, n) for branch in ("f", "t", "A-1_b") for n in (4, 2)
    ]
    grown = {"budget": {"max": 4, "step": 2}}
    plan = planned(
        **_choice(f={**FOREST, "space": {"max_depth": [2]}}, t={**trees, "space": {}}), search=grown
    )
    assert plan.configs == ({"estimator": "f", "f/max_depth": 2}, {"estimator": "t"})
    assert plan.spec.budget == ("n_estimators", (2, 4))


SHARE_MODELS = [
    pytest.param(
        _choice(f=FOREST, r=RIDGE),
        "Ridge has no size parameter that grows by exact prefixes (forests, boosting) "
        "(in estimator.choice.r)",
        id="branch-no-family",
    ),
    pytest.param(
        _piped(
            SCALER,
            {"class": FOREST["class"]},
            randomforestregressor__n_estimators=[2, 4],
            randomforestregressor__warm_start=[False, True],
        ),
        "warm_start is set (the fits grow from earlier ones) "
        "(space.randomforestregressor__warm_start has True)",
        id="pipeline-value-breaks",
    ),
    pytest.param(
        _piped(SCALER, {"class": FOREST["class"]}, randomforestregressor__max_depth=[2, 4]),
        "the space does not vary randomforestregressor__n_estimators, the forest size parameter",
        id="pipeline-size-not-searched",
    ),
    pytest.param(
        _piped(SCALER, {"class": FOREST["class"]}, randomforestregressor__n_estimators={"randint": [2, 4]}),
        "space.randomforestregressor__n_estimators must be a list of sizes (grid or choice) to share fits",
        id="pipeline-size-range",
    ),
    pytest.param(
        _choice(f=FOREST, g={**FOREST, "space": {"n_estimators": {"uniform": [2, 4]}}}),
        "estimator.choice.g.space.n_estimators must be a list of sizes (grid or choice) to share fits "
        "(in estimator.choice.g)",
        id="branch-size-range",
    ),
    pytest.param(
        _choice(f={**FOREST, "space": {"n_estimators": [2], "warm_start": [False, True]}}),
        "warm_start is set (the fits grow from earlier ones) (estimator.choice.f.space.warm_start has True) "
        "(in estimator.choice.f)",
        id="branch-value-breaks",
    ),
]


@pytest.mark.parametrize(("changes", "reason"), SHARE_MODELS)
def test_why_fits_of_a_pipeline_or_branch_are_not_shared(tmp_path, changes, reason):
    from tuning.config import why_not_share

    assert why_not_share(validate(experiment_dict(tmp_path, **changes))) == reason


def test_fits_of_pipelines_and_branches_are_shared_where_exact(tmp_path):
    from tuning.config import why_not_share

    boosting = {
        "class": "sklearn.ensemble.GradientBoostingRegressor",
        "space": {"n_estimators": [2, 3], "max_depth": [2]},
    }
    assert why_not_share(validate(experiment_dict(tmp_path, **_choice(f=FOREST, g=boosting)))) is None
    piped = _piped(
        SCALER,
        {"class": FOREST["class"], "params": {"max_depth": 3}},
        randomforestregressor__n_estimators=[2, 4],
        standardscaler__with_mean=[False, True],
    )
    assert why_not_share(validate(experiment_dict(tmp_path, **piped))) is None
