"""Shared fits: exact prefixes per family, groups in the plan, both runners, the CLI."""

from __future__ import annotations

import importlib
import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import make_classification, make_regression
from threadpoolctl import threadpool_limits

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import assert_rejected, cli, write
from tests.test_dry_run import cluster
from tuning.config import load_experiment, validate, why_not_share
from tuning.estimators.families import family_of, why_not_shared
from tuning.metrics import is_metric_key
from tuning.planning.dry_run import describe
from tuning.planning.plan import make_plan
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.shared_fits import cut_model, fit_largest, group_configs, run_group, staged_answers

SKLEARN = "sklearn.ensemble."
FAMILY_CASES = [
    (SKLEARN + "RandomForestRegressor", {"max_depth": 4}),
    (SKLEARN + "RandomForestClassifier", {"max_depth": 4}),
    (SKLEARN + "ExtraTreesRegressor", {"max_depth": 4, "bootstrap": True}),
    (SKLEARN + "ExtraTreesClassifier", {"max_depth": 4}),
    (SKLEARN + "GradientBoostingRegressor", {"max_depth": 2, "subsample": 0.7, "max_features": 0.5}),
    (SKLEARN + "GradientBoostingClassifier", {"max_depth": 2, "subsample": 0.7}),
    (SKLEARN + "HistGradientBoostingRegressor", {"early_stopping": False, "max_features": 0.5}),
    (SKLEARN + "HistGradientBoostingClassifier", {"early_stopping": False, "max_leaf_nodes": 7}),
    ("xgboost.XGBRegressor", {"max_depth": 2, "subsample": 0.7}),
    ("xgboost.XGBClassifier", {"max_depth": 2, "colsample_bytree": 0.5}),
    ("lightgbm.LGBMRegressor", {"max_depth": 2, "subsample": 0.7, "subsample_freq": 1, "verbose": -1}),
    ("lightgbm.LGBMClassifier", {"max_depth": 2, "colsample_bytree": 0.5, "verbose": -1}),
]


def estimator_class(path: str) -> type:
    module, name = path.rsplit(".", 1)
    if importlib.util.find_spec(module.split(".")[0]) is None:
        pytest.skip(f"{module} is an optional extra, not installed")
    return getattr(importlib.import_module(module), name)


def fitted(cls: type, params: dict, size: int, X, y, n_jobs: int = 1):
    """``cls`` fitted with ``size`` members, ready to predict with one thread."""
    family = family_of(cls)
    threads = {"n_jobs": n_jobs} if "n_jobs" in cls().get_params() else {}
    model = cls(**params, random_state=3, **threads, **{family.size_param: size}).fit(X, y)
    return model.set_params(n_jobs=1) if threads else model


DATA_KINDS = [
    pytest.param(path, params, classes, id=f"{path.rsplit('.')[-1]}-{kind}")
    for path, params in FAMILY_CASES
    for kind, classes in (
        (("binary", 2), ("multiclass", 3)) if path.endswith("Classifier") else (("regression", None),)
    )
]


def family_rows(classes: int | None) -> tuple:
    """500 rows of ``classes`` classes (None: a regression target)."""
    if classes:
        return make_classification(500, 8, n_informative=5, n_classes=classes, random_state=0)
    return make_regression(500, 8, noise=5.0, random_state=0)


@pytest.mark.parametrize(("path", "params", "classes"), DATA_KINDS)
def test_the_first_n_members_of_a_larger_fit_predict_as_a_separate_fit_of_n(path, params, classes):
    cls, (X, y) = estimator_class(path), family_rows(classes)
    family = family_of(cls)
    assert family is not None and family.why_not({**cls().get_params(), **params, "random_state": 3}) is None
    large = fitted(cls, params, 12, X[:350], y[:350], n_jobs=2)  # the shared fit uses the trial's threads
    for n in (1, 5, 12):
        alone = fitted(cls, params, n, X[:350], y[:350])
        cut = family.cut(large, n)
        methods = ("predict", "predict_proba") if classes else ("predict",)
        for method in methods:
            assert np.array_equal(getattr(cut, method)(X[350:]), getattr(alone, method)(X[350:])), (n, method)
    assert getattr(large, family.size_param) == 12  # cutting leaves the fitted model whole


@pytest.mark.parametrize(
    ("path", "params", "classes"), [c for c in DATA_KINDS if "Tree" in c.id or "Forest" in c.id]
)
def test_a_forests_staged_answers_are_separate_fits_answers(path, params, classes):
    cls, (X, y) = estimator_class(path), family_rows(classes)
    family = family_of(cls)
    answers = family.staged(fitted(cls, params, 12, X[:350], y[:350], n_jobs=2), X[350:], (1, 5, 12))
    methods = ["predict", "predict_proba"] if classes else ["predict"]
    assert sorted(answers) == [1, 5, 12] and all(sorted(a) == methods for a in answers.values())
    for n, answer in answers.items():  # one pass over the trees: each size's answers, to the last bit
        alone = fitted(cls, params, n, X[:350], y[:350])
        for method in methods:
            assert np.array_equal(answer[method], getattr(alone, method)(X[350:])), (n, method)
    gaps = X[350:].copy()
    gaps[0, 0] = np.nan
    assert family.staged(fitted(cls, params, 3, X[:350], y[:350]), gaps, (1, 3)) is None  # the cut predicts


def test_a_forest_does_not_depend_on_its_fitting_threads():
    X, y = make_regression(400, 6, noise=1.0, random_state=1)
    cls = estimator_class(SKLEARN + "RandomForestRegressor")
    one = fitted(cls, {"max_depth": 5}, 16, X, y, n_jobs=1).predict(X)
    two = fitted(cls, {"max_depth": 5}, 16, X, y, n_jobs=2).predict(X)
    assert np.array_equal(one, two)


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        (SKLEARN + "RandomForestRegressor", {"random_state": None}, "random_state must be a fixed integer"),
        (SKLEARN + "RandomForestRegressor", {"random_state": 1, "warm_start": True}, "warm_start is set"),
        (SKLEARN + "GradientBoostingRegressor", {"random_state": 1, "n_iter_no_change": 5}, "early stopping"),
        (SKLEARN + "HistGradientBoostingRegressor", {"random_state": 1}, "early_stopping is 'auto'"),
        ("sklearn.linear_model.Ridge", {}, "Ridge has no size parameter"),
        ("xgboost.XGBRegressor", {"random_state": 1, "booster": "dart"}, "booster is 'dart'"),
        ("lightgbm.LGBMRegressor", {"random_state": 1, "boosting_type": "rf"}, "boosting_type is 'rf'"),
    ],
)
def test_settings_that_break_exact_prefixes_are_named(path, params, reason):
    cls = estimator_class(path)
    assert reason in why_not_shared(cls, {**cls().get_params(), **params})


def test_groups_are_the_configurations_that_differ_only_in_size():
    configs = [
        {"n_estimators": 8, "max_depth": 3},
        {"n_estimators": 4, "max_depth": 5},
        {"n_estimators": 4, "max_depth": 3},
        {"n_estimators": 8, "max_depth": 5},
    ]
    groups = group_configs(configs, "n_estimators")
    assert [(g.sizes, g.largest["max_depth"], g.indices) for g in groups] == [
        ((4, 8), 3, (2, 0)),
        ((4, 8), 5, (1, 3)),
    ]


def small_split(raw: bool = False, rows: int = 300) -> Split:
    X, y = make_regression(rows, 5, noise=3.0, random_state=2)
    cut = int(rows * 0.8)
    if raw:  # a categorical column and missing values: the trial's preprocessing pipeline
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
        frame["colour"] = np.where(X[:, 0] > 0, "red", "blue")
        frame.loc[::7, "x1"] = np.nan
        return Split(
            frame[:cut], frame[cut:], y[:cut], y[cut:], tuple(frame.columns), "y", ("colour",), raw=True
        )
    return Split(X[:cut], X[cut:], y[:cut], y[cut:], tuple(f"x{i}" for i in range(5)), "y")


@pytest.mark.parametrize(
    ("estimator", "fixed", "size", "cv", "raw"),
    [
        (
            "RandomForestRegressor",
            {"max_depth": 4, "random_state": 5, "n_jobs": 2},
            "n_estimators",
            None,
            False,
        ),
        ("ExtraTreesRegressor", {"max_depth": 4, "random_state": 5}, "n_estimators", 3, False),
        ("GradientBoostingRegressor", {"max_depth": 2, "random_state": 5}, "n_estimators", None, True),
        ("HistGradientBoostingRegressor", {"early_stopping": False, "random_state": 5}, "max_iter", 2, False),
    ],
)
def test_a_group_scores_each_configuration_as_its_own_trial_would(estimator, fixed, size, cv, raw):
    split = small_split(raw)
    spec = TrialSpec(SKLEARN + estimator, fixed, cv=cv, seed=4)
    configs = [{size: n, "min_samples_leaf": leaf} for leaf in (1, 3) for n in (10, 3, 6)]
    reported: list[dict] = []
    with threadpool_limits(1):  # OpenMP threads of histogram boosting crawl on a busy 2-core machine
        for group in group_configs(configs, size):
            results = run_group(group, split, spec, report=reported.append)
            for config, result in zip(group.configs, results, strict=True):
                alone = run_trial(config, split, spec)
                scores = {k: v for k, v in alone.items() if is_metric_key(k)}  # with cv: mse_std...
                assert len(scores) >= 4 and {k: result[k] for k in scores} == scores, config
                assert result["timesteps_total"] == config[size]
    assert [r["timesteps_total"] for r in reported] == [3, 6, 10, 3, 6, 10]  # each size as its own result
    assert sum(r["fit_time_s"] for r in reported[:3]) == pytest.approx(reported[0]["shared_fit_s"])


@pytest.mark.parametrize("raw", [False, True])
def test_a_classifier_group_scores_each_configuration_as_its_own_trial_would(raw):
    X, y = make_classification(300, 5, n_informative=3, n_classes=3, random_state=2)
    labels = np.array(["a", "b", "c"])[y]
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    if raw:  # a text column and gaps: the forest scores behind the trial's preprocessing
        frame["colour"] = np.where(X[:, 0] > 0, "red", "blue")
        frame.loc[::7, "x1"] = np.nan
    rows = frame if raw else X
    split = Split(
        rows[:240], rows[240:], labels[:240], labels[240:], tuple(frame.columns), "y",
        ("colour",) if raw else (), raw=raw,
    )  # fmt: skip
    metrics = ("accuracy", "neg_log_loss", "f1_macro", "roc_auc_ovr")
    spec = TrialSpec(SKLEARN + "RandomForestClassifier", {"max_depth": 5, "random_state": 5}, metrics=metrics)
    spec = replace(spec, classifier=True)
    configs = [{"n_estimators": n} for n in (2, 7, 12)]
    (group,) = group_configs(configs, "n_estimators")
    for config, result in zip(group.configs, run_group(group, split, spec), strict=True):
        alone = run_trial(config, split, spec)
        assert {m: result[m] for m in metrics} == {m: alone[m] for m in metrics}, config
    ((model, fold),), _, _ = fit_largest(group, split, spec)
    answers = staged_answers(model, fold[2], group.sizes)  # scored from one pass, not per cut
    assert sorted(answers) == [2, 7, 12] and sorted(answers[2]) == ["predict", "predict_proba"]


def test_a_cut_pipeline_keeps_its_fitted_preprocessing():
    from tuning.trial.fit import build_estimator

    split = small_split(raw=True)
    spec = TrialSpec(SKLEARN + "RandomForestRegressor", {"random_state": 0, "max_depth": 3})
    model = build_estimator({"n_estimators": 6}, split, spec).fit(split.X_train, split.y_train)
    cut = cut_model(model, 2, "n_estimators")
    assert len(cut.steps[-1][1].estimators_) == 2 and len(model.steps[-1][1].estimators_) == 6
    assert cut.steps[0][1] is model.steps[0][1]
    assert cut.predict(split.X_test).shape == (len(split.y_test),)


# --------------------------------------------------------------------------- plan and dry run


def rf_experiment(tmp_path, **search):
    raw = experiment_dict(
        tmp_path,
        space={"n_estimators": [4, 8, 12], "max_depth": [3, 5]},
        search=search,
        resources={"num_cpus": "auto"},
    )
    return validate(raw)


def test_the_plan_holds_one_group_per_combination_of_the_other_parameters(tmp_path):
    plan = make_plan(rf_experiment(tmp_path, share_fits="auto"), "tune", cluster())
    assert [(g.sizes, g.largest["max_depth"]) for g in plan.groups] == [((4, 8, 12), 3), ((4, 8, 12), 5)]
    assert plan.total == 6 and plan.tune_trials == 2
    assert plan.share_note == "6 configurations from 2 fits: n_estimators 24 fitted instead of 48 (2.0x less)"
    assert plan.experiment.resources.num_cpus == 4  # two groups on 8 CPUs: 4 threads each


def test_one_group_gets_every_core(tmp_path):
    raw = load_experiment(ROOT / "experiments" / "rf_shared.yaml").resolved()
    raw["storage_path"] = str(tmp_path)
    plan = make_plan(validate(raw), "tune", cluster(node_cpus=(16.0,), node_gpus=(0.0,)))
    assert len(plan.groups) == 1 and plan.groups[0].sizes == tuple(range(8, 88, 4))
    assert plan.experiment.resources.num_cpus == 16 and plan.spec.params["n_jobs"] == 16


def test_the_dry_run_shows_the_groups(tmp_path):
    text = describe(make_plan(rf_experiment(tmp_path, share_fits=True), "both", cluster()))
    assert "Shared fits: 6 configurations from 2 fits" in text
    assert "1 wave; 2 trials, one per shared fit" in text
    table = text.split("\n\n")[-1].splitlines()
    assert table[0].split() == ["fit", "n_estimators", "max_depth"]
    assert table[1].split() == ["0", "4,", "8,", "12", "(fit:", "12)", "3"]


def test_the_dry_run_says_what_an_unshared_file_would_save(tmp_path):
    text = describe(make_plan(validate(experiment_dict(tmp_path)), "tune", cluster()))
    assert "Shared fits: off (search.share_fits: false); with auto: 3 configurations from 1 fit" in text
    text = (cli("tuning.run", str(ROOT / "experiments" / "rf.yaml"), "--dry-run")).stdout
    assert "n_estimators 84 fitted instead of 920 (11.0x less)" in text


def test_auto_says_why_it_does_not_share(tmp_path):
    raw = experiment_dict(tmp_path, search={"share_fits": "auto"})
    raw["estimator"] = {"class": SKLEARN + "HistGradientBoostingRegressor"}
    raw["space"] = {"max_iter": [5, 10]}
    plan = make_plan(validate(raw), "tune", cluster())
    assert plan.groups == ()
    assert plan.share_note.startswith("not shared: early_stopping is 'auto'")


REFUSED = [
    (
        {"estimator": {"class": "sklearn.linear_model.Ridge"}, "space": {"alpha": [1.0, 2.0]}},
        "search.share_fits must be false or auto here: fits cannot be shared exactly because Ridge has no",
    ),
    ({"space": {"max_depth": [2, 3]}}, "because the space does not vary n_estimators"),
    (
        {"estimator": {"class": SKLEARN + "RandomForestRegressor", "params": {"random_state": None}}},
        "because random_state must be a fixed integer (it is None)",
    ),
    ({"space": {"n_estimators": [4, 8], "warm_start": [False, True]}}, "(space.warm_start has True)"),
    ({"search": {"share_fits": True, "algorithm": "optuna", "num_samples": 2}}, "optuna proposes"),
]


@pytest.mark.parametrize(
    ("change", "message"), REFUSED, ids=["no-family", "no-size", "no-seed", "warm", "optuna"]
)
def test_share_fits_true_is_refused_where_fits_cannot_be_shared(tmp_path, change, message):
    raw = experiment_dict(tmp_path, search={"share_fits": True}, runner="tune")
    raw.update(change)
    path = write(tmp_path, raw)
    assert_rejected(cli("tuning.run", str(path)), message, tmp_path)


def test_rf_yaml_is_the_unshared_tutorial():
    experiment = load_experiment(ROOT / "experiments" / "rf.yaml")
    assert experiment.search.share_fits is False and why_not_share(experiment) is None


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_both_runners_share_alike_and_the_saved_model_is_the_best_configuration(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    summary = run_experiment(rf_experiment(tmp_path, share_fits=True), "both", echo=lambda _: None)
    tune, seq = summary["trials"]["tune"], summary["trials"]["sequential"]
    assert summary["status"] == "complete" and summary["parity"] == {"identical": True, "differing": []}
    assert len(tune) == len(seq) == 6 and len({t["path"] for t in tune}) == 2  # 6 rows from 2 Tune trials
    key = lambda t: json.dumps(t["config"], sort_keys=True)  # noqa: E731
    assert {key(t): t["metrics"]["mse"] for t in tune} == {key(t): t["metrics"]["mse"] for t in seq}
    best = min(tune, key=lambda t: t["metrics"]["mse"])
    run_dir = Path(summary["run_dir"])
    info = json.loads((run_dir / "best_model.json").read_text())
    assert info["config"] == best["config"]
    assert info["validation_metrics"]["mse"] == best["metrics"]["mse"]  # the same model, to the last bit
    model = joblib.load(run_dir / "best_model.joblib")
    assert len(model.estimators_) == best["config"]["n_estimators"]
    assert info["fitted_by"] == "trial" and info["fit_time_s"] == 0.0  # cut from the group's one fit
    assert_is_a_separate_fit(model, summary, tmp_path)


def assert_is_a_separate_fit(model, summary: dict, tmp_path: Path, experiment=None) -> None:
    """``model`` predicts rows (a DataFrame) to the last bit as a separate refit of its configuration."""
    from tuning.planning.plan import with_cpus
    from tuning.reports.best_model import refit
    from tuning.trial.data import load_split

    experiment = experiment or rf_experiment(tmp_path, share_fits=True)
    split = load_split(experiment.data, experiment.split, experiment.split.seed)
    other = tmp_path / "separate"
    other.mkdir()
    spec = TrialSpec.from_experiment(with_cpus(experiment, 1))
    info = refit(summary["best_model"]["config"], split, spec, other)
    separate = joblib.load(other / "best_model.joblib")
    rows = split.frame(split.X_test)
    assert info["fitted_by"] == "refit" and list(model.feature_names_in_) == list(rows.columns)
    assert np.array_equal(model.predict(rows), separate.predict(rows))


@pytest.mark.slow
def test_a_sequential_or_cross_validated_run_refits_its_best_model(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    quiet = {"echo": lambda _: None}
    sequential = run_experiment(rf_experiment(tmp_path, share_fits=True), "sequential", **quiet)
    cv = validate({**experiment_dict(tmp_path, space={"n_estimators": [2, 4]}), "split": {"cv": 2}})
    tune_cv = run_experiment(
        cv.model_copy(update={"search": cv.search.model_copy(update={"share_fits": True})}), "tune", **quiet
    )
    for summary in (sequential, tune_cv):
        info = json.loads((Path(summary["run_dir"]) / "best_model.json").read_text())
        assert info["fitted_by"] == "refit" and info["fit_time_s"] > 0


@pytest.mark.slow
def test_an_unshared_run_keeps_its_best_trials_own_fit_and_only_its_processes_best(ray_session, tmp_path):
    from tuning._experiment import run_experiment
    from tuning.trial.shared_fits import FIT_FILE

    # one actor runs the four trials in turn (reuse_actors); after 16 trees, the smaller forests do worse
    resources = {"num_cpus": 1, "max_concurrent_trials": 1}
    experiment = validate(
        experiment_dict(tmp_path, space={"n_estimators": [16, 1, 2, 4]}, resources=resources)
    )
    quiet = {"echo": lambda _: None}
    summary = run_experiment(experiment, "tune", **quiet)
    trials, run_dir = summary["trials"]["tune"], Path(summary["run_dir"])
    best = min(trials, key=lambda t: t["metrics"]["mse"])
    info = json.loads((run_dir / "best_model.json").read_text())
    assert info["fitted_by"] == "trial" and info["fit_time_s"] == 0.0 and info["config"] == best["config"]
    assert info["validation_metrics"]["mse"] == best["metrics"]["mse"]
    assert_is_a_separate_fit(joblib.load(run_dir / "best_model.joblib"), summary, tmp_path, experiment)
    seen: dict[int, float] = {}  # each worker process's best so far
    improved = set()
    for trial in sorted(trials, key=lambda t: t["started_at"]):
        pid, mse = trial["pid"], trial["metrics"]["mse"]
        if pid not in seen or mse < seen[pid]:
            seen[pid] = mse
            improved.add(trial["path"])
    written = {t["path"] for t in trials if any(Path(t["path"]).glob("checkpoint_*"))}
    assert written == improved and best["path"] in written and len(written) < len(trials) == 4
    assert not list(run_dir.glob(f"*/checkpoint_*/{FIT_FILE}"))  # deleted once the best model is saved
    sequential = run_experiment(experiment, "sequential", **quiet)["best_model"]
    assert (
        sequential["config"] == best["config"]
        and sequential["validation_metrics"] == info["validation_metrics"]
    )
    saved = json.loads((Path(sequential["path"]).parent / "best_model.json").read_text())
    assert saved["fitted_by"] == "trial"  # the baseline's best, kept in memory
    for split in ({"cv": 2}, {"repeats": 2}):
        raw = experiment_dict(tmp_path, space={"n_estimators": [2, 4]}, split=split)
        folds = run_experiment(validate(raw), "tune", **quiet)
        info = json.loads((Path(folds["run_dir"]) / "best_model.json").read_text())
        assert info["fitted_by"] == "refit" and info["fit_time_s"] > 0
        assert not list(Path(folds["run_dir"]).glob(f"*/checkpoint_*/{FIT_FILE}"))


@pytest.mark.slow
def test_rf_shared_gives_rf_yaml_s_twenty_mses_to_the_last_bit(tmp_path):
    cheap = ["--set", "estimator.params.max_depth=4", "--set", f"storage_path={tmp_path}"]
    mses = {}
    for name in ("rf", "rf_shared"):
        done = cli("tuning.run", str(ROOT / "experiments" / f"{name}.yaml"), *cheap, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        (summary,) = (tmp_path / name).glob("*/summary.json")
        trials = json.loads(summary.read_text())["trials"]["tune"]
        mses[name] = {t["config"]["n_estimators"]: t["metrics"]["mse"] for t in trials}
    assert len(mses["rf"]) == 20 and mses["rf_shared"] == mses["rf"]


def test_a_kept_fit_is_cut_to_the_best_size_only_where_it_was_fitted_on_the_training_rows(tmp_path):
    from dataclasses import replace

    from sklearn.ensemble import RandomForestRegressor

    from tests.units import tiny_split
    from tuning.reports.best_model import kept_fit
    from tuning.trial.records import TrialResult
    from tuning.trial.shared_fits import FIT_FILE, INDEX_KEY

    split = tiny_split()
    spec = TrialSpec("sklearn.ensemble.RandomForestRegressor", {"random_state": 0, "max_depth": 2})
    best, config = (
        TrialResult("t_001", {"n_estimators": 2}, {"mse": 1.0, INDEX_KEY: 1}, path=str(tmp_path)),
        {"n_estimators": 2},
    )
    assert kept_fit(best, config, split, spec) is None  # no checkpoint: refit
    (tmp_path / "checkpoint_000000").mkdir()
    forest = RandomForestRegressor(n_estimators=3, max_depth=2, random_state=0).fit(
        split.X_train, split.y_train
    )
    joblib.dump(forest, tmp_path / "checkpoint_000000" / FIT_FILE)
    cut = kept_fit(best, config, split, spec)
    assert len(cut.estimators_) == 2 and list(cut.feature_names_in_) == ["a", "b", "c"]
    alone = replace(best, metrics={"mse": 1.0})  # an unshared trial's fit: its own model, whole
    assert len(kept_fit(alone, config, split, spec).estimators_) == 3
    assert kept_fit(best, config, split, replace(spec, cv=2)) is None  # folds: not the training rows
    assert kept_fit(best, config, split, replace(spec, repeats=3)) is None
    assert kept_fit(replace(best, path="s3://bucket/run/t"), config, split, spec) is None


# --------------------------------------------------------------------------- property


@settings(max_examples=12)
@given(
    case=st.sampled_from(
        [
            ("RandomForestRegressor", {"max_depth": 3}, "n_estimators"),
            ("ExtraTreesRegressor", {"max_depth": 3, "bootstrap": True}, "n_estimators"),
            ("GradientBoostingRegressor", {"max_depth": 2, "subsample": 0.7}, "n_estimators"),
            ("HistGradientBoostingRegressor", {"early_stopping": False, "max_leaf_nodes": 5}, "max_iter"),
        ]
    ),
    sizes=st.sets(st.integers(1, 12), min_size=1, max_size=4),
    cv=st.sampled_from([None, 2]),
    seed=st.integers(0, 1000),
)
def test_a_group_equals_its_separate_trials_for_any_sizes(case, sizes, cv, seed):
    """Any set of sizes, in any order, shared or not: every score of each configuration is its
    separate trial's, to the last bit (tiny fits on 80 rows)."""
    estimator, fixed, size = case
    split = small_split(rows=80)
    spec = TrialSpec(SKLEARN + estimator, {**fixed, "random_state": seed}, cv=cv, seed=seed)
    configs = [{size: n} for n in sizes]  # a set's order: not sorted
    with threadpool_limits(1):
        (group,) = group_configs(configs, size)
        assert group.sizes == tuple(sorted(sizes))
        for config, result in zip(group.configs, run_group(group, split, spec), strict=True):
            alone = run_trial(config, split, spec)
            scores = {k: v for k, v in alone.items() if is_metric_key(k)}
            assert scores and {k: result[k] for k in scores} == scores, config
