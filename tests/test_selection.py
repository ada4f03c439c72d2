"""Selection that holds up: the corrected t-test, ties, one-SE and tolerance rules, costs.

The statistics are checked against hand computations on fixed per-split scores; the runs
(marked slow) are small: a few hundred rows, three or four forests.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import fetch_california_housing
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

from tests.conftest import experiment_dict
from tuning.config import validate
from tuning.errors import ExperimentError
from tuning.reports.html.data import pareto_front
from tuning.reports.selection import (
    Rule,
    choose,
    corrected_interval,
    corrected_ttest,
    overlap_ratio,
    selection_lines,
    standard_error,
)
from tuning.trial.fit import model_costs
from tuning.trial.records import TrialResult

# five folds' mse of four forests; the best (64 trees) has mean 1.04, sd sqrt(0.013), so one
# standard error is sqrt(0.013) / sqrt(5) = 0.05099: 32 (1.06) and 16 (1.08) are within it, 8 (1.10) is not
SCORES = {
    64: [1.0, 1.2, 0.9, 1.1, 1.0],
    32: [1.02, 1.22, 0.92, 1.12, 1.02],
    16: [1.04, 1.24, 0.94, 1.14, 1.04],
    8: [1.06, 1.26, 0.96, 1.16, 1.06],
}


def trials(scores=SCORES, metric="mse", sign=1.0) -> list[TrialResult]:
    return [
        TrialResult(
            f"t{n}",
            {"n_estimators": n},
            {
                metric: float(np.mean(s)) * sign,
                f"{metric}_repeats": [v * sign for v in s],
                "model_bytes": 1000 * n,
                "predict_s_per_1k": 0.001 * n,
            },
        )
        for n, s in scores.items()
    ]


def test_the_corrected_t_test_is_the_hand_computed_one():
    """d = [0.1, 0.05, 0.1, 0, 0.05]: mean 0.06, var (ddof 1) 0.007 / 4 = 0.00175; 5 folds:
    n_test/n_train = 1/4, so the variance of the mean is 0.00175 * (1/5 + 1/4) and
    t = 0.06 / sqrt(0.0007875) = 2.1381. Student's table for 4 degrees of freedom: t = 2.132
    at one-sided p = 0.05, so p is just under 0.05 (the uncorrected test, t = 3.207, says 0.016)."""
    best = np.array([1.0, 1.2, 0.9, 1.1, 1.0])
    other = np.array([1.1, 1.25, 1.0, 1.1, 1.05])
    t, p = corrected_ttest(other - best, overlap_ratio(5, 0.2))
    assert t == pytest.approx(0.06 / math.sqrt(0.00175 * (1 / 5 + 1 / 4)), rel=1e-9)
    assert t == pytest.approx(2.1381, abs=1e-4)
    assert 0.045 < p < 0.05


@pytest.mark.parametrize(
    ("cv", "test_size", "ratio"),
    [pytest.param(5, 0.2, 1 / 4, id="5 folds"), pytest.param(None, 0.25, 1 / 3, id="shuffle split 25%")],
)
def test_the_correction_is_n_test_over_n_train(cv, test_size, ratio):
    assert overlap_ratio(cv, test_size) == pytest.approx(ratio)


def test_identical_scores_are_a_tie_and_constant_differences_are_not():
    assert corrected_ttest([0.0, 0.0, 0.0], 0.25) == (0.0, 1.0)
    assert corrected_ttest([0.5, 0.5, 0.5], 0.25)[1] == 0.0  # exact in binary: no variance at all


def test_the_interval_and_the_standard_error_by_hand():
    scores = SCORES[64]  # mean 1.04, var 0.013; t(0.975, 4) = 2.7764 (Student's table)
    low, high = corrected_interval(scores, 0.25)
    half = 2.7764 * math.sqrt(0.013 * (1 / 5 + 1 / 4))
    assert (low, high) == (pytest.approx(1.04 - half, abs=1e-4), pytest.approx(1.04 + half, abs=1e-4))
    assert standard_error(scores) == pytest.approx(math.sqrt(0.013) / math.sqrt(5))


@pytest.mark.parametrize(
    ("rule", "picked"),
    [
        pytest.param(Rule("best"), 64, id="best: the best mean"),
        pytest.param(Rule("one_se", simplest={"n_estimators": "smallest"}), 16, id="one_se: 16 (8 is 1.10)"),
        pytest.param(Rule("one_se", simplest={"n_estimators": "largest"}), 64, id="one_se, largest first"),
        pytest.param(Rule("tolerance", 0.05, {"n_estimators": "smallest"}), 16, id="tolerance 5%: 1.092"),
        pytest.param(Rule("tolerance", 0.06, {"n_estimators": "smallest"}), 8, id="tolerance 6%: 1.1024"),
    ],
)
@pytest.mark.parametrize("mode", ["min", "max"])
def test_each_rule_picks_the_hand_picked_configuration(rule, picked, mode):
    sign = 1.0 if mode == "min" else -1.0  # a max metric: the same scores, negated
    record = choose(trials(sign=sign), rule, "mse", mode, 0.25)
    assert record["best"]["config"] == {"n_estimators": 64}
    assert record["selected"]["config"] == {"n_estimators": picked}
    assert record["rule"] == rule.rule


def test_ties_are_the_configurations_the_corrected_test_cannot_tell_apart():
    """Each of 32, 16, 8 differs from the best by a constant (0.02, 0.04, 0.06): zero variance,
    so the test tells them apart; a noisy one of the same mean does not."""
    noisy = {**SCORES, 12: [1.14, 1.1, 0.92, 1.1, 1.04]}  # mean 1.06, differences [.14, -.1, .02, 0, .04]
    record = choose(trials(noisy), Rule("best"), "mse", "min", 0.25)
    assert record["tied"] == ["t64", "t12"]
    d = np.array(noisy[12]) - np.array(SCORES[64])
    assert record["p_values"]["t12"] == pytest.approx(corrected_ttest(d, 0.25)[1])
    assert record["test"].startswith("Nadeau-Bengio corrected resampled t-test")
    assert record["smallest_tied"]["config"] == {"n_estimators": 12}


def test_one_hold_out_split_has_no_ties_and_no_interval():
    one = [TrialResult(f"t{n}", {"n_estimators": n}, {"mse": 1.0 / n}) for n in (2, 4)]
    record = choose(one, Rule("best"), "mse", "min", 0.25)
    assert record["tied"] is None and record["interval"] is None and record["test"] is None
    assert record["selected"]["config"] == {"n_estimators": 4}


def test_the_reports_lines_name_the_ties_the_interval_the_smallest_and_the_rule():
    record = choose(trials(), Rule("one_se", simplest={"n_estimators": "smallest"}), "mse", "min", 0.25)
    record["rows"] = "5-fold CV on the training rows (the test rows stay untouched)"
    lines = dict(selection_lines({"metric": "mse", "selection": record}))
    assert lines["Selected"].startswith("n_estimators=16  (mse 1.0800; one_se")
    assert "1 of 4 configurations within noise" in lines["Ties"]
    assert lines["Smallest tied"].startswith("n_estimators=64  (64 kB")


def test_the_pareto_front_by_hand():
    # (cost, loss): b is dominated by a (cheaper and better); c and d trade cost for loss
    points = [(1.0, 5.0), (2.0, 6.0), (3.0, 4.0), (9.0, 1.0), (9.0, 2.0)]
    assert pareto_front(points) == [True, False, True, True, False]


def test_a_models_cost_is_its_pickled_size_and_a_predict_per_1000_rows():
    X, y = np.random.default_rng(0).normal(size=(300, 3)), np.arange(300.0)
    small = RandomForestRegressor(n_estimators=2, random_state=0).fit(X, y)
    large = RandomForestRegressor(n_estimators=8, random_state=0).fit(X, y)
    small_cost, large_cost = model_costs(small, X), model_costs(large, X)
    import pickle

    # an equal model whose equal strings are other objects: the C pickler's size differs (what
    # made a docs figure depend on the tests run before it), the recorded size does not
    copy = pickle.loads(pickle.dumps(small))
    plain = [len(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL)) for m in (small, copy)]
    assert plain[0] != plain[1]
    assert model_costs(copy, X)["model_bytes"] == small_cost["model_bytes"] <= min(plain)
    assert small_cost["model_bytes"] > 0.99 * max(plain)  # the pickled size, each string once
    assert small_cost["model_bytes"] < large_cost["model_bytes"]
    # a model holding empty arrays (their bytes are Python's one ``b""``, pickled more than once)
    boosted = HistGradientBoostingRegressor(max_iter=2, early_stopping=False).fit(X, y)
    plain = len(pickle.dumps(boosted))
    assert 0.99 * plain < model_costs(boosted, X)["model_bytes"] <= plain
    assert small_cost["predict_s_per_1k"] > 0


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        pytest.param(
            {"select": "one_se"},
            "select.rule must be best or tolerance without split.cv or split.repeats",
            id="one_se needs per-split scores",
        ),
        pytest.param(
            {"select": "fastest"}, "select.rule must be one of 'best', 'one_se' or 'tolerance'", id="unknown"
        ),
        pytest.param(
            {"select": {"rule": "one_se", "simplest": {"max_depth": "smallest"}}, "split": {"cv": 3}},
            "select.simplest.max_depth must name a searched parameter (one of n_estimators); got 'max_depth'",
            id="simplest names an unsearched parameter",
        ),
        pytest.param(
            {"select": {"rule": "tolerance"}},
            "select.tolerance must be set exactly when select.rule is tolerance",
            id="tolerance without its value",
        ),
        pytest.param(
            {"split": {"cv": 3, "validation_size": 0.2}},
            "split.validation_size must be null with split.cv",
            id="validation rows with cv",
        ),
        pytest.param(
            {
                "select": "one_se",
                "split": {"cv": 3},
                "estimator": {"class": "sklearn.linear_model.Ridge"},
                "space": {"alpha": [1.0, 2.0]},
            },
            "select.simplest must be set for select.rule one_se: no searched parameter is a size",
            id="no size parameter known",
        ),
    ],
)
def test_bad_selection_input_is_one_line_exit_2_and_nothing_written(tmp_path, changes, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(experiment_dict(tmp_path, **changes)))  # JSON is YAML
    result = subprocess.run(
        [sys.executable, "-m", "tuning.run", str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and fragment in result.stderr, result.stderr
    assert not (tmp_path / "results").exists()


def test_the_default_simplicity_is_the_known_size_parameter(tmp_path):
    from tuning.config.checks import default_simplest

    experiment = validate(experiment_dict(tmp_path, select="one_se", split={"cv": 3}))
    assert default_simplest(experiment) == {"n_estimators": "smallest"}
    with pytest.raises(ExperimentError, match=r"select\.simplest"):
        validate(experiment_dict(tmp_path, select="one_se", split={"cv": 3}, space={"max_depth": [2, 4]}))


def _housing(rows: int):
    frame = fetch_california_housing(as_frame=True).frame
    return frame.sample(rows, random_state=0).reset_index(drop=True)


TEST_LABELS = re.compile(r"\btest[ _]+(mse|rmse|mae|r2)\b[^\n]*?(\d\.\d{4})", re.IGNORECASE)


@pytest.mark.slow
def test_a_run_without_cv_never_calls_a_selection_score_a_test_score(ray_session, tmp_path):
    """One hold-out split: the trials are scored on the held-out rows, so every output calls
    that score a validation score, never a test score: terminal, summary.json, report.html,
    best_model.json and the API's Result."""
    from tuning import run_experiment

    said: list[str] = []
    raw = experiment_dict(tmp_path, space={"n_estimators": [2, 4]}, runner="sequential")
    result = run_experiment(raw, data=_housing(300), target="MedHouseVal", echo=said.append)
    run_dir = result.run_dir
    best = result.summary["best"]["mse"]
    outputs = {
        "terminal": "\n".join(said),
        "summary.json": (run_dir / "summary.json").read_text(),
        "report.html": (run_dir / "report.html").read_text(),
        "best_model.json": (run_dir / "best_model.json").read_text(),
        "Result": repr(result) + result._repr_html_(),
    }
    for name, text in outputs.items():
        assert not TEST_LABELS.search(text), (name, TEST_LABELS.search(text))
        assert '"test_metrics": {' not in text, name
    assert f"validation mse {best:.4f}" in outputs["terminal"]
    assert "no untouched test score" in outputs["terminal"]
    assert f"Best validation mse <b>{best:.4f}</b>" in outputs["report.html"]
    assert result.test_score is None and result.summary["best_model"]["validation_metrics"]["mse"] == best
    assert result.summary["selection"]["test_rows_seen"] is True


@pytest.mark.slow
def test_validation_rows_keep_an_untouched_test_score(ray_session, tmp_path):
    from tuning import run_experiment

    split = {"validation_size": 0.25}
    raw = experiment_dict(tmp_path, space={"n_estimators": [2, 4]}, runner="sequential", split=split)
    result = run_experiment(raw, data=_housing(300), target="MedHouseVal", echo=lambda _: None)
    model = result.summary["best_model"]
    assert model["scored_on"] == "test" and model["validation_metrics"] is None
    assert result.test_score == model["test_metrics"]["mse"] != result.best_score
    assert model["train_rows"] == 240  # the refit: every training row, the validation rows included


@pytest.mark.slow
def test_one_se_on_five_folds_saves_the_smallest_forest_within_one_se(ray_session, tmp_path):
    """The tutorial's forests, a few of them on 400 rows, 5-fold CV, ``select: one_se``: both
    runners select the same forest, the smallest whose mean is within one standard error of the
    best's, and that forest is the saved model."""
    from tuning import run_experiment

    raw = experiment_dict(
        tmp_path,
        estimator={"class": "sklearn.ensemble.RandomForestRegressor"},
        space={"n_estimators": [4, 8, 16, 32]},
        split={"cv": 5},
        select="one_se",
        runner="both",
    )
    said: list[str] = []
    result = run_experiment(raw, data=_housing(400), target="MedHouseVal", echo=said.append)
    rows = {r["config"]["n_estimators"]: r["metrics"] for r in result.summary["trials"]["tune"]}
    best = min(rows, key=lambda n: rows[n]["mse"])
    se = np.std(rows[best]["mse_repeats"], ddof=1) / math.sqrt(5)
    expected = min(n for n in rows if rows[n]["mse"] <= rows[best]["mse"] + se)
    record = result.selection
    assert record["rule"] == "one_se" and record["agree"] is True
    assert record["best"]["config"] == {"n_estimators": best}
    assert result.selected_params == {"n_estimators": expected} == result.summary["best_model"]["config"]
    assert result.best_model.n_estimators == expected
    assert all(r["metrics"]["model_bytes"] > 0 for r in result.summary["trials"]["tune"])
    assert "Selected:      n_estimators=" in "\n".join(said)
    html = (Path(result.run_dir) / "report.html").read_text()
    assert "against what each model costs" in html and "Nadeau-Bengio" in html
