"""``--dry-run`` and ``--set`` through the real CLI; the dry run's plan on a made-up cluster."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import assert_rejected, cli, write
from tuning.config import validate
from tuning.planning.cluster import Cluster
from tuning.planning.dry_run import describe, trial_table
from tuning.planning.plan import make_plan


def cluster(node_cpus=(4.0, 4.0), node_gpus=(1.0, 0.0), started_here=False) -> Cluster:
    return Cluster(
        address="10.0.0.1:6379",
        nodes=len(node_cpus),
        cpus=sum(node_cpus),
        gpus=sum(node_gpus),
        node_cpus=node_cpus,
        node_gpus=node_gpus,
        started_here=started_here,
    )


TEN_TRIALS = {"n_estimators": {"start": 4, "stop": 44, "step": 4}}


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"num_cpus": 1}, "Ray Tune:    8 trials at a time (limited by CPUs: 8 CPUs, 1 per trial), 2 waves"),
        ({"num_cpus": 3}, "Ray Tune:    2 trials at a time (limited by CPUs: 8 CPUs, 3 per trial), 5 waves"),
        ({"num_cpus": 0.5}, "Ray Tune:    10 trials at a time (all of them), 1 wave"),
        (
            {"num_cpus": 1, "num_gpus": 0.25},
            "Ray Tune:    4 trials at a time (limited by GPUs: 1 GPUs, 0.25 per trial), 3 waves",
        ),
        (
            {"num_cpus": 1, "max_concurrent_trials": 3},
            "Ray Tune:    3 trials at a time (limited by resources.max_concurrent_trials=3), 4 waves",
        ),
    ],
)
def test_plan_says_how_many_trials_fit_at_once_and_why(tmp_path, resources, expected):
    experiment = validate(experiment_dict(tmp_path, resources=resources, space=TEN_TRIALS))
    text = describe(make_plan(experiment, "tune", cluster()))
    assert expected in text.splitlines()
    assert "Cluster:     10.0.0.1:6379: 2 nodes, 8 CPUs, 1 GPUs" in text
    assert "Trials:      10 (runner: tune; best mse: min)" in text
    assert f"{resources['num_cpus'] * 10:g} CPUs" in text  # the demand of all trials together
    assert "Sequential:" not in text


def test_plan_lists_each_trial_and_both_runners(tmp_path):
    experiment = validate(experiment_dict(tmp_path, resources={"num_cpus": 2, "num_gpus": 0.5}))
    text = describe(make_plan(experiment, "both", cluster()))
    assert "Cluster:     10.0.0.1:6379: 2 nodes" in text
    assert "Each trial:  2 CPUs, 0.5 GPUs" in text
    assert "All trials:  6 CPUs, 1.5 GPUs if they all ran at once" in text
    assert "Sequential:  1 trial at a time, in this process" in text
    assert (
        "Estimator:   sklearn.ensemble.RandomForestRegressor(random_state=201, n_jobs=2, max_depth=6)" in text
    )
    assert text.endswith("#  n_estimators\n0  4\n1  8\n2  12")


def test_trial_table_shows_the_first_trials_and_counts_the_rest():
    configs = [{"n_estimators": n, "max_features": f} for n in range(1, 31) for f in (0.5, "sqrt")]
    lines = trial_table(configs, shown=3).splitlines()
    assert lines[0].split() == ["#", "n_estimators", "max_features"]
    assert lines[1:4] == ["0  1             0.5", "1  1             sqrt", "2  2             0.5"]
    assert lines[-1] == "... and 57 more"


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    result = cli(
        "tuning.run",
        "experiments/quick.yaml",
        "--dry-run",
        "--num-cpus",
        "2",
        "--set",
        f"storage_path={tmp_path / 'results'}",
        "--set",
        "space.n_estimators=[3, 5, 7]",
        "--set",
        "estimator.params.max_depth=4",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "Dry run of quick: nothing is written and no trial runs." in out
    assert "Trials:      3 (runner: both; best mse: min)" in out
    assert "Ray Tune:    2 trials at a time (limited by CPUs: 2 CPUs, 1 per trial), 2 waves" in out
    assert "max_depth=4" in out
    assert out.rstrip().endswith("#  n_estimators\n0  3\n1  5\n2  7")
    assert not (tmp_path / "results").exists()
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_dry_run_refuses_what_the_cluster_cannot_hold(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path))
    result = cli("tuning.run", str(path), "--dry-run", "--num-cpus", "1", "--set", "resources.num_cpus=2")
    assert_rejected(
        result, "--set: resources.num_cpus must be at most 1, the most CPUs of any node", tmp_path
    )


OVERRIDES = [
    (["resourcez.num_cpus=2"], "--set: resourcez is not a known key (did you mean 'resources'?)"),
    (["resources.num_cpuz=2"], "--set: resources.num_cpuz is not a known key (did you mean 'num_cpus'?)"),
    (["resources={num_cpus: 0}"], "--set: resources.num_cpus must be greater than 0; got 0"),
    (["space.n_estimators.1=0"], "--set: space.n_estimators must be an int in the range [1, inf); got 0"),
    (["space.n_estimators.7=4"], "--set space.n_estimators.7: space.n_estimators is a list of 3;"),
    (["seed.x=1"], "--set seed.x: seed is 201, not a mapping or a list"),
    (["name"], "--set must be KEY.PATH=VALUE; got 'name'"),
    (["name=[oops"], "--set name: cannot parse value '[oops' as YAML"),
    (["estimator.params.max_depth=0"], "--set: estimator.params.max_depth must be an int in the range"),
]


@pytest.mark.parametrize(("overrides", "message"), OVERRIDES, ids=[m[:40] for _, m in OVERRIDES])
def test_bad_overrides_are_reported_at_set(tmp_path, overrides, message):
    path = write(tmp_path, experiment_dict(tmp_path))
    args = [a for override in overrides for a in ("--set", override)]
    assert_rejected(cli("tuning.run", str(path), "--dry-run", *args), message, tmp_path)


def test_overrides_reach_nested_keys_and_list_items(tmp_path):
    from tuning.config import load_experiment

    path = write(tmp_path, experiment_dict(tmp_path, data={"source": "california_housing"}))
    experiment = load_experiment(
        path,
        [
            "space.n_estimators.0=5",
            "estimator.params.max_features=0.5",
            "split.test_size=0.25",
            "search={num_samples: 2}",
            "space.max_depth=[3, 6]",
        ],
    )
    assert experiment.space == {"n_estimators": {"grid": [5, 8, 12]}, "max_depth": {"grid": [3, 6]}}
    assert experiment.estimator.params == {"max_depth": 6, "max_features": 0.5}
    assert experiment.split.test_size == 0.25 and experiment.search.num_samples == 2


def test_errors_are_located_at_set_only_when_an_override_touched_the_value(tmp_path):
    from tuning.config import load_experiment
    from tuning.errors import ExperimentError

    ranged = {"n_estimators": {"start": 4, "stop": 16, "step": 4}}
    path = write(tmp_path, experiment_dict(tmp_path, space=ranged, resources={"num_cpus": 0}))
    with pytest.raises(ExperimentError, match=r"exp\.yaml:\d+: resources\.num_cpus must be greater than 0"):
        load_experiment(path, ["resources.num_gpus=0"])  # the bad value is the file's
    path = write(tmp_path, experiment_dict(tmp_path, space=ranged))
    with pytest.raises(ExperimentError, match=r"^--set: space\.n_estimators must have exactly one key"):
        load_experiment(path, ["space.n_estimators.extra=1"])  # a key added inside a file's value


def test_plan_lists_trials_in_the_order_the_run_starts_them(tmp_path):
    raw = experiment_dict(tmp_path, search={"order": "largest_first"}, space={"n_estimators": [4, 12, 8]})
    plan = make_plan(validate(raw), "both", cluster())
    assert [c["n_estimators"] for c in plan.configs] == [12, 8, 4]
    assert describe(plan).endswith("#  n_estimators\n0  12\n1  8\n2  4")


def test_plan_resolves_auto_cpus_on_the_cluster(tmp_path):
    raw = experiment_dict(tmp_path, resources={"num_cpus": "auto"}, space={"n_estimators": [60, 25, 15]})
    plan = make_plan(validate(raw), "tune", cluster(node_cpus=(4.0,), node_gpus=(0.0,)))
    assert plan.experiment.resources.num_cpus == 3.0  # ceil(4 CPUs * 60 / 100 trees)
    assert "Each trial:  3 CPUs" in describe(plan)


def test_auto_cpus_count_each_repeat_as_a_unit_of_work(tmp_path):
    """One configuration with 1000 repeats is many small trials, not one that takes every core."""
    raw = experiment_dict(tmp_path, resources={"num_cpus": "auto"}, space={"n_estimators": [10]})
    repeated = {**raw, "split": {**raw.get("split", {}), "repeats": 1000}}
    on_4_cpus = cluster(node_cpus=(4.0,), node_gpus=(0.0,))
    assert make_plan(validate(raw), "tune", on_4_cpus).experiment.resources.num_cpus == 4.0
    assert make_plan(validate(repeated), "tune", on_4_cpus).experiment.resources.num_cpus == 1.0


NO_RAY_INIT = """
import sys
import ray

def refuse(*args, **kwargs):
    raise AssertionError("the dry run started Ray")

ray.init = refuse
from tuning.run import main

code = main(sys.argv[1:])
assert not ray.is_initialized()
sys.exit(code)
"""


def test_dry_run_starts_no_ray_and_works_with_auto_cpus(tmp_path):
    raw = experiment_dict(tmp_path, resources={"num_cpus": "auto"}, search={"order": "largest_first"})
    path = write(tmp_path, raw)
    result = subprocess.run(
        [sys.executable, "-c", NO_RAY_INIT, str(path), "--dry-run", "--num-cpus", "4"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Cluster:     this machine (a dry run starts no Ray): 1 node, 4 CPUs" in result.stdout
    assert "Each trial:  2 CPUs" in result.stdout  # ceil(4 * 12 / 24): auto resolved for 4 CPUs
    assert result.stdout.rstrip().endswith("#  n_estimators\n0  12\n1  8\n2  4")
    assert not (tmp_path / "results").exists()
