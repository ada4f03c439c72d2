"""Repeated validation: scikit-learn's splitters, the exact mean over the repeats, chunks of
repeats merged back, grouping into trials, the table and the evaluation-only report."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import fetch_california_housing
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.model_selection import (
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    cross_validate,
    train_test_split,
)

from tests.conftest import experiment_dict
from tests.units import GROWER
from tuning.config import validate
from tuning.planning.cluster import local_cluster
from tuning.planning.plan import group_repeats, make_plan
from tuning.reports.text import render, trial_table
from tuning.runners.chunks import merge_chunks
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.validation import (
    REPEAT_CHUNK,
    aggregate,
    chunk_size,
    chunk_splits,
    chunks,
    combine,
    folds,
    rows,
    splits_per_repeat,
    splitter,
)

SEED = 201


@pytest.fixture(scope="module")
def split() -> Split:
    """The tutorial's split of California housing (read from scikit-learn's cache, no Ray)."""
    X, y = fetch_california_housing(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=SEED)
    features = tuple(f"x{i}" for i in range(X.shape[1]))
    return Split(X_train, X_test, y_train, y_test, features, "MedHouseVal")


def all_rows(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """What repeats divide, by numpy alone: every row, the training rows first."""
    return np.concatenate([split.X_train, split.X_test]), np.concatenate([split.y_train, split.y_test])


def spec_of(tmp_path, **split) -> TrialSpec:
    raw = experiment_dict(
        tmp_path, estimator={"class": "sklearn.linear_model.LinearRegression"}, space={}, split=split
    )
    return TrialSpec.from_experiment(validate(raw))


def test_the_mean_and_std_are_cross_validates_to_the_last_bit(split, tmp_path):
    spec = spec_of(tmp_path, repeats=20)
    assert isinstance(splitter(spec), ShuffleSplit)
    result = run_trial({}, split, spec)
    X, y = all_rows(split)
    assert len(y) == 20640  # the repeats split all the rows
    cv = ShuffleSplit(n_splits=20, test_size=0.2, random_state=SEED)
    theirs = cross_validate(LinearRegression(), X, y, cv=cv, scoring=("r2", "neg_mean_squared_error"))
    assert result["r2_repeats"] == theirs["test_r2"].tolist()
    assert result["r2"] == np.mean(theirs["test_r2"]) and result["r2_std"] == np.std(theirs["test_r2"])
    assert result["mse"] == -np.mean(theirs["test_neg_mean_squared_error"])
    assert result["mse_std"] == np.std(theirs["test_neg_mean_squared_error"])


def test_repeats_with_cv_are_repeated_k_fold(split, tmp_path):
    spec = spec_of(tmp_path, repeats=2, cv=3)
    assert isinstance(splitter(spec), RepeatedKFold)
    result = run_trial({}, split, spec)
    X, y = all_rows(split)
    cv = RepeatedKFold(n_splits=3, n_repeats=2, random_state=SEED)
    theirs = cross_validate(LinearRegression(), X, y, cv=cv, scoring="r2")["test_score"]
    assert len(result["r2_repeats"]) == 6 and result["r2"] == np.mean(theirs)


def test_chunks_merged_give_the_unchunked_result_exactly(split, tmp_path):
    spec = TrialSpec("sklearn.linear_model.Ridge", {}, seed=SEED, repeats=7)
    whole = run_trial({"alpha": 2.0}, split, spec)
    chunked = replace(spec, chunk=3)
    trials = [
        TrialResult(
            f"t{i}",
            {"alpha": 2.0, REPEAT_CHUNK: i},
            run_trial({"alpha": 2.0, REPEAT_CHUNK: i}, split, chunked),
        )
        for i in (2, 0, 1)  # finished out of order
    ]
    assert [len(t.metrics["r2_repeats"]) for t in trials] == [1, 3, 3]
    (merged,) = merge_chunks(RunnerResult("tune", trials, 1.0, 2), per_configuration=3).trials
    assert merged.config == {"alpha": 2.0} and merged.metrics["chunks"] == 3
    for key in ("r2", "r2_std", "r2_repeats", "mse", "mse_std"):
        assert merged.metrics[key] == whole[key], key
    assert merged.duration_s == pytest.approx(sum(t.duration_s for t in trials))
    X, y = all_rows(split)
    cv = ShuffleSplit(n_splits=7, test_size=0.2, random_state=SEED)
    assert merged.metrics["r2"] == np.mean(cross_validate(Ridge(alpha=2.0), X, y, cv=cv)["test_score"])


def test_a_missing_or_errored_chunk_leaves_its_configuration_unfinished_or_errored():
    ok = {"r2_repeats": [0.5], "r2": 0.5, "fit_time_s": 0.1, "started_at": 0.0, "ended_at": 1.0}
    trials = [TrialResult("a", {REPEAT_CHUNK: 0, "alpha": 1}, dict(ok))]
    (missing,) = merge_chunks(RunnerResult("tune", trials, 1.0, 2), per_configuration=2).trials
    assert not missing.finished
    trials.append(TrialResult("b", {REPEAT_CHUNK: 1, "alpha": 1}, error="ValueError: bad"))
    (errored,) = merge_chunks(RunnerResult("tune", trials, 1.0, 2), per_configuration=2).trials
    assert errored.error == "ValueError: bad" and errored.finished and not errored.ok


@pytest.mark.parametrize(
    ("one_s", "repeats", "chunk"), [(0.008, 100, 50), (0.008, 1000, 63), (2.0, 30, 1), (0.001, 10, 10)]
)
def test_chunks_take_at_least_half_a_second_and_are_even(one_s, repeats, chunk):
    assert chunk_size(one_s, repeats) == chunk


def test_group_repeats_makes_chunks_of_every_configuration_in_order(split, tmp_path):
    raw = experiment_dict(
        tmp_path,
        estimator={"class": "sklearn.linear_model.Ridge"},
        space={"alpha": [1.0, 9.0]},
        split={"repeats": 5},
    )
    plan = make_plan(validate(raw), "both", local_cluster(2, 0))
    grouped, record = group_repeats(plan, split, chunk=2)
    assert [(c["alpha"], c[REPEAT_CHUNK]) for c in grouped.configs] == [
        (1.0, 0),
        (1.0, 1),
        (1.0, 2),
        (9.0, 0),
        (9.0, 1),
        (9.0, 2),
    ]
    assert (grouped.total, grouped.configurations, grouped.spec.chunk) == (6, 2, 2)
    assert record["trials_per_configuration"] == 3 and record["repeats"] == 5
    timed, timed_record = group_repeats(plan, split)  # from a timed first repeat
    assert timed_record["first_repeat_s"] > 0 and timed.spec.chunk == timed_record["chunk"]
    assert (
        group_repeats(make_plan(validate(experiment_dict(tmp_path)), "both", local_cluster(2, 0)), split)[1]
        is None
    )


def _trial(name: str, alpha: float, r2: float) -> TrialResult:
    metrics = {"mse": 1 - r2, "rmse": 1.0, "mae": 1.0, "r2": r2, "r2_std": 0.0412, "r2_repeats": [r2] * 3}
    return TrialResult(name, {"alpha": alpha}, {**metrics, "started_at": 0.0, "ended_at": 1.0})


def test_the_table_shows_mean_and_std_and_the_best_ten_rows():
    trials = [_trial(f"t{i}", float(i), 0.5 + i / 100) for i in range(25)]
    results = {"tune": RunnerResult("tune", trials, 1.0, 2)}
    text, left = trial_table(results, "r2", "max", shown=10)
    assert left == 15 and len(text.splitlines()) == 11
    best = text.splitlines()[1]
    assert best.split()[:2] == ["t24", "24"] and "0.7400 ± 0.0412" in best  # the best first, mean ± std
    summary = {
        "experiment": "x",
        "metric": "r2",
        "mode": "max",
        "run_dir": "results/x/1",
        "counts": {"ok": 25, "error": 0, "retries": 0},
        "timings": {},
        "best": {"config": {"alpha": 24.0}, "r2": 0.74, "trial": "t24", "runner": "tune"},
    }
    report = render(summary, results)
    assert "... 15 more rows: python -m tuning.inspect results/x/1 --show all" in report
    assert "Best:          alpha=24  (r2 0.7400 ± 0.0412 over 3 splits, the mean)" in report
    assert len(render(summary, results, show_all=True).splitlines()) == len(report.splitlines()) + 14


def test_an_evaluation_states_the_mean_and_names_no_best():
    results = {"tune": RunnerResult("tune", [_trial("t0", 1.0, 0.6)], 1.0, 2)}
    summary = {
        "experiment": "x",
        "metric": "r2",
        "mode": "max",
        "run_dir": "r",
        "counts": {"ok": 1, "error": 0, "retries": 0},
        "timings": {},
        "best": None,
        "evaluation": {
            "estimator": "LinearRegression",
            "strategy": "Monte Carlo CV over 100 splits",
            "metrics": {"r2": 0.6012, "mse": 0.53},
            "std": {"r2": 0.0123, "mse": 0.02},
        },
    }
    report = render(summary, results)
    assert report.splitlines()[0] == (
        "LinearRegression, Monte Carlo CV over 100 splits: r2 0.6012 ± 0.0123  (mse 0.5300 ± 0.0200)"
    )
    assert "best" not in report.lower()


def _summary_of(trials: list[dict], evaluation: dict | None = None) -> dict:
    return {
        "experiment": "x",
        "metric": "r2",
        "mode": "max",
        "run_dir": "r",
        "runner": "tune",
        "status": "complete",
        "counts": {"ok": len(trials), "error": 0, "retries": 0},
        "timings": {},
        "best": None,
        "evaluation": evaluation,
        "estimator": {"class": "sklearn.linear_model.Ridge"},
        "trials": {"tune": trials},
    }


def _record(alpha: float | None, scores: list[float]) -> dict:
    metrics = {"r2": float(np.mean(scores)), "r2_std": float(np.std(scores)), "r2_repeats": scores}
    config = {} if alpha is None else {"alpha": alpha}
    return {"name": f"t{alpha}", "config": config, "status": "ok", "metrics": metrics, "duration_s": 1.0}


def test_the_html_report_shows_the_repeats_and_error_bars():
    import json
    import re

    from tuning.reports.html.page import render_html

    trials = [_record(a, [0.5 + a / 1000, 0.52, 0.55 + a / 1000]) for a in (1.0, 10.0, 100.0)]
    page = render_html(_summary_of(trials))
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S)[1])
    assert [c["label"] for c in data["repeats"]] == ["alpha=100", "alpha=10", "alpha=1"]  # best mean first
    assert data["repeats"][0]["scores"] == trials[2]["metrics"]["r2_repeats"]
    assert data["spread"]["tune"] == [t["metrics"]["r2_std"] for t in trials]
    assert "r2 of each split</h2>" in page and "r2 against each searched parameter" in page
    evaluation = {
        "estimator": "Ridge",
        "strategy": "Monte Carlo CV over 3 splits",
        "metrics": {"r2": 0.52},
        "std": {"r2": 0.02},
    }
    single = render_html(_summary_of([_record(None, [0.5, 0.52, 0.54])], evaluation))
    assert "Ridge, Monte Carlo CV over 3 splits: r2 0.5200 ± 0.0200" in single
    assert "r2 of each split</h2>" in single and "Best" not in single


# ------------------------------------------------------------- the splits, function by function


def frame_split(rows: int = 40, classifier: bool = False) -> Split:
    """A DataFrame split whose rows keep the file's index (as ``train_test_split`` leaves it)."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(rows, 2)), columns=["a", "b"], index=range(100, 100 + rows))
    y = (frame["a"] > 0).astype(int).to_numpy() if classifier else frame["a"].to_numpy() * 2
    cut = rows * 3 // 4
    return Split(frame[:cut], frame[cut:], y[:cut], y[cut:], ("a", "b"), "y", raw=True, stratified=classifier)


def test_the_rows_of_repeats_are_every_row_numbered_anew(tmp_path):
    split = frame_split()
    X, y = rows(split, TrialSpec(GROWER, {}, repeats=2))
    assert X.index.tolist() == list(range(40))  # positions, not the file's index
    assert np.array_equal(X.to_numpy(), np.concatenate([split.X_train.to_numpy(), split.X_test.to_numpy()]))
    assert np.array_equal(y, np.concatenate([split.y_train, split.y_test]))
    held_out, _ = rows(split, TrialSpec(GROWER, {}, cv=2))
    assert held_out is split.X_train  # without repeats: the training rows


def test_k_folds_of_a_frame_take_rows_by_position():
    split = frame_split()
    spec = TrialSpec(GROWER, {}, cv=2, seed=9)
    ours = list(folds(split, spec))
    theirs = list(KFold(2, shuffle=True, random_state=9).split(split.X_train))
    assert len(ours) == 2
    for (X_fit, y_fit, X_held, y_held), (fit, held) in zip(ours, theirs, strict=True):
        assert X_fit.equals(split.X_train.iloc[fit]) and X_held.equals(split.X_train.iloc[held])
        assert np.array_equal(y_fit, split.y_train[fit]) and np.array_equal(y_held, split.y_train[held])


@pytest.mark.parametrize("classifier", [False, True], ids=["regressor", "stratified"])
def test_the_validation_rows_are_train_test_split_of_the_training_rows(classifier):
    split = frame_split(classifier=classifier)
    spec = TrialSpec(GROWER, {}, validation_size=0.3, seed=4)  # not 0.25: train_test_split's default
    stratify = split.y_train if classifier else None
    X_fit, X_val, y_fit, y_val = train_test_split(
        split.X_train, split.y_train, test_size=0.3, random_state=4, stratify=stratify
    )
    ((ours_X_fit, ours_y_fit, ours_X_val, ours_y_val),) = folds(split, spec)
    assert ours_X_fit.equals(X_fit) and ours_X_val.equals(X_val)
    assert np.array_equal(ours_y_fit, y_fit) and np.array_equal(ours_y_val, y_val)


def test_how_many_splits_each_kind_of_validation_runs():
    plain, cv = TrialSpec(GROWER, {}), TrialSpec(GROWER, {}, cv=3)
    assert (splits_per_repeat(plain), splits_per_repeat(cv)) == (1, 1)  # no repeats: one "repeat"
    assert splits_per_repeat(TrialSpec(GROWER, {}, repeats=2, cv=3)) == 3
    assert (chunk_splits(plain, None), chunk_splits(cv, None)) == ((0, 1), (0, 3))
    repeated = TrialSpec(GROWER, {}, repeats=4, chunk=2)
    assert chunk_splits(repeated, None) == (0, 4)  # no chunk named: every split
    assert chunk_splits(TrialSpec(GROWER, {}, repeats=4), 1) == (0, 4)  # no chunking: every split
    assert chunk_splits(repeated, 1) == (2, 4)
    assert (chunks(plain), chunks(TrialSpec(GROWER, {}, chunk=2)), chunks(repeated)) == (1, 1, 2)


def test_one_split_is_its_own_scores_unless_each_split_is_kept():
    assert aggregate([{"mse": 1.5, "r2": 0.5}]) == {"mse": 1.5, "r2": 0.5}  # a hold-out split, a shared fit's
    kept = aggregate([{"mse": 1.5}], keep=True)
    assert kept == {"mse": 1.5, "mse_std": 0.0, "mse_repeats": [1.5]}


def test_chunks_combine_every_split_even_one_and_refuse_ragged_scores():
    assert combine([{"mse": 1.5, "mse_repeats": [1.5]}]) == {"mse": 1.5, "mse_std": 0.0, "mse_repeats": [1.5]}
    with pytest.raises(ValueError):  # a metric with fewer splits than another: never cut short
        combine([{"mse_repeats": [1.0, 2.0], "r2_repeats": [0.5]}])


@pytest.mark.parametrize(
    ("changes", "theirs"),
    [
        ({"cv": 3}, StratifiedKFold(3, shuffle=True, random_state=4)),
        ({"repeats": 3}, StratifiedShuffleSplit(3, test_size=0.25, random_state=4)),
        ({"repeats": 2, "cv": 3}, RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=4)),
    ],
    ids=["cv", "repeats", "repeated-cv"],
)
def test_a_classifiers_splits_are_scikit_learns_stratified_ones(changes, theirs):
    split = frame_split(classifier=True)
    spec = TrialSpec(GROWER, {}, seed=4, test_size=0.25, **changes)
    X, y = rows(split, spec)
    expected = [held for _, held in theirs.split(X, y)]
    held_out = [X_held for _, _, X_held, _ in folds(split, spec)]
    assert len(held_out) == len(expected) == theirs.get_n_splits()
    for ours, index in zip(held_out, expected, strict=True):
        assert ours.equals(X.iloc[index])


def test_a_searchs_own_folds_are_taken_as_given():
    split = frame_split()
    given = ((np.arange(0, 20), np.arange(20, 30)), (np.arange(10, 30), np.arange(0, 10)))
    spec = TrialSpec(GROWER, {}, splits=given)
    taken = list(folds(split, spec))
    assert len(taken) == 2
    for (X_fit, y_fit, X_held, y_held), (fit, held) in zip(taken, given, strict=True):
        assert X_fit.equals(split.X_train.iloc[fit]) and X_held.equals(split.X_train.iloc[held])
        assert np.array_equal(y_fit, split.y_train[fit]) and np.array_equal(y_held, split.y_train[held])
