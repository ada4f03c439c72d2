"""The search's choices and the runners compared: algorithms, schedulers, what is comparable, parity.

Unit tests of the modules that decide results, without Ray: each builds its `TrialSpec`,
`Plan` or results directly on a few hundred rows (`tests.units`); the mutation run
(docs/testing.md, "Mutation testing") selects them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.units import (
    ASHA,
    budgeted,
    cluster,
    experiment,
    grower_plan,
    ok,
    result_of,
    tiny_split,
)
from tuning.config import ADAPTIVE_RUNNER
from tuning.errors import ExperimentError
from tuning.estimators.space import (
    distinct_sample,
)
from tuning.planning import search
from tuning.reports.text import check_parity
from tuning.trial.records import RunnerResult, TrialResult


def test_parity_names_each_configuration_whose_metric_or_outcome_differs():
    first = result_of("sequential", ok(1, 0.5), ok(2, 0.25), ok(3, 0.125))
    assert check_parity(first, result_of("tune", ok(3, 0.125), ok(1, 0.5), ok(2, 0.25))) == []
    second = result_of("tune", ok(1, 0.5), ok(2, 0.25 + 1e-12), TrialResult("t3", {"n": 3}, error="E"))
    assert check_parity(first, second) == ['{"n": 2}', '{"n": 3}']
    with_r2 = result_of("tune", ok(1, 0.5, r2=1.0), ok(2, 0.25), ok(3, 0.125))
    assert check_parity(first, with_r2) == ['{"n": 1}']  # a score only one runner recorded differs


def test_parity_counts_trials_that_only_one_runner_has():
    first = result_of("sequential", ok(1, 0.5), ok(2, 0.25))
    assert check_parity(first, result_of("tune", ok(1, 0.5))) == ['{"n": 2}', "2 trials vs 1"]
    assert check_parity(result_of("tune", ok(1, 0.5)), first) == ["1 trials vs 2"]


def test_only_an_adaptive_search_refuses_a_sequential_run(tmp_path):
    optuna = experiment(tmp_path, search={"algorithm": "optuna", "num_samples": 2})
    assert search.adaptive(optuna) and not search.adaptive(experiment(tmp_path))
    with pytest.raises(ExperimentError) as caught:
        search.check_runner(optuna, "sequential")
    assert caught.value.key == "runner"
    assert str(caught.value) == ADAPTIVE_RUNNER
    search.check_runner(optuna, "both")
    search.check_runner(experiment(tmp_path), "sequential")


def test_the_search_space_is_ordered_and_sampled_for_its_algorithm(tmp_path):
    grid = experiment(tmp_path, space={"n_estimators": [4, 12, 8]}, search={"order": "largest_first"})
    assert search.search_space(grid) == {"n_estimators": {"grid": [12, 8, 4]}}
    assert search.param_space(grid) == {"n_estimators": {"grid_search": [12, 8, 4]}}
    random = experiment(tmp_path, search={"algorithm": "random", "num_samples": 2})
    assert type(search.param_space(random)["n_estimators"]).__name__ == "Categorical"


def test_a_random_search_of_lists_gives_tune_its_distinct_draws(tmp_path):
    space = {"n_estimators": [1, 2, 3], "max_depth": [2, 4]}
    random = experiment(
        tmp_path,
        space=space,
        search={"algorithm": "random", "num_samples": 4},
        resources={"num_cpus": 1, "max_concurrent_trials": 2},
    )
    alg = search.search_alg(random)
    assert alg._points_to_evaluate == distinct_sample(random.space, 4, 201) and alg.max_concurrent == 2
    ranged = experiment(
        tmp_path,
        space={"max_features": {"uniform": [0.1, 1.0]}},
        search={"algorithm": "random", "num_samples": 2},
    )
    assert search.search_alg(ranged)._points_to_evaluate == []
    draws = [search.search_alg(ranged)._random_state.uniform() for _ in range(2)]
    assert draws[0] == draws[1]  # seeded: Tune draws the same ranges every run
    grid = search.search_alg(experiment(tmp_path, resources={"num_cpus": 1, "max_concurrent_trials": 3}))
    assert grid._points_to_evaluate == [] and grid.max_concurrent == 3


def test_optuna_is_seeded_and_keeps_its_study_where_asked(tmp_path):
    optuna = experiment(tmp_path, search={"algorithm": "optuna", "num_samples": 2})
    alg = search.search_alg(optuna)
    assert type(alg._sampler).__name__ == "TPESampler" and alg._storage is None
    assert alg._study_name == "optuna"  # in memory: no study name of ours
    assert alg._sampler._rng.rng.randint(10**9) == np.random.RandomState(201).randint(10**9)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    stored = experiment(tmp_path, search={"algorithm": "optuna", "num_samples": 2, "storage": url})
    alg = search.search_alg(stored)
    assert alg._storage is not None and alg._study_name == "small"
    named = experiment(
        tmp_path, search={"algorithm": "optuna", "num_samples": 2, "storage": url, "study_name": "mine"}
    )
    assert search.search_alg(named)._study_name == "mine"
    assert search.study_storage(optuna) is None


def continued_run(exp, run_dir, runs: int) -> list:
    """One run of Tune's searcher over the study: ``runs`` trials proposed and told (no Ray)."""
    alg = search.search_alg(exp, run_dir)
    alg.set_search_properties(exp.metric, exp.mode, search.param_space(exp))
    proposed = []
    for i in range(runs):
        config = alg.suggest(f"t{i}")
        if config == "FINISHED":
            return [*proposed, config]
        proposed.append(config["n_estimators"])
        alg.on_trial_complete(f"t{i}", {exp.metric: 1.0 / config["n_estimators"]})
    return proposed


def test_a_continued_optuna_study_runs_no_configuration_twice(tmp_path):
    pytest.importorskip("optuna")
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = {"n_estimators": [2, 3, 4, 5, 6, 7]}
    exp = experiment(tmp_path, space=space, search={"algorithm": "optuna", "num_samples": 2, "storage": url})
    first, second, third = (continued_run(exp, tmp_path / f"run{k}", 2) for k in range(3))
    assert sorted(first + second + third) == [2, 3, 4, 5, 6, 7], (first, second, third)
    assert continued_run(exp, tmp_path / "run3", 1) == ["FINISHED"]  # nothing new is left
    study = optuna.load_study(study_name="small", storage=url)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(done) == 6 and len({t.params["n_estimators"] for t in done}) == 6
    skipped = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert all(t.user_attrs["duplicate_of"] in {d.number for d in done} for t in skipped)
    assert study.user_attrs == {
        "metric": "mse",
        "direction": "minimize",
        "run_dir": str((tmp_path / "run3").resolve()),
        "run_dirs": [str((tmp_path / f"run{k}").resolve()) for k in range(4)],
    }


def test_a_storage_that_does_not_open_is_one_line_naming_the_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'missing' / 'deeper' / 'study.db'}"
    bad = experiment(tmp_path, search={"algorithm": "optuna", "num_samples": 2, "storage": url})
    with pytest.raises(ExperimentError) as caught:
        search.study_storage(bad)
    message = str(caught.value)
    assert caught.value.key == "search.storage" and "\n" not in message
    assert message.startswith(
        f"search.storage must be an Optuna storage URL that opens (e.g. sqlite:///study.db); got {url!r} ("
    )


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        pytest.param(ValueError("no such database\nmore detail"), "no such database", id="first-line"),
        pytest.param(ValueError(""), "ValueError", id="no-text"),
        pytest.param(OSError("x" * 400), "x" * 300, id="cut-at-300"),
    ],
)
def test_the_storage_error_gives_the_first_line_of_the_reason(tmp_path, monkeypatch, raised, reason):
    import optuna.storages

    def refuse(url):
        raise raised

    monkeypatch.setattr(optuna.storages, "RDBStorage", refuse)
    url = "sqlite:///study.db"
    bad = experiment(tmp_path, search={"algorithm": "optuna", "num_samples": 2, "storage": url})
    with pytest.raises(ExperimentError) as caught:
        search.study_storage(bad)
    assert str(caught.value).endswith(f"; got {url!r} ({reason})")


def test_without_optuna_the_search_says_which_extra_to_install(tmp_path, monkeypatch):
    import sys

    optuna = experiment(tmp_path, search={"algorithm": "optuna", "num_samples": 2})
    monkeypatch.setitem(sys.modules, "optuna.samplers", None)  # the import fails
    with pytest.raises(ExperimentError) as caught:
        search.search_alg(optuna)
    assert caught.value.key == "search.algorithm" and str(caught.value) == (
        "search.algorithm needs Optuna for 'optuna', an optional extra: pip install 'tuning[optuna]'"
    )


def test_asha_runs_over_the_budget_steps(tmp_path):
    asha = search.scheduler(experiment(tmp_path, space={"max_depth": [2, 3]}, search=ASHA))
    assert (asha._time_attr, asha._max_t, asha._reduction_factor) == ("training_iteration", 4, 2)
    assert [rung[0] for rung in asha._brackets[0]._rungs] == [4.0, 2.0]  # from the grace period, 2
    assert search.scheduler(experiment(tmp_path)) is None
    budget_only = {"budget": {"max": 8, "step": 2}}
    assert search.scheduler(experiment(tmp_path, space={"max_depth": [2]}, search=budget_only)) is None


def test_trials_stopped_early_are_those_that_ended_below_the_budget(tmp_path):
    exp = experiment(tmp_path, space={"max_depth": [1, 2, 3, 4]}, search=ASHA)
    trials = [budgeted(1, 8), budgeted(2, 4), budgeted(3, None), budgeted(4, 2, error="E")]
    assert [t.name for t in search.stopped_early(trials, exp)] == ["t2"]
    assert search.stopped_early(trials, experiment(tmp_path)) == []
    full = search.full_budget(result_of("tune", *trials), exp)
    assert [t.name for t in full.trials] == ["t1", "t3", "t4"] and full.runner == "tune"
    assert search.best_config(trials[1], exp) == {"max_depth": 2, "n_estimators": 4}
    assert search.best_config(trials[2], exp) == {"max_depth": 3, "n_estimators": 8}
    plain = search.best_config(trials[1], experiment(tmp_path))
    assert plain == {"max_depth": 2} and plain is not trials[1].config


def test_proposed_configurations_are_in_the_order_their_trials_started():
    trials = [budgeted(1, None, started=3.0), budgeted(2, None), budgeted(3, None, started=1.0)]
    assert search.proposed(result_of("tune", *trials)) == [
        {"max_depth": 3},
        {"max_depth": 1},
        {"max_depth": 2},
    ]


def test_comparable_keeps_what_both_runners_ran_in_full(tmp_path):
    plain = experiment(tmp_path, space={"max_depth": [1, 2, 3]})
    seq = result_of("sequential", budgeted(1, None), budgeted(2, None), budgeted(3, None))
    tune = result_of("tune", budgeted(1, None), budgeted(2, None), budgeted(3, None))
    assert search.comparable({"sequential": seq, "tune": tune}, plain) == (seq, tune)
    stopped = RunnerResult("tune", tune.trials[:2], 1.0, 1.0, stopped="trial cap")
    first, second = search.comparable({"sequential": seq, "tune": stopped}, plain)
    assert [t.name for t in first.trials] == ["t1", "t2"] and [t.name for t in second.trials] == ["t1", "t2"]
    seq_stopped = replace(seq, trials=seq.trials[1:], stopped="trial cap")
    first, second = search.comparable({"sequential": seq_stopped, "tune": tune}, plain)
    assert [t.name for t in first.trials] == [t.name for t in second.trials] == ["t2", "t3"]
    asha = experiment(tmp_path, space={"max_depth": [1, 2, 3]}, search=ASHA)
    seq = result_of("sequential", budgeted(1, 8), budgeted(2, 8), budgeted(3, 8))
    tune = result_of("tune", budgeted(1, 8), budgeted(2, 4), budgeted(3, 8))
    first, second = search.comparable({"sequential": seq, "tune": tune}, asha)
    assert [t.name for t in first.trials] == [t.name for t in second.trials] == ["t1", "t3"]


def test_the_search_record_counts_the_steps_and_the_stopped(tmp_path):
    asha = experiment(tmp_path, space={"max_depth": [1, 2, 3]}, search=ASHA)
    tune = result_of("tune", budgeted(1, 8), budgeted(2, 4), budgeted(3, 2, error="E"))
    seq = result_of("sequential", budgeted(1, 8), budgeted(2, 8), budgeted(3, None))  # no step: none run
    record = search.search_record({"sequential": seq, "tune": tune}, asha)
    assert record == {
        "algorithm": "grid",
        "num_samples": 1,
        "scheduler": "asha",
        "budget": {"param": "n_estimators", "steps": [2, 4, 6, 8]},
        "sequential_stopped_early": 0,
        "sequential_steps_run": 8,
        "tune_stopped_early": 1,
        "tune_steps_run": 6,
    }
    assert search.stopping_line(record, 3) == (
        "Early stopping: asha stopped 1 of 3 Tune trials (6 of 12 steps of n_estimators run)"
    )
    plain = search.search_record({"tune": tune}, experiment(tmp_path))
    assert plain == {"algorithm": "grid", "num_samples": 1}
    assert search.stopping_line(plain, 3) is None
    assert search.stopping_line({**record, "scheduler": None}, 3) is None
    assert search.stopping_line({k: v for k, v in record.items() if k != "tune_stopped_early"}, 3) is None


def test_runners_that_disagree_leave_the_run_incomplete_and_name_the_configurations(tmp_path):
    from tuning._experiment import summarise

    plan = grower_plan(tmp_path, "both")
    split, lines = tiny_split(), []
    same = {
        "sequential": result_of("sequential", ok(1, 0.5), ok(2, 0.25)),
        "tune": result_of("tune", ok(2, 0.25), ok(1, 0.5)),
    }
    same["sequential"].trials[0].config = same["tune"].trials[1].config = {"n_estimators": 1}
    same["sequential"].trials[1].config = same["tune"].trials[0].config = {"n_estimators": 2}
    costs = {"ray_start_s": None, "data_load_s": None}
    summary = summarise(plan, same, split, tmp_path, costs, resumed=False, echo=lines.append)
    assert summary["status"] == "complete" and summary["parity"] == {"identical": True, "differing": []}
    same["tune"].trials[0].metrics["mse"] = 0.3
    summary = summarise(plan, same, split, tmp_path, costs, resumed=True, echo=lines.append)
    assert summary["status"] == "incomplete" and summary["resumed"] is True
    assert summary["parity"] == {"identical": False, "differing": ['{"n_estimators": 2}']}
    same["tune"].trials[0].metrics["mse"] = 0.25
    same["tune"].trials[1].error = "E"
    summary = summarise(plan, same, split, tmp_path, costs, resumed=False, echo=lines.append)
    assert summary["status"] == "incomplete" and summary["parity"]["differing"] == ['{"n_estimators": 1}']
    only = {"sequential": same["sequential"]}
    summary = summarise(plan, only, split, tmp_path, costs, resumed=False, echo=lines.append)
    assert summary["status"] == "interrupted" and summary["parity"] is None
    cut = {**same, "tune": result_of("tune", ok(2, 0.25))}
    cut["tune"].trials[0].config = {"n_estimators": 2}
    summary = summarise(plan, cut, split, tmp_path, costs, resumed=False, echo=lines.append)
    assert summary["status"] == "interrupted" and summary["parity"] == {"identical": True, "differing": []}
    assert lines == []
    alone = summarise(
        grower_plan(tmp_path, "tune"),
        {"tune": same["sequential"]},
        split,
        tmp_path,
        costs,
        resumed=False,
        echo=lines.append,
    )
    assert alone["status"] == "complete" and alone["parity"] is None


def test_a_run_under_asha_compares_the_full_budget_trials_and_says_what_stopped(tmp_path):
    from tuning._experiment import summarise
    from tuning.planning.plan import make_plan

    raw = {"space": {"max_depth": [1, 2, 3]}, "search": ASHA}
    plan = make_plan(experiment(tmp_path, **raw), "both", cluster())
    seq = result_of("sequential", budgeted(1, 8), budgeted(2, 8), budgeted(3, 8))
    tune = result_of("tune", budgeted(1, 8), budgeted(2, 4), budgeted(3, 8))
    tune.trials[1].metrics["mse"] = 99.0  # stopped early: not comparable with the full baseline
    lines: list[str] = []
    costs = {"ray_start_s": None, "data_load_s": None}
    summary = summarise(
        plan,
        {"sequential": seq, "tune": tune},
        tiny_split(),
        tmp_path,
        costs,
        resumed=False,
        echo=lines.append,
    )
    assert summary["status"] == "complete" and summary["parity"]["identical"]
    assert summary["search"]["tune_stopped_early"] == 1
    assert lines == ["Early stopping: asha stopped 1 of 3 Tune trials (10 of 12 steps of n_estimators run)"]
