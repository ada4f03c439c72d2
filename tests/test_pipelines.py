"""Pipelines (``estimator.steps``) and a choice between estimators (``estimator.choice``):
bad input through the CLI, the expansion of a choice for each search algorithm, and both
examples run with both runners."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import assert_rejected, cli, write
from tuning.config import validate
from tuning.estimators.models import CHOICE_KEY, flat_choice, nested_choice
from tuning.estimators.space import suggest_choice
from tuning.planning.plan import trials_in_run_order
from tuning.trial.fit import TrialSpec, build_estimator

SCALE = {"name": "scale", "class": "sklearn.preprocessing.StandardScaler"}
RIDGE = {"name": "model", "class": "sklearn.linear_model.Ridge"}
PIPELINE = {"steps": [SCALE, RIDGE]}
FOREST = {"class": "sklearn.ensemble.RandomForestRegressor", "space": {"n_estimators": [4, 8]}}
LINEAR = {"class": "sklearn.linear_model.Ridge", "space": {"alpha": [0.1, 1.0]}}
ASHA = {"scheduler": "asha", "budget": {"param": "n_estimators", "max": 8, "step": 4}}
CARS = ROOT / "experiments" / "data" / "cars.csv"


def _choice(**branches: dict) -> dict:
    return {"estimator": {"choice": branches}, "space": {}}


BAD = [
    pytest.param(
        {"estimator": PIPELINE, "space": {"scal__with_mean": [True]}},
        "exp.yaml:10: space.scal__with_mean must be a step__param name with a step among scale, model",
        id="no-such-step",
    ),
    pytest.param(
        {"estimator": PIPELINE, "space": {"model__alpah": [1.0]}},
        "space.model__alpah is not a parameter of Ridge (did you mean 'alpha'?)",
        id="no-such-step-parameter",
    ),
    pytest.param(
        {"estimator": PIPELINE, "space": {"alpha": [1.0]}},
        "space.alpha must be a step__param name with a step among scale, model",
        id="not-a-step-param-name",
    ),
    pytest.param(
        {
            "estimator": {"steps": [SCALE, {"class": "sklearn.preprocessing.MinMaxScaler"}]},
            "space": {"scale__with_std": [True]},
        },
        "estimator.steps.1.class must be a scikit-learn-style estimator class; it has no predict "
        "(the last step is the model)",
        id="last-step-not-an-estimator",
    ),
    pytest.param(
        {"estimator": {"steps": [SCALE, {**RIDGE, "name": "scale"}]}, "space": {"scale__with_std": [True]}},
        "estimator.steps.1.name must give each step its own name (another step has it",
        id="two-steps-one-name",
    ),
    pytest.param(
        _choice(forest=FOREST, logistic={"class": "sklearn.linear_model.LogisticRegression"}),
        "estimator.choice.logistic must be a regressor like RandomForestRegressor (estimator.choice.forest)",
        id="classifier-and-regressor",
    ),
    pytest.param(
        _choice(forest=FOREST, linear={**LINEAR, "space": {"max_depth": [2]}}),
        "estimator.choice.linear.space.max_depth is not a parameter of Ridge",
        id="branch-parameter-not-taken",
    ),
    pytest.param(
        {"estimator": {"class": "sklearn.pipeline.Pipeline"}, "space": {"verbose": [True]}},
        "estimator.class must be an estimator class that can be built without arguments",
        id="pipeline-class",
    ),
    pytest.param(
        {**_choice(forest={**FOREST, "space": {"max_depth": [2, 4]}}, linear=LINEAR), "search": ASHA},
        "search.budget.param must be a parameter of Ridge (estimator.choice.linear: a budget grows every "
        "branch's model); got 'n_estimators'",
        id="budget-in-one-branch",
    ),
    pytest.param(
        {**_choice(forest=FOREST, linear=LINEAR), "search": {"share_fits": True}},
        "search.share_fits must be false or auto here: fits cannot be shared exactly because Ridge has no "
        "size parameter that grows by exact prefixes (forests, boosting) (in estimator.choice.linear)",
        id="share-fits-in-one-branch",
    ),
    pytest.param(
        {**_choice(forest=FOREST, linear=LINEAR), "space": {"n_estimators": [4]}},
        "space must be empty when estimator.choice is set",
        id="choice-and-space",
    ),
    pytest.param(
        {"estimator": {"class": "sklearn.linear_model.Ridge", **PIPELINE}},
        "estimator must have one of class, steps or choice; got class and steps",
        id="class-and-steps",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD)
def test_bad_pipelines_and_choices_are_refused_in_one_line(tmp_path, change, message):
    path = write(tmp_path, experiment_dict(tmp_path, **change))
    assert_rejected(cli("tuning.run", str(path)), message, tmp_path)


def _choice_experiment(tmp_path: Path, algorithm: str = "grid", samples: int | None = None):
    search = {"algorithm": algorithm, **({"num_samples": samples} if samples else {})}
    return validate(
        experiment_dict(tmp_path, **_choice(forest=FOREST, linear=LINEAR, scaled={**PIPELINE}), search=search)
    )


def test_a_grid_runs_every_branch_grid_in_turn(tmp_path):
    configs = trials_in_run_order(_choice_experiment(tmp_path))
    assert [c[CHOICE_KEY] for c in configs] == ["forest", "forest", "linear", "linear", "scaled"]
    assert configs[0] == {CHOICE_KEY: "forest", "forest/n_estimators": 4}
    assert configs[3] == {CHOICE_KEY: "linear", "linear/alpha": 1.0}
    assert configs[4] == {CHOICE_KEY: "scaled"}  # a branch with no space runs as it is


def test_a_random_search_of_a_choice_draws_distinct_configurations_repeatably(tmp_path):
    drawn = trials_in_run_order(_choice_experiment(tmp_path, "random", 4))
    assert drawn == trials_in_run_order(_choice_experiment(tmp_path, "random", 4))
    assert len({json.dumps(c, sort_keys=True) for c in drawn}) == 4  # without replacement
    everything = trials_in_run_order(_choice_experiment(tmp_path))
    assert all(c in everything for c in drawn)


def test_a_random_search_cannot_draw_more_than_the_choice_has(tmp_path):
    with pytest.raises(ValueError, match=r"search\.num_samples must be at most 5"):
        _choice_experiment(tmp_path, "random", 6)


def test_optuna_proposes_the_branch_then_only_its_parameters(tmp_path):
    optuna = pytest.importorskip("optuna")
    spaces = {"forest": {"n_estimators": {"choice": [4, 8]}}, "linear": {"alpha": {"loguniform": [0.1, 10]}}}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        suggest_choice(spaces, trial)
        branch = trial.params[CHOICE_KEY]
        seen.add(branch)
        assert set(trial.params) == {CHOICE_KEY, *(f"{branch}/{p}" for p in spaces[branch])}
        study.tell(trial, 1.0)
    assert seen == {"forest", "linear"}


def test_tune_holds_a_choice_nested_and_the_runners_flat():
    flat = {CHOICE_KEY: "forest", "forest/max_depth": 8, "forest/min_samples_leaf": 2}
    nested = nested_choice(flat)
    assert nested == {CHOICE_KEY: "forest", "forest": {"max_depth": 8, "min_samples_leaf": 2}}
    assert flat_choice(nested) == flat
    assert flat_choice({"n_estimators": 8}) == {"n_estimators": 8}


def test_a_pipeline_follows_the_automatic_preprocessing(tmp_path):
    raw = experiment_dict(tmp_path, estimator=PIPELINE, space={"model__alpha": [0.5]})
    spec = TrialSpec.from_experiment(validate(raw))
    split = _cars_split()
    model = build_estimator({"model__alpha": 0.5}, split, spec)
    assert [name for name, _ in model.steps] == ["preprocess", "scale", "model"]
    assert model.named_steps["model"].alpha == 0.5 and model.named_steps["model"].random_state == 201
    assert spec.describe({}) == "scale=StandardScaler > model=Ridge"


def _cars_split():
    from tuning.config import DataConfig, SplitConfig
    from tuning.trial.data import split_frame

    data = DataConfig(source=str(CARS), target="price")
    return split_frame(pd.read_csv(CARS), data, SplitConfig(test_size=0.25), seed=7)


def test_fits_are_shared_per_branch_and_behind_steps_to_the_last_bit(tmp_path):
    from tuning.planning.cluster import local_cluster
    from tuning.planning.plan import make_plan
    from tuning.trial.fit import run_trial
    from tuning.trial.shared_fits import run_group

    trees = {"name": "model", "class": "sklearn.ensemble.ExtraTreesRegressor"}
    piped = {"steps": [SCALE, trees], "space": {"model__n_estimators": [2, 4, 6]}}
    raw = experiment_dict(tmp_path, **_choice(forest=FOREST, trees=piped), search={"share_fits": True})
    plan = make_plan(validate(raw), "sequential", local_cluster(num_cpus=2))
    assert [g.size_param for g in plan.groups] == ["forest/n_estimators", "trees/model__n_estimators"]
    assert plan.share_note.startswith("5 configurations from 2 fits")
    split = _cars_split()
    for group in plan.groups:
        shared = [r["mse"] for r in run_group(group, split, plan.spec)]
        assert shared == [run_trial(config, split, plan.spec)["mse"] for config in group.configs]


def test_a_choice_of_classifiers_scores_each_branch_with_the_classifier_metric(tmp_path):
    from tuning.trial.data import builtin_frame, split_frame
    from tuning.trial.fit import run_trial

    forest = {"class": "sklearn.ensemble.RandomForestClassifier", "space": {"max_depth": [2]}}
    linear = {"name": "model", "class": "sklearn.linear_model.RidgeClassifier"}
    linear = {"steps": [SCALE, linear], "space": {"model__alpha": [1.0]}}
    raw = experiment_dict(tmp_path, data={"source": "breast_cancer"}, metric="roc_auc")
    experiment = validate({**raw, **_choice(forest=forest, linear=linear)})
    spec = TrialSpec.from_experiment(experiment)
    assert spec.classifier and experiment.mode == "max"
    rows = builtin_frame("breast_cancer")
    split = split_frame(rows, experiment.data, experiment.split, 201, classifier=True)
    for config in trials_in_run_order(experiment):
        result = run_trial(config, split, spec)
        assert result["roc_auc"] > 0.9 and result["model"] == spec.describe(config)


def _run(tmp_path: Path, example: str, *overrides: str):
    result = cli(
        "tuning.run",
        f"experiments/{example}.yaml",
        "--set",
        f"storage_path={tmp_path}",
        *overrides,
        "--num-cpus",
        "2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / example).iterdir()
    return result, run_dir, json.loads((run_dir / "summary.json").read_text())


@pytest.mark.slow
def test_the_pipeline_example_runs_both_runners_alike_and_saves_the_whole_pipeline(tmp_path):
    result, run_dir, summary = _run(tmp_path, "pipeline")
    assert summary["parity"] == {"identical": True, "differing": []}
    assert len(summary["trials"]["tune"]) == 8
    steps = "scale=StandardScaler > poly=PolynomialFeatures > model=Ridge"
    assert {t["model"] for t in summary["trials"]["tune"]} == {steps}
    assert [s["name"] for s in summary["estimator"]["steps"]] == ["scale", "poly", "model"]
    assert "model  " in result.stdout and steps in result.stdout  # the table's model column
    model = joblib.load(run_dir / "best_model.joblib")
    assert [name for name, _ in model.steps] == ["preprocess", "scale", "poly", "model"]
    best = summary["best"]["config"]
    assert model.named_steps["poly"].degree == best["poly__degree"]
    assert model.named_steps["model"].alpha == best["model__alpha"]
    rows = pd.read_csv(CARS).drop(columns="price").head(3)
    rows.loc[0, "make"] = "tesla"  # a category never seen
    rows.loc[1, ["power", "fuel"]] = [np.nan, None]  # gaps
    assert np.isfinite(model.predict(rows)).all()


@pytest.mark.slow
def test_the_choice_example_runs_both_runners_alike_and_names_each_trial_model(tmp_path):
    from tuning.reports.html.data import report_data

    result, run_dir, summary = _run(tmp_path, "model_choice")
    assert summary["parity"] == {"identical": True, "differing": []}
    trials = summary["trials"]["tune"]
    by_branch = {
        b: [t for t in trials if t["config"][CHOICE_KEY] == b] for b in ("forest", "boosting", "linear")
    }
    assert [len(v) for v in by_branch.values()] == [3, 4, 2]
    assert {t["model"] for t in by_branch["boosting"]} == {"HistGradientBoostingRegressor"}
    assert {t["model"] for t in by_branch["linear"]} == {"scale=StandardScaler > model=Ridge"}
    assert all(set(t["config"]) == {CHOICE_KEY, "forest/max_depth"} for t in by_branch["forest"])
    header = next(line for line in result.stdout.splitlines() if line.startswith("trial "))
    assert header.split()[1:3] == ["model", "estimator"]
    data = report_data(summary)  # a branch's parameter is plotted over that branch's trials
    assert len(data["params"]["boosting/learning_rate"]["tune"]) == 4
    assert len(data["params"][CHOICE_KEY]["tune"]) == 9
    names = _hparams(run_dir)  # TensorBoard's HParams of Tune's trials: the flattened names
    assert names == {CHOICE_KEY, "forest/max_depth", *_BOOSTING, "linear/model__alpha"}
    assert _hparams(run_dir / "sequential") == names  # the baseline's events name them alike
    page = (run_dir / "report.html").read_text()
    assert "<th>model</th>" in page and "scale=StandardScaler &gt; model=Ridge" in page
    assert (run_dir / "best_model.joblib").is_file()


_BOOSTING = ("boosting/learning_rate", "boosting/max_leaf_nodes")


def _hparams(folder: Path) -> set[str]:
    """The HParams names of every trial folder's TensorBoard events (a forest's max_depth None
    is not a TensorBoard value: forest/max_depth comes from its other trials)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    names: set[str] = set()
    for trial in (p for pattern in ("trial_*", "sequential_*") for p in folder.glob(pattern) if p.is_dir()):
        events = EventAccumulator(str(trial))
        events.Reload()
        for metadata in events.summary_metadata.values():
            if metadata.plugin_data.plugin_name == "hparams":
                data = plugin_data_pb2.HParamsPluginData.FromString(metadata.plugin_data.content)
                names |= set(data.session_start_info.hparams)
    return names


@pytest.mark.slow
@pytest.mark.parametrize(("algorithm", "samples"), [("random", 5), ("optuna", 4)], ids=["random", "optuna"])
def test_random_and_optuna_search_a_choice(tmp_path, algorithm, samples):
    if algorithm == "optuna":
        pytest.importorskip("optuna")
    _, _, summary = _run(
        tmp_path,
        "model_choice",
        "--set",
        f"search.algorithm={algorithm}",
        "--set",
        f"search.num_samples={samples}",
    )
    assert summary["parity"]["identical"] is True
    trials = summary["trials"]["tune"]
    assert len(trials) == samples and all(t["status"] == "ok" for t in trials)
    for trial in trials:  # only the chosen branch's parameters
        branch = trial["config"][CHOICE_KEY]
        assert all(k == CHOICE_KEY or k.startswith(f"{branch}/") for k in trial["config"])


def test_the_examples_are_valid():
    for name in ("pipeline", "model_choice"):
        experiment = validate(yaml.safe_load((ROOT / "experiments" / f"{name}.yaml").read_text()))
        assert experiment.runner == "both"
