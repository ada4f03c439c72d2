"""Search beyond grids (random, Optuna) and early stopping of forests with ASHA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, experiment_dict
from tuning.config import load_experiment, validate
from tuning.errors import ExperimentError
from tuning.estimators.space import expand

CARS = ROOT / "experiments" / "data" / "cars.csv"


def load(tmp_path: Path, **changes):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(experiment_dict(tmp_path, **changes), sort_keys=False))
    return load_experiment(path)


def rejected(tmp_path: Path, **changes) -> str:
    with pytest.raises(ExperimentError) as info:
        load(tmp_path, **changes)
    return str(info.value)


# --------------------------------------------------------------------------- the schema


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"algorithm": "bayes"}, "search.algorithm must be one of 'grid', 'random' or 'optuna'; got 'bayes'"),
        ({"algorithm": "random"}, "search.num_samples is required when search.algorithm is random"),
        ({"scheduler": "asha"}, "search.budget is required when search.scheduler is asha"),
        ({"scheduler": "hyperband"}, "search.scheduler must be one of 'asha' or 'none'; got 'hyperband'"),
        (
            {"scheduler": "asha", "budget": {"max": 8, "step": 16}},
            "search.budget must have step <= max; got step 16 > max 8",
        ),
        ({"budget": {"max": 0, "step": 1}}, "search.budget.max must be greater than 0; got 0"),
        ({"budget": {"max": 8, "step": 4}}, "search.budget.param must not also be in space"),
        ({"budget": {"param": "n_trees", "max": 8, "step": 4}}, "search.budget.param must be a parameter of"),
    ],
)
def test_bad_search_sections_name_the_key_and_line(tmp_path, search, message):
    text = rejected(tmp_path, search=search)
    assert message in text
    assert text.startswith(f"{tmp_path / 'exp.yaml'}:")  # file:line first


def test_budget_needs_an_estimator_that_grows(tmp_path):
    text = rejected(
        tmp_path,
        estimator={"class": "sklearn.linear_model.Ridge"},
        space={"alpha": [0.1, 1.0]},
        search={"budget": {"param": "max_iter", "max": 8, "step": 4}},
    )
    assert "search.budget must belong to an estimator with warm_start" in text


def test_a_sequential_run_of_an_adaptive_search_is_refused(tmp_path):
    pytest.importorskip("optuna")
    text = rejected(tmp_path, search={"algorithm": "optuna", "num_samples": 4}, runner="sequential")
    assert "runner must be tune or both when search.algorithm is optuna" in text


def test_without_optuna_the_error_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a)
    )
    text = rejected(tmp_path, search={"algorithm": "optuna", "num_samples": 4})
    assert (
        "search.algorithm needs Optuna for 'optuna', an optional extra: pip install 'tuning[optuna]'" in text
    )


def test_budget_steps_end_at_max(tmp_path):
    experiment = validate(
        experiment_dict(tmp_path, space={"max_depth": [3]}, search={"budget": {"max": 25, "step": 10}})
    )
    assert experiment.search.budget.steps == (10, 20, 25)
    assert experiment.search.num_samples == 1 and experiment.search.algorithm == "grid"


# --------------------------------------------------------------------------- random search


def test_random_search_samples_the_grid_lists_too():
    space = {"max_depth": {"grid": [2, 4, 8, 16]}, "max_features": {"uniform": [0.2, 1.0]}}
    first = expand(space, num_samples=6, seed=3, algorithm="random")
    assert len(first) == 6  # num_samples draws in all, not per grid point
    assert first == expand(space, num_samples=6, seed=3, algorithm="random")
    assert first != expand(space, num_samples=6, seed=4, algorithm="random")
    assert {c["max_depth"] for c in first} <= {2, 4, 8, 16}
    assert all(0.2 <= c["max_features"] <= 1.0 for c in first)
    assert len(expand(space, num_samples=6, seed=3)) == 24  # grid: 6 draws per grid point
    with pytest.raises(ValueError, match="adaptive"):
        expand(space, num_samples=6, seed=3, algorithm="optuna")


def test_random_search_of_lists_draws_distinct_configurations(tmp_path):
    space = {"max_depth": {"grid": [2, 4, None]}, "max_features": {"choice": [0.5, 1.0]}}
    drawn = expand(space, num_samples=6, seed=1, algorithm="random")
    every = [{"max_depth": d, "max_features": f} for d in (2, 4, None) for f in (0.5, 1.0)]
    assert sorted(map(json.dumps, drawn)) == sorted(map(json.dumps, every))  # all 6, once each
    assert drawn == expand(space, num_samples=6, seed=1, algorithm="random")
    assert expand(space, 3, 1, "random") != expand(space, 3, 2, "random")
    text = rejected(
        tmp_path, space={"max_depth": [2, 4, None]}, search={"algorithm": "random", "num_samples": 4}
    )
    assert "search.num_samples must be at most 3, the number of distinct configurations" in text


# --------------------------------------------------------------------------- runs


def cars(tmp_path: Path, **changes) -> dict:
    """An experiment on the small CSV shipped with the examples (categories, missing values)."""
    base = {
        "seed": 3,
        "data": {"source": str(CARS), "target": "price"},
        "estimator": {"class": "sklearn.ensemble.RandomForestRegressor"},
    }
    if "estimator" in changes:
        changes["estimator"] = {**base["estimator"], **changes["estimator"]}
    return experiment_dict(tmp_path, **{**base, **changes})


@pytest.mark.slow
def test_random_search_runs_the_expanded_configs_in_both_runners(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    raw = cars(
        tmp_path,
        space={"max_depth": [2, 4, 8, None], "min_samples_leaf": {"choice": [1, 5, 10]}},
        search={"algorithm": "random", "num_samples": 4},
        estimator={"params": {"n_estimators": 5}},
        refit=False,
    )
    summary = run_experiment(validate(raw), "both", echo=lambda line: None)
    expected = expand(validate(raw).space, 4, 3, "random")
    assert len({json.dumps(c) for c in expected}) == 4  # lists only: drawn without replacement
    assert [t["config"] for t in summary["trials"]["sequential"]] == expected
    assert sorted(json.dumps(t["config"]) for t in summary["trials"]["tune"]) == sorted(
        map(json.dumps, expected)
    )
    assert summary["parity"]["identical"] and summary["search"]["algorithm"] == "random"


@pytest.mark.slow
def test_asha_stops_poor_forests_early_and_the_baseline_runs_them_in_full(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    raw = cars(
        tmp_path,
        space={"max_depth": [1, 2, 8, None], "max_features": [0.3, 1.0]},
        search={"scheduler": "asha", "budget": {"max": 12, "step": 3}, "reduction_factor": 2},
        resources={"num_cpus": 1, "max_concurrent_trials": 2},
    )
    lines: list[str] = []
    summary = run_experiment(validate(raw), "both", echo=lines.append)
    tune, seq = summary["trials"]["tune"], summary["trials"]["sequential"]
    assert all(t["metrics"]["budget"] == 12 and t["metrics"]["step"] == 4 for t in seq)
    stopped = [t for t in tune if t["metrics"]["budget"] < 12]
    assert stopped, "ASHA stopped no trial"
    assert summary["search"]["tune_stopped_early"] == len(stopped)
    assert summary["search"]["tune_steps_run"] < summary["search"]["sequential_steps_run"] == 8 * 4
    assert f"Early stopping: asha stopped {len(stopped)} of 8 Tune trials (" in "\n".join(lines)
    # trials Tune ran in full match the baseline exactly; the stopped ones are left out of parity
    full = {json.dumps(t["config"], sort_keys=True): t["metrics"]["mse"] for t in tune if t not in stopped}
    assert full and all(
        m == next(s["metrics"]["mse"] for s in seq if json.dumps(s["config"], sort_keys=True) == k)
        for k, m in full.items()
    )
    assert summary["parity"]["identical"] and summary["status"] == "complete"
    # the best model is refitted with the budget it reached
    assert summary["best_model"]["config"]["n_estimators"] == 12
    best = min((t for t in tune), key=lambda t: t["metrics"]["mse"])
    assert summary["best_model"]["validation_metrics"]["mse"] == pytest.approx(
        best["metrics"]["mse"], rel=1e-12
    )


@pytest.mark.slow
def test_optuna_search_is_seeded_and_both_replays_its_configs(ray_session, tmp_path):
    pytest.importorskip("optuna")
    from tuning._experiment import run_experiment

    def run(seed: int) -> dict:
        raw = cars(
            tmp_path,
            seed=seed,
            space={"max_depth": {"randint": [1, 12]}, "max_features": {"uniform": [0.2, 1.0]}},
            search={"algorithm": "optuna", "num_samples": 4},
            estimator={"params": {"n_estimators": 5}},
            resources={"num_cpus": 1, "max_concurrent_trials": 1},  # one at a time: TPE sees every result
            refit=False,
        )
        return run_experiment(validate(raw), "both", echo=lambda line: None)

    def proposals(summary: dict) -> list[str]:
        return sorted(json.dumps(t["config"], sort_keys=True) for t in summary["trials"]["tune"])

    first, second = run(5), run(5)
    tune = sorted(first["trials"]["tune"], key=lambda t: t["started_at"])
    configs = [t["config"] for t in tune]
    assert len(configs) == 4 and len(set(proposals(first))) == 4
    assert proposals(first) == proposals(second)  # same seed, same proposals
    assert proposals(first) != proposals(run(6))
    assert [t["config"] for t in first["trials"]["sequential"]] == configs  # replayed in Tune's order
    assert first["parity"]["identical"] and first["counts"]["trials"] == 4
    assert all(1 <= c["max_depth"] < 12 and 0.2 <= c["max_features"] <= 1.0 for c in configs)


# --------------------------------------------------------------------------- the command line


def test_cli_without_optuna_says_how_to_install_it(tmp_path):
    import os
    import subprocess
    import sys

    from tests.test_cli import assert_rejected, write

    path = write(tmp_path, experiment_dict(tmp_path, search={"algorithm": "optuna", "num_samples": 4}))
    hide_optuna = (
        "import importlib.util as u, sys; real = u.find_spec; "
        "u.find_spec = lambda name, *a: None if name == 'optuna' else real(name, *a); "
        f"from tuning.run import main; sys.exit(main([{str(path)!r}]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", hide_optuna], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert_rejected(result, "search.algorithm needs Optuna for 'optuna', an optional extra", tmp_path)
    assert "pip install 'tuning[optuna]'" in result.stderr


def test_cli_refuses_a_sequential_run_of_optuna_before_starting_ray(tmp_path):
    pytest.importorskip("optuna")
    from tests.test_cli import assert_rejected, cli, write

    path = write(tmp_path, experiment_dict(tmp_path, search={"algorithm": "optuna", "num_samples": 4}))
    result = cli("tuning.run", str(path), "--runner", "sequential")
    assert_rejected(result, "runner must be tune or both when search.algorithm is optuna", tmp_path)
