"""What a trial builds: one class, a pipeline's steps, a choice's branches; and the searcher
that hands Tune a choice's configurations in order.

Unit tests of the modules that decide results, without a Ray session (`tests.units`); the
mutation run (docs/testing.md, "Mutation testing") selects them.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sklearn.pipeline import Pipeline

from tests.units import GROWER, Grower
from tuning.estimators.models import (
    CHOICE_KEY,
    Model,
    Step,
    branch_config,
    choice_config,
    default_step_name,
    flat_choice,
    model_of,
    nested_choice,
    short_name,
    step_params,
    with_final,
    without_final,
)

SCALER = "sklearn.preprocessing.StandardScaler"
FOREST = "sklearn.ensemble.RandomForestRegressor"
PIPED = Model(
    (Step("scale", SCALER, {"with_mean": False}), Step("model", GROWER, {"n_jobs": 3})),
    pipeline=True,
)
ALONE = Model((Step("estimator", GROWER, {"n_jobs": 3, "sleep": 0.0}),))


def test_a_class_is_built_with_its_fixed_parameters_under_the_configuration():
    built = ALONE.build({"n_estimators": 4, "n_jobs": 2})
    assert type(built) is Grower and (built.n_estimators, built.n_jobs, built.sleep) == (4, 2, 0.0)
    assert ALONE.final is ALONE.steps[0] and not ALONE.pipeline
    assert ALONE.describe() == "Grower" and ALONE.key("n_estimators") == "n_estimators"
    fixed = ALONE.fixed()
    assert fixed == {"n_jobs": 3, "sleep": 0.0} and fixed is not ALONE.final.params
    config = {"n_estimators": 4}
    assert ALONE.final_part(config) == config and ALONE.final_part(config) is not config


def test_a_pipeline_is_built_step_by_step_with_step_param_names():
    built = PIPED.build({"model__n_estimators": 5, "scale__with_std": False})
    assert type(built) is Pipeline and [name for name, _ in built.steps] == ["scale", "model"]
    scale, model = built.named_steps["scale"], built.named_steps["model"]
    assert (scale.with_mean, scale.with_std) == (False, False)
    assert type(model) is Grower and (model.n_estimators, model.n_jobs) == (5, 3)
    assert PIPED.final.name == "model" and PIPED.describe() == "scale=StandardScaler > model=Grower"
    assert PIPED.fixed() == {"scale__with_mean": False, "model__n_jobs": 3}
    assert PIPED.key("n_estimators") == "model__n_estimators"
    config = {"model__n_estimators": 5, "model__sleep": 0.1, "scale__with_std": True, "n_jobs": 1}
    assert PIPED.final_part(config) == {"n_estimators": 5, "sleep": 0.1}


def test_a_pipeline_step_that_is_no_transformer_is_refused_when_built():
    model = Model((Step("first", GROWER, {}), Step("model", GROWER, {})), pipeline=True)
    with pytest.raises(ValueError, match="transform"):
        model.build({})


def test_names_of_classes_and_steps():
    assert short_name("sklearn.ensemble.RandomForestRegressor") == "RandomForestRegressor"
    assert short_name("Plain") == "Plain"
    assert default_step_name(SCALER) == "standardscaler"
    searched = {"model__a", "model__b__c", "scale__a", "modelx__d", "model_e"}
    assert step_params(searched, "model") == {"a", "b__c"}
    assert step_params(searched, "other") == set()


def test_a_choice_configuration_names_its_branch_and_prefixes_its_parameters():
    config = choice_config("forest", {"max_depth": 8, "n_estimators": 4})
    assert config == {CHOICE_KEY: "forest", "forest/max_depth": 8, "forest/n_estimators": 4}
    assert list(config) == [CHOICE_KEY, "forest/max_depth", "forest/n_estimators"]
    assert branch_config({**config, "linear/alpha": 1.0, "seed": 1}) == (
        "forest",
        {"max_depth": 8, "n_estimators": 4},
    )
    assert branch_config({CHOICE_KEY: "linear"}) == ("linear", {})


def test_tune_holds_a_choice_nested_and_everything_else_as_it_is():
    flat = {CHOICE_KEY: "forest", "forest/max_depth": 8, "linear/alpha": 1.0, "seed": 1}
    nested = nested_choice(flat)
    assert nested == {CHOICE_KEY: "forest", "linear/alpha": 1.0, "seed": 1, "forest": {"max_depth": 8}}
    assert flat_choice(nested) == flat
    assert nested_choice({CHOICE_KEY: "scaled"}) == {CHOICE_KEY: "scaled"}  # no empty branch entry
    plain = {"n_estimators": 8}
    assert flat_choice(plain) == plain and flat_choice(plain) is not plain
    odd = {CHOICE_KEY: "forest", "forest": 3}  # a value named like the branch that is no mapping
    assert flat_choice(odd) == odd and flat_choice(odd) is not odd
    assert flat_choice({CHOICE_KEY: 1, "1": {"a": 2}}) == {CHOICE_KEY: 1, "1": {"a": 2}}


def _config(path=None, params=None, steps=None):
    return SimpleNamespace(class_path=path, params=params or {}, steps=steps)


def _step(path, name=None, params=None):
    return SimpleNamespace(class_path=path, name=name, params=params or {})


def test_a_class_model_gets_the_seed_and_threads_it_takes_unless_set_or_searched():
    assert model_of(_config(FOREST, {"max_depth": 3}), set()) == Model(
        (Step("estimator", FOREST, {"max_depth": 3}),)
    )
    seeded = model_of(_config(FOREST, {"max_depth": 3}), {"n_jobs"}, seed=7, n_jobs=2)
    assert seeded.final.params == {"random_state": 7, "max_depth": 3} and not seeded.pipeline
    threads = model_of(_config(FOREST), set(), seed=7, n_jobs=2).final.params
    assert threads == {"random_state": 7, "n_jobs": 2}
    assert model_of(_config(FOREST), set(), seed=7).final.params["n_jobs"] == 1


def test_a_pipeline_model_fills_each_step_by_its_own_searched_names():
    steps = [_step(SCALER, params={"with_mean": False}), _step(FOREST, name="model")]
    model = model_of(
        _config(steps=steps), {"model__random_state", "standardscaler__n_jobs"}, seed=7, n_jobs=2
    )
    assert model.pipeline and model.steps == (
        Step("standardscaler", SCALER, {"with_mean": False}),
        Step("model", FOREST, {"n_jobs": 2}),
    )
    unseeded = model_of(_config(steps=steps), set())
    assert unseeded.final.params == {} and unseeded.steps[0].params == {"with_mean": False}
    assert unseeded.steps[0].params is not steps[0].params


def test_with_and_without_final_change_the_last_step_only():
    grown = with_final(PIPED, warm_start=True)
    assert grown.steps[0] == PIPED.steps[0] and grown.pipeline
    assert grown.final == Step("model", GROWER, {"n_jobs": 3, "warm_start": True})
    assert with_final(ALONE, n_jobs=1).final.params == {"n_jobs": 1, "sleep": 0.0}
    plain = without_final(grown, "warm_start", "absent")
    assert plain == PIPED
    assert without_final(ALONE, "n_jobs", "sleep").final.params == {}


def test_the_listed_searcher_proposes_each_configuration_once_in_order(tmp_path):
    from ray.tune.search import Searcher

    from tuning.runners.listed import ListedSearcher

    configs = [{"a": [1]}, {"a": [2]}, {"a": [3]}]
    searcher = ListedSearcher(configs)
    configs[0]["a"].append(9)  # the searcher keeps its own copies
    first = searcher.suggest("t0")
    assert first == {"a": [1]}
    first["a"].append(8)  # and hands out copies
    assert searcher.configs[0] == {"a": [1]} and searcher.position == 1
    searcher.on_trial_complete("t0", {"mse": 1.0})
    path = tmp_path / "searcher.pkl"
    searcher.save(str(path))
    again = ListedSearcher([])
    again.restore(str(path))
    assert (again.configs, again.position) == ([{"a": [1]}, {"a": [2]}, {"a": [3]}], 1)
    assert [again.suggest(f"t{i}") for i in (1, 2)] == [{"a": [2]}, {"a": [3]}]
    assert again.suggest("t3") == Searcher.FINISHED and again.suggest("t4") == Searcher.FINISHED
    assert again.position == 3


SCALE = {"name": "scale", "class": SCALER}
GROWN = {"name": "model", "class": GROWER, "params": {"sleep": 0.0}}


def test_a_pipelines_spec_holds_its_steps_and_the_models_fixed_parameters(tmp_path):
    from tests.units import experiment
    from tuning.trial.fit import TrialSpec

    budget = {"budget": {"param": "n_estimators", "max": 4, "step": 2}}
    raw = {"estimator": {"steps": [SCALE, GROWN]}, "space": {"model__n_jobs": [1, 2]}}
    spec = TrialSpec.from_experiment(experiment(tmp_path, **raw, search=budget, resources={"num_cpus": 2}))
    assert (spec.estimator, spec.params, spec.choice) == (GROWER, {"sleep": 0.0, "warm_start": True}, None)
    assert spec.pipeline == (
        Step("scale", SCALER, {}),
        Step("model", GROWER, {"sleep": 0.0, "warm_start": True}),
    )
    assert spec.model == Model(spec.pipeline, pipeline=True) and spec.model_for({"a": 1}) == (
        spec.model,
        {"a": 1},
    )
    assert spec.describe({}) == "scale=StandardScaler > model=Grower"
    assert spec.params_of({"model__n_jobs": 2}) == {
        "model__sleep": 0.0,
        "model__warm_start": True,
        "model__n_jobs": 2,
    }
    plain = spec.without_budget()
    assert plain.budget is None and plain.params == {"sleep": 0.0} and plain.pipeline == spec.pipeline
    assert plain.model.final == Step("model", GROWER, {"sleep": 0.0}) and plain.without_budget() is plain
    alone = TrialSpec.from_experiment(
        experiment(tmp_path, estimator={"class": GROWER}, space={"n_jobs": [1]})
    )
    assert alone.pipeline == () and alone.model == Model((Step("estimator", GROWER, {}),))
    assert alone.params_of({"n_jobs": 1}) == {"n_jobs": 1} and alone.describe({}) == "Grower"


def test_a_choices_spec_holds_each_branch_and_builds_the_one_a_configuration_names(tmp_path):
    from tests.units import experiment, tiny_split
    from tuning.trial.fit import TrialSpec, build_estimator

    branches = {
        "grower": {"class": GROWER, "params": {"sleep": 0.0}, "space": {"n_jobs": [1, 2]}},
        "piped": {"steps": [SCALE, GROWN], "space": {"model__n_jobs": [3]}},
    }
    budget = {"budget": {"param": "n_estimators", "max": 4, "step": 2}}
    raw = {"estimator": {"choice": branches}, "space": {}, "resources": {"num_cpus": 2}}
    spec = TrialSpec.from_experiment(experiment(tmp_path, **raw, search=budget))
    assert (spec.estimator, spec.params, spec.pipeline, spec.classifier) == ("", {}, (), False)
    assert set(spec.choice) == {"grower", "piped"} and spec.choice["piped"].pipeline
    assert spec.choice["grower"].final.params == {"sleep": 0.0, "warm_start": True}
    config = {CHOICE_KEY: "piped", "piped/model__n_jobs": 3}
    assert spec.model_for(config) == (spec.choice["piped"], {"model__n_jobs": 3})
    assert spec.describe(config) == "scale=StandardScaler > model=Grower"
    assert spec.describe({CHOICE_KEY: "grower"}) == "Grower"
    assert spec.params_of(config) == {"model__sleep": 0.0, "model__warm_start": True, "model__n_jobs": 3}
    built = build_estimator(config, tiny_split(), spec)
    assert type(built) is Pipeline and built.named_steps["model"].n_jobs == 3
    plain = spec.without_budget()
    assert plain.choice["grower"].final.params == {"sleep": 0.0} and plain.params == {}
    assert plain.choice["piped"].final.params == {"sleep": 0.0} and plain.choice["piped"].pipeline
    nothing = TrialSpec.from_experiment(experiment(tmp_path, **raw))
    assert nothing.without_budget() is nothing and nothing.choice["grower"].final.params == {"sleep": 0.0}


SPACES = {
    "forest": {"n": {"grid": [1, 2]}, "d": {"choice": ["x"]}},
    "linear": {"alpha": {"grid": [0.5]}},
    "plain": {},
}


def test_a_grid_of_a_choice_runs_each_branch_grid_in_turn():
    from tuning.estimators.space import expand_choice

    assert expand_choice(SPACES, 1, 0) == [
        {CHOICE_KEY: "forest", "forest/n": 1, "forest/d": "x"},
        {CHOICE_KEY: "forest", "forest/n": 2, "forest/d": "x"},
        {CHOICE_KEY: "linear", "linear/alpha": 0.5},
        {CHOICE_KEY: "plain"},
    ]
    with pytest.raises(ValueError, match=r"adaptive search \(optuna\)"):
        expand_choice(SPACES, 1, 0, "optuna")


def test_a_random_search_of_a_choice_draws_branches_then_their_values_as_plain_numbers():
    from sklearn.model_selection import ParameterSampler

    from tuning.estimators.space import expand_choice

    spaces = {
        "forest": {"n": {"randint": [2, 4]}, "d": {"uniform": [1.0, 3.0]}},
        "linear": {"alpha": {"loguniform": [0.01, 1.0]}, "fit": {"choice": [True, False]}},
    }
    drawn = expand_choice(spaces, 40, 3, "random")
    assert drawn == expand_choice(spaces, 40, 3, "random") != expand_choice(spaces, 40, 4, "random")
    assert len(drawn) == 40 and {c[CHOICE_KEY] for c in drawn} == {"forest", "linear"}
    for config in drawn:
        assert next(iter(config)) == CHOICE_KEY
        if config[CHOICE_KEY] == "forest":
            assert set(config) == {CHOICE_KEY, "forest/n", "forest/d"}
            assert type(config["forest/n"]) is int and config["forest/n"] in (2, 3)
            assert type(config["forest/d"]) is float and 1.0 <= config["forest/d"] <= 3.0
        else:
            assert set(config) == {CHOICE_KEY, "linear/alpha", "linear/fit"}
            assert type(config["linear/alpha"]) is float and 0.01 <= config["linear/alpha"] <= 1.0
            assert type(config["linear/fit"]) is bool
    assert {c["forest/n"] for c in drawn if "forest/n" in c} == {2, 3}  # randint's high excluded
    alphas = [c["linear/alpha"] for c in drawn if "linear/alpha" in c]
    assert min(alphas) < 0.1  # log-uniform: a tenth of the draws below 0.1 on average at least
    grids = [{CHOICE_KEY: ["forest"], "forest/n": [1, 2]}, {CHOICE_KEY: ["linear"], "linear/alpha": [0.5]}]
    listed = expand_choice({"forest": {"n": {"grid": [1, 2]}}, "linear": SPACES["linear"]}, 3, 5, "random")
    assert listed == [
        {CHOICE_KEY: c[CHOICE_KEY], **{k: v for k, v in c.items() if k != CHOICE_KEY}}
        for c in ParameterSampler(grids, n_iter=3, random_state=5)
    ]


class Asked:
    """What Optuna's define-by-run trial is asked, recorded; answers each with its first value."""

    def __init__(self, branch: str):
        self.branch, self.asked = branch, []

    def suggest_categorical(self, name, values):
        self.asked.append(("categorical", name, list(values)))
        return self.branch if name == CHOICE_KEY else values[0]

    def suggest_int(self, name, low, high):
        self.asked.append(("int", name, low, high))
        return low

    def suggest_float(self, name, low, high, log=False):
        self.asked.append(("float", name, low, high, log))
        return low


def test_optuna_is_asked_the_branch_then_only_its_parameters():
    from tuning.estimators.space import suggest_choice

    spaces = {
        "forest": {"n": {"randint": [2, 4]}, "d": {"uniform": [1.0, 3.0]}, "c": {"grid": [1, 2]}},
        "linear": {"alpha": {"loguniform": [0.01, 1.0]}, "fit": {"choice": [True]}},
    }
    forest = Asked("forest")
    suggest_choice(spaces, forest)
    assert forest.asked == [
        ("categorical", CHOICE_KEY, ["forest", "linear"]),
        ("int", "forest/n", 2, 3),
        ("float", "forest/d", 1.0, 3.0, False),
        ("categorical", "forest/c", [1, 2]),
    ]
    linear = Asked("linear")
    suggest_choice(spaces, linear)
    assert linear.asked[1:] == [
        ("float", "linear/alpha", 0.01, 1.0, True),
        ("categorical", "linear/fit", [True]),
    ]


def test_plain_values_are_python_numbers_and_containers_stay_as_they_are():
    import numpy as np

    from tuning.estimators.space import _plain

    assert type(_plain(np.int64(3))) is int and type(_plain(np.float64(0.5))) is float
    assert _plain([1]) == [1] and _plain({"a": 1}) == {"a": 1} and _plain("s") == "s" and _plain(None) is None


BRANCHES = {
    "grower": {"class": GROWER, "params": {"sleep": 0.0}, "space": {"n_jobs": [2, 1, 3]}},
    "piped": {"steps": [SCALE, GROWN], "space": {"model__n_jobs": [1, 2]}},
}
BUDGET = {"param": "n_estimators", "max": 4, "step": 2}


def test_the_best_configuration_names_the_budget_by_the_models_own_key(tmp_path):
    from tests.units import experiment
    from tuning.planning.search import best_config
    from tuning.trial.records import TrialResult

    chosen = experiment(tmp_path, estimator={"choice": BRANCHES}, space={}, search={"budget": BUDGET})
    piped = TrialResult("t0", {CHOICE_KEY: "piped", "piped/model__n_jobs": 1}, {"mse": 1.0, "budget": 2})
    assert best_config(piped, chosen) == {
        CHOICE_KEY: "piped",
        "piped/model__n_jobs": 1,
        "piped/model__n_estimators": 2,
    }
    grower = TrialResult("t1", {CHOICE_KEY: "grower", "grower/n_jobs": 1}, {"mse": 1.0})
    assert best_config(grower, chosen) == {CHOICE_KEY: "grower", "grower/n_jobs": 1, "grower/n_estimators": 4}
    raw = {
        "estimator": {"steps": [SCALE, GROWN]},
        "space": {"model__n_jobs": [1]},
        "search": {"budget": BUDGET},
    }
    trial = TrialResult("t2", {"model__n_jobs": 1}, {"mse": 1.0, "budget": 2})
    assert best_config(trial, experiment(tmp_path, **raw)) == {"model__n_jobs": 1, "model__n_estimators": 2}


def test_each_branch_is_searched_in_its_order_and_tune_gets_no_space_of_a_choice(tmp_path):
    from tests.units import experiment
    from tuning.planning.search import for_choice, param_space

    order = {"order": "largest_first", "size_param": "n_jobs"}
    grid = experiment(tmp_path, estimator={"choice": BRANCHES}, space={})
    assert for_choice(grid) == {
        "grower": {"n_jobs": {"grid": [2, 1, 3]}},
        "piped": {"model__n_jobs": {"grid": [1, 2]}},
    }
    assert param_space(grid) == {}
    random = experiment(
        tmp_path, estimator={"choice": BRANCHES}, space={}, search={"algorithm": "random", "num_samples": 2}
    )
    assert for_choice(random)["grower"] == {"n_jobs": {"choice": [2, 1, 3]}}
    one = {"grower": BRANCHES["grower"]}
    ordered = experiment(tmp_path, estimator={"choice": one}, space={}, search=order)
    assert for_choice(ordered) == {"grower": {"n_jobs": {"grid": [3, 2, 1]}}}


def test_the_summary_describes_a_pipeline_and_each_branch_of_a_choice(tmp_path):
    from tests.units import experiment
    from tuning.reports.summary import estimator_record
    from tuning.trial.fit import TrialSpec

    raw = {"estimator": {"steps": [SCALE, GROWN]}, "space": {"model__n_jobs": [1]}}
    piped = estimator_record(TrialSpec.from_experiment(experiment(tmp_path, **raw)))
    steps = [
        {"name": "scale", "class": SCALER, "params": {}},
        {"name": "model", "class": GROWER, "params": {"sleep": 0.0}},
    ]
    assert piped == {"class": GROWER, "fixed_params": {"sleep": 0.0}, "steps": steps}
    chosen = estimator_record(
        TrialSpec.from_experiment(experiment(tmp_path, estimator={"choice": BRANCHES}, space={}))
    )
    assert chosen == {
        "class": "",
        "fixed_params": {},
        "choice": {
            "grower": {"model": "Grower", "steps": None},
            "piped": {"model": "scale=StandardScaler > model=Grower", "steps": steps},
        },
    }
    alone = TrialSpec.from_experiment(
        experiment(tmp_path, estimator={"class": GROWER}, space={"n_jobs": [1]})
    )
    assert estimator_record(alone) == {"class": GROWER, "fixed_params": {}}


THREE = Model(
    (
        Step("scale", SCALER, {}),
        Step("again", SCALER, {"with_std": False}),
        Step("model", GROWER, {"n_jobs": 3}),
    ),
    pipeline=True,
)


def test_a_pipeline_of_three_steps_builds_and_changes_only_its_last():
    built = THREE.build({"model__n_estimators": 2})
    assert [name for name, _ in built.steps] == ["scale", "again", "model"]
    assert built.named_steps["again"].with_std is False and built.named_steps["model"].n_estimators == 2
    assert with_final(THREE, warm_start=True).steps[:2] == THREE.steps[:2]
    assert with_final(THREE, warm_start=True).final.params == {"n_jobs": 3, "warm_start": True}
    assert without_final(THREE, "n_jobs").steps == (*THREE.steps[:2], Step("model", GROWER, {}))


def test_only_a_branch_named_by_a_string_is_flattened():
    assert flat_choice({CHOICE_KEY: 1, 1: {"a": 2}}) == {CHOICE_KEY: 1, 1: {"a": 2}}


def test_a_random_search_of_a_choice_draws_uniform_values_over_the_whole_range():
    from tuning.estimators.space import expand_choice

    drawn = expand_choice({"f": {"d": {"uniform": [1.0, 3.0]}}}, 40, 3, "random")
    values = [c["f/d"] for c in drawn]
    assert 1.0 <= min(values) < 1.5 and 2.5 < max(values) <= 3.0


def test_optuna_searches_a_choice_by_its_define_by_run_space(tmp_path):
    pytest.importorskip("optuna")
    from tests.units import experiment
    from tuning.estimators.space import suggest_choice
    from tuning.planning.search import for_choice, search_alg

    optuna = {"algorithm": "optuna", "num_samples": 2}
    chosen = experiment(tmp_path, estimator={"choice": BRANCHES}, space={}, search=optuna, metric="r2")
    alg = search_alg(chosen)
    assert alg._space.func is suggest_choice and alg._space.args == (for_choice(chosen),)
    assert (alg.metric, alg.mode) == ("r2", "max")
    asked = Asked("piped")
    alg._space(asked)
    assert asked.asked[1] == ("categorical", "piped/model__n_jobs", [1, 2])
    plain = search_alg(experiment(tmp_path, search=optuna))
    assert plain._space is None and plain.metric is None  # metric and mode come from TuneConfig


def test_the_note_on_shared_fits_names_each_branchs_size_key(tmp_path):
    from tests.units import cluster, experiment
    from tuning.planning.plan import make_plan

    boosting = {"class": "sklearn.ensemble.GradientBoostingRegressor", "space": {"n_estimators": [2, 3]}}
    forest = {"class": "sklearn.ensemble.RandomForestRegressor", "space": {"n_estimators": [2, 4]}}
    raw = {
        "estimator": {"choice": {"f": forest, "g": boosting}},
        "space": {},
        "search": {"share_fits": "auto"},
    }
    plan = make_plan(experiment(tmp_path, **raw), "sequential", cluster())
    assert (
        plan.share_note
        == "4 configurations from 2 fits: f/n_estimators, g/n_estimators 7 fitted instead of 11 (1.6x less)"
    )
    alone = {
        "f": {**forest, "space": {"n_estimators": [2]}},
        "g": {**boosting, "space": {"n_estimators": [2]}},
    }
    plan = make_plan(experiment(tmp_path, **{**raw, "estimator": {"choice": alone}}), "sequential", cluster())
    assert (
        plan.share_note == "not shared: no two configurations differ only in f/n_estimators, g/n_estimators"
    )
