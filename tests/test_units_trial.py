"""The trial function and the space: build, fit, score; expansion into trials.

Unit tests of the modules that decide results, without Ray: each builds its `TrialSpec`,
`Plan` or results directly on a few hundred rows (`tests.units`); the mutation run
(docs/testing.md, "Mutation testing") selects them.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_squared_error
from sklearn.pipeline import Pipeline

from tests.conftest import experiment_dict
from tests.units import (
    GROWER,
    Grower,
    tiny_split,
)
from tuning.config import validate
from tuning.estimators.space import (
    config_key,
    distinct_count,
    distinct_sample,
    expand,
    for_algorithm,
    ordered,
    sampled,
    to_tune,
    variant_generator,
)
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec, build_estimator, final_estimator, run_trial
from tuning.trial.validation import REPEAT_CHUNK


def test_a_budget_grows_one_model_per_fold_and_reports_every_step(grower_log):
    params = {"n_jobs": 2, "warm_start": True, "sleep": 0.002}
    spec = TrialSpec(GROWER, params, budget=("n_estimators", (2, 4, 6)), cv=2, metrics=("mse",))
    reports: list[dict] = []
    before = time.time()
    result = run_trial({}, tiny_split(), spec, report=reports.append)
    assert [(r["step"], r["budget"]) for r in reports] == [(1, 2), (2, 4), (3, 6)]
    assert result == reports[-1] and set(result) == {
        "mse",
        "mse_std",
        "mse_repeats",  # every fold's score: what tuning.reports.selection compares
        "model_bytes",
        "predict_s_per_1k",
        "fit_time_s",
        "started_at",
        "ended_at",
        "pid",
        "budget",
        "step",
        "model",
    }
    assert result["model"] == "Grower"  # what the trial built, by its class
    fits = [entry for entry in grower_log if entry[0] == "fit"]
    # each fold's model grows: fitted with the trial's threads, scored with one
    assert fits == [("fit", size, 2, step) for step, size in enumerate((2, 4, 6), 1) for _ in range(2)]
    assert {entry[2] for entry in grower_log if entry[0] == "predict"} == {1}
    assert 6 * 0.002 <= result["fit_time_s"] <= result["ended_at"] - result["started_at"]
    assert before <= reports[0]["started_at"] == result["started_at"] <= result["ended_at"] <= time.time()
    assert result["pid"] == os.getpid()


def test_without_a_budget_one_hold_out_score_is_reported_once(grower_log):
    split, reports = tiny_split(), []
    spec = TrialSpec(GROWER, {}, metrics=("mse", "r2"))
    result = run_trial({"n_estimators": 5}, split, spec, report=reports.append)
    predicted = float(np.mean(split.y_train)) + 0.01 * 5 + 0.001 * 1
    expected = mean_squared_error(split.y_test, np.full(len(split.y_test), predicted))
    assert reports == [result] and result["mse"] == expected
    costs = ("model_bytes", "predict_s_per_1k")  # tuning.trial.fit.model_costs: one more predict, timed
    assert set(result) == {"mse", "r2", "fit_time_s", *costs, "started_at", "ended_at", "pid", "model"}
    assert grower_log == [("fit", 5, None, 1), ("predict", 5, None), ("predict", 5, None)]
    assert run_trial({"n_estimators": 5}, split, spec)["mse"] == expected  # no report: the same
    grower_log.clear()
    run_trial({"n_estimators": 5}, split, TrialSpec(GROWER, {"n_jobs": 2}, metrics=("mse",)))
    assert grower_log == [("fit", 5, 2, 1), ("predict", 5, 1), ("predict", 5, 1)]  # 2 threads fit, 1 predicts


def test_a_trial_hands_out_its_model_before_reporting_only_when_it_is_the_refits_fit(grower_log):
    split, events = tiny_split(), []
    spec = TrialSpec(GROWER, {"n_jobs": 2}, metrics=("mse",))
    assert spec.one_fit
    result = run_trial({"n_estimators": 3}, split, spec, report=events.append, keep=events.append)
    model, reported = events
    assert isinstance(model, Grower) and reported is result  # the model first, then its result
    assert (model.n_estimators, model.n_jobs, model.fits_) == (3, 1, 1)  # fitted, to predict with one thread
    assert mean_squared_error(split.y_test, model.predict(split.X_test)) == result["mse"]
    budget = ("n_estimators", (1, 2))
    for other in (replace(spec, cv=2), replace(spec, repeats=2), replace(spec, budget=budget)):
        handed: list = []
        run_trial({"n_estimators": 3}, split, other, keep=handed.append)
        assert not other.one_fit and handed == []  # folds, repeats, steps: not the refit's fit


def test_a_chunk_of_repeats_scores_its_own_splits_and_keeps_each_score():
    split = tiny_split()
    whole = run_trial({}, split, TrialSpec(GROWER, {}, repeats=4, seed=3))
    spec = TrialSpec(GROWER, {}, repeats=4, seed=3, chunk=2)
    second = run_trial({REPEAT_CHUNK: 1}, split, spec)
    assert len(whole["mse_repeats"]) == 4 and second["mse_repeats"] == whole["mse_repeats"][2:]
    assert second["mse"] == np.mean(whole["mse_repeats"][2:])
    cv = run_trial({}, split, TrialSpec(GROWER, {}, cv=3))
    assert len(cv["mse_repeats"]) == 3 and "mse_std" in cv  # k folds: mean, std and each fold's score


def test_the_trials_fixed_parameters_come_from_the_experiment(tmp_path):
    raw = experiment_dict(
        tmp_path,
        resources={"num_cpus": 2.7},
        split={"cv": 3, "seed": 5, "test_size": 0.3},
        metric="r2",
        metrics=["mae"],
        space={"min_samples_leaf": [1, 2]},
        search={"budget": {"max": 8, "step": 4}},
    )
    spec = TrialSpec.from_experiment(validate(raw))
    assert spec.params == {"max_depth": 6, "random_state": 201, "n_jobs": 2, "warm_start": True}
    assert spec.budget == ("n_estimators", (4, 8))
    assert (spec.cv, spec.seed, spec.repeats, spec.test_size) == (3, 5, None, 0.3)
    assert spec.metrics == ("r2", "mae") and spec.classifier is False
    raw = experiment_dict(
        tmp_path,
        estimator={"class": "sklearn.tree.DecisionTreeClassifier"},
        resources={"num_cpus": 0.5},
        space={"max_depth": [2]},
        split={"repeats": 2},
    )
    spec = TrialSpec.from_experiment(validate(raw))
    assert spec.classifier is True and spec.budget is None and spec.repeats == 2
    assert spec.params == {"random_state": 201} and spec.metrics == ("accuracy",)
    forest = TrialSpec.from_experiment(validate(experiment_dict(tmp_path, resources={"num_cpus": 0.5})))
    assert forest.params["n_jobs"] == 1 and "warm_start" not in forest.params


def raw_split() -> Split:
    """Rows with a category column and gaps: the trial prepares them in a pipeline."""
    frame = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, 10.0, 5.0, np.nan, 7.0, 8.0],
            "kind": ["a", "b", np.nan, "b", "a", "b", "b", "c"],
        }
    )
    y = np.arange(8, dtype=float)
    return Split(frame[:6], frame[6:], y[:6], y[6:], ("x", "kind"), "y", categorical=("kind",), raw=True)


def test_raw_rows_are_imputed_and_one_hot_encoded_in_the_pipeline():
    split = raw_split()
    model = build_estimator({"n_estimators": 2}, split, TrialSpec(GROWER, {}))
    assert isinstance(model, Pipeline) and isinstance(final_estimator(model), Grower)
    # what a saved model shows: its steps by name
    assert (
        list(model.named_steps) == ["preprocess", "estimator"]
        and model.named_steps["estimator"].n_estimators == 2
    )
    assert final_estimator(model).n_estimators == 2
    prepare = model.named_steps["preprocess"].fit(split.X_train)
    out = prepare.transform(split.X_test)
    assert list(prepare.get_feature_names_out()) == ["x", "kind_a", "kind_b"]
    assert isinstance(out, np.ndarray)  # dense, not sparse
    assert prepare.named_transformers_["numeric"].statistics_.tolist() == [4.0]  # the median
    assert list(prepare.named_transformers_) == ["numeric", "categorical"]
    gaps = prepare.transform(pd.DataFrame({"x": [np.nan], "kind": pd.Series([np.nan], dtype=object)}))
    assert gaps.tolist() == [[4.0, 0.0, 1.0]]  # the median; the most frequent kind, b
    assert prepare.transform(pd.DataFrame({"x": [1.0], "kind": ["zzz"]})).tolist() == [[1.0, 0.0, 0.0]]
    kinds = pd.DataFrame({"x": np.arange(40.0), "kind": [f"k{i % 20}" for i in range(40)]})
    many = Split(kinds, kinds, np.arange(40.0), np.arange(40.0), ("x", "kind"), "y", ("kind",), raw=True)
    wide = build_estimator({}, many, TrialSpec(GROWER, {})).named_steps["preprocess"].fit_transform(kinds)
    assert isinstance(wide, np.ndarray) and wide.shape == (40, 21)  # 21 columns, 2 set: still dense
    plain = build_estimator({"n_estimators": 2}, tiny_split(), TrialSpec(GROWER, {"sleep": 0.5}))
    assert isinstance(plain, Grower) and (plain.n_estimators, plain.sleep) == (2, 0.5)
    assert final_estimator(plain) is plain


SPACE = {"a": {"grid": [1, 2, 3]}, "b": {"choice": ["x", "y"]}}


def test_a_configurations_key_ignores_key_order_and_shows_any_value():
    assert config_key({"b": 1, "a": 2}) == config_key({"a": 2, "b": 1}) == '{"a": 2, "b": 1}'
    assert config_key({"f": float}) == '{"f": "<class \'float\'>"}'  # not JSON: its text


def test_grid_lists_become_choices_only_for_sampling_algorithms():
    space = {"a": {"grid": [1, 2]}, "x": {"uniform": [0.0, 1.0]}}
    assert sampled(space) == {"a": {"choice": [1, 2]}, "x": {"uniform": [0.0, 1.0]}}
    assert for_algorithm(space) is space and for_algorithm(space, "grid") is space
    assert for_algorithm(space, "random") == sampled(space) == for_algorithm(space, "optuna")


def test_distinct_count_multiplies_lists_and_gives_up_on_ranges():
    assert distinct_count(SPACE) == 6
    assert distinct_count({"a": {"grid": [1, 2, 3, 4]}}) == 4
    assert distinct_count({**SPACE, "x": {"uniform": [0.0, 1.0]}}) is None
    assert distinct_count({"x": {"randint": [1, 9]}}) is None


def test_a_distinct_sample_draws_without_replacement_in_the_spaces_key_order():
    every = distinct_sample(SPACE, 6, seed=4)
    assert sorted(config_key(c) for c in every) == sorted(
        config_key({"a": a, "b": b}) for a in (1, 2, 3) for b in ("x", "y")
    )
    assert all(list(c) == ["a", "b"] for c in every)
    assert distinct_sample(SPACE, 50, seed=4) == every  # never more than there are
    some = distinct_sample(SPACE, 3, seed=4)
    assert len(some) == 3 and some == distinct_sample(SPACE, 3, seed=4)
    assert all(c in every for c in some)
    assert distinct_sample(SPACE, 6, seed=5) != every


def test_expand_runs_grids_whole_samples_lists_for_random_and_refuses_adaptive():
    space = {"a": {"grid": [1, 2]}, "x": {"uniform": [0.0, 1.0]}}
    grid = expand(space, 3, seed=1)
    assert len(grid) == 6 and [c["a"] for c in grid] == [1, 2] * 3
    assert grid == expand(space, 3, seed=1, algorithm="grid") != expand(space, 3, seed=2)
    random = expand(space, 3, seed=1, algorithm="random")
    assert len(random) == 3 and all(c["a"] in (1, 2) and 0.0 <= c["x"] < 1.0 for c in random)
    assert expand(SPACE, 4, seed=1, algorithm="random") == distinct_sample(SPACE, 4, 1)
    with pytest.raises(ValueError, match="an adaptive search"):
        expand(SPACE, 4, seed=1, algorithm="optuna")


def test_to_tune_maps_each_domain_to_tunes_own():
    from ray.tune.search.sample import Categorical, Float, Integer

    space = to_tune(
        {
            "g": {"grid": [1, 2]},
            "c": {"choice": [3, 4]},
            "u": {"uniform": [0.5, 2.0]},
            "l": {"loguniform": [1e-3, 1e-1]},
            "r": {"randint": [1, 9]},
        }
    )
    assert space["g"] == {"grid_search": [1, 2]}
    assert isinstance(space["c"], Categorical) and space["c"].categories == [3, 4]
    assert isinstance(space["u"], Float) and (space["u"].lower, space["u"].upper) == (0.5, 2.0)
    assert type(space["u"].get_sampler()).__name__ == "_Uniform"
    assert (space["l"].lower, space["l"].upper) == (1e-3, 1e-1)
    assert type(space["l"].get_sampler()).__name__ == "_LogUniform"
    assert isinstance(space["r"], Integer) and (space["r"].lower, space["r"].upper) == (1, 9)


def test_the_variant_generator_carries_the_seed_points_and_cap():
    points = [{"a": 1}]
    generator = variant_generator(7, points, 3)
    assert generator._points_to_evaluate == points and generator.max_concurrent == 3
    assert variant_generator(7).max_concurrent == 0 and variant_generator(7)._points_to_evaluate == []
    draws = [variant_generator(seed)._random_state.uniform() for seed in (7, 7, 8)]
    assert draws[0] == draws[1] != draws[2]  # seeded: random domains draw alike in both runners


def test_largest_first_sorts_the_size_grid_only():
    space = {"n_estimators": {"grid": [8, 32, 16]}, "max_depth": {"grid": [3, 1]}}
    assert ordered(space, "largest_first", "n_estimators") == {
        "n_estimators": {"grid": [32, 16, 8]},
        "max_depth": {"grid": [3, 1]},
    }
    assert ordered(space, "as_listed", "n_estimators") is space
