"""Paths users rely on that no other test walks: runners that disagree, a metric to maximise,
keys and command-line combinations that are rarely used. Through the CLI where a user meets them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import assert_rejected, cli, write
from tuning.config import ResourcesConfig, validate
from tuning.errors import ExperimentError
from tuning.planning.cluster import Cluster, check_fits


def rows_csv(tmp_path: Path, n: int = 60, target_gap: bool = False) -> Path:
    """A small numeric CSV: features a, b, c and a target y (one gap in y if asked)."""
    lines = ["a,b,c,y"]
    for i in range(n):
        y = "" if target_gap and i == 7 else f"{(i % 7) * 0.5 + i * 0.01:.3f}"
        lines.append(f"{i},{(i * 3) % 11},{(i * 7) % 5},{y}")
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def only_run_dir(results: Path) -> Path:
    (experiment,) = results.iterdir()
    (run_dir,) = experiment.iterdir()
    return run_dir


# --------------------------------------------------------------------------- runners that disagree


@pytest.mark.slow
def test_runners_that_disagree_end_the_run_incomplete_and_say_so(tmp_path):
    raw = experiment_dict(
        tmp_path,
        estimator={"class": "tests.helpers.WorkerShiftedRegressor", "params": {"shift": 1e-6}},
        space={"n_estimators": [1, 2]},
        runner="both",
        refit=False,
    )
    result = cli("tuning.run", str(write(tmp_path, raw)), "--num-cpus", "2")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "ERROR: sequential and tune differ on 2 configurations" in result.stdout
    summary = json.loads((only_run_dir(tmp_path / "results") / "summary.json").read_text())
    assert summary["status"] == "incomplete"
    assert summary["parity"]["identical"] is False and len(summary["parity"]["differing"]) == 2


# --------------------------------------------------------------------------- a metric to maximise


@pytest.mark.slow
def test_r2_is_maximised_everywhere_a_best_is_chosen(ray_session, tmp_path):
    from ray import tune

    from tuning._experiment import run_experiment

    raw = experiment_dict(tmp_path, metric="r2", space={"n_estimators": [1, 3, 6]})
    raw["estimator"]["params"]["max_depth"] = 3
    lines: list[str] = []
    summary = run_experiment(validate(raw), "both", echo=lines.append)
    assert summary["mode"] == "max" and summary["status"] == "complete"
    scores = {t["config"]["n_estimators"]: t["metrics"]["r2"] for t in summary["trials"]["tune"]}
    best_n = max(scores, key=scores.get)
    assert summary["best"]["config"] == {"n_estimators": best_n}
    assert summary["best_model"]["config"] == {"n_estimators": best_n}
    run_dir = Path(summary["run_dir"])

    def trial(config):  # Tune checks the name only: the trials are done
        raise AssertionError("not run")

    grid = tune.Tuner.restore(str(run_dir.resolve()), trainable=trial).get_results()
    assert grid.get_best_result().config == {"n_estimators": best_n}  # by the metric and mode Tune got
    table = lines[lines.index("") + 1].splitlines()
    shown = [float(row.split()[5]) for row in table[2 : 2 + len(scores)]]  # r2 column, best first
    assert shown == sorted(shown, reverse=True)


# --------------------------------------------------------------------------- data keys


@pytest.mark.slow
def test_data_features_selects_columns(ray_session, tmp_path):
    from tuning.config import DataConfig, SplitConfig
    from tuning.trial.data import load_split

    data = DataConfig(source=str(rows_csv(tmp_path)), target="y", features=["c", "a"])
    split = load_split(data, SplitConfig(), seed=0)
    assert split.features == ("c", "a") and split.X_train.shape[1] == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"features": ["a", "nope"]}, "data.features must be columns of", id="unknown-feature"),
        pytest.param({"gap": True}, "data.target must have no missing values; 'y' has 1", id="target-gap"),
    ],
)
def test_bad_data_found_after_reading_is_one_line(tmp_path, data, message):
    source = rows_csv(tmp_path, target_gap=data.pop("gap", False))
    path = write(tmp_path, experiment_dict(tmp_path, data={"source": str(source), "target": "y", **data}))
    assert_rejected(cli("tuning.run", str(path), "--num-cpus", "1"), message, tmp_path)


def test_a_data_file_of_another_kind_is_refused(tmp_path):
    source = tmp_path / "rows.txt"
    source.write_text("a,y\n1,2\n")
    path = write(tmp_path, experiment_dict(tmp_path, data={"source": str(source), "target": "y"}))
    assert_rejected(cli("tuning.run", str(path)), "data.source must end in .csv or .parquet", tmp_path)


def test_no_network_and_no_cached_housing_data_is_one_clear_line(tmp_path, monkeypatch):
    import sklearn.datasets._california_housing as housing

    from tuning.trial.data import builtin_frame

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(housing, "_fetch_remote", offline)
    with pytest.raises(ExperimentError) as caught:
        builtin_frame("california_housing")
    message = str(caught.value)
    assert message.startswith("data.source cannot download the California housing data")
    assert str(tmp_path / "empty-cache") in message and "\n" not in message


# --------------------------------------------------------------------------- search keys


def test_loguniform_draws_stay_in_bounds_and_spread_over_decades(tmp_path):
    from tuning.planning.plan import trials_in_run_order

    raw = experiment_dict(
        tmp_path,
        space={"min_impurity_decrease": {"loguniform": [1e-6, 1e-1]}},
        search={"algorithm": "random", "num_samples": 40},
    )
    values = [c["min_impurity_decrease"] for c in trials_in_run_order(validate(raw))]
    assert len(values) == 40 and all(1e-6 <= v < 1e-1 for v in values)
    assert min(values) < 1e-4 < max(values)  # uniform in the log: several decades covered


@pytest.mark.slow
def test_random_search_over_a_continuous_range_runs_the_same_draws_in_both_runners(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    raw = experiment_dict(
        tmp_path,
        estimator={"class": "sklearn.linear_model.Ridge", "params": {}},
        space={"alpha": {"uniform": [0.1, 10.0]}},
        search={"algorithm": "random", "num_samples": 3},
        refit=False,
    )
    summary = run_experiment(validate(raw), "both", echo=lambda _: None)
    drawn = {name: sorted(t["config"]["alpha"] for t in trials) for name, trials in summary["trials"].items()}
    assert drawn["tune"] == drawn["sequential"] and len(set(drawn["tune"])) == 3
    assert all(0.1 <= a < 10.0 for a in drawn["tune"]) and summary["parity"]["identical"]


@pytest.mark.slow
def test_grace_period_lets_every_trial_reach_its_steps(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    raw = experiment_dict(
        tmp_path,
        space={"max_depth": [1, 2, 3, 4, 5, 6]},
        search={"scheduler": "asha", "budget": {"max": 4, "step": 1}, "grace_period": 2},
        refit=False,
    )
    raw["estimator"]["params"] = {}
    summary = run_experiment(validate(raw), "tune", echo=lambda _: None)
    steps = [t["metrics"]["step"] for t in summary["trials"]["tune"]]
    assert min(steps) >= 2  # nobody stopped before its grace period
    assert summary["search"]["tune_steps_run"] == sum(steps)


# --------------------------------------------------------------------------- resume and address


@pytest.fixture(scope="module")
def finished_both_run(tmp_path_factory) -> tuple[Path, Path]:
    """A finished ``both`` run of two tiny trials, shared by the resume tests."""
    tmp_path = tmp_path_factory.mktemp("both")
    raw = experiment_dict(tmp_path, space={"n_estimators": [1, 2]}, runner="both", refit=False)
    raw["estimator"]["params"]["max_depth"] = 2
    path = write(tmp_path, raw)
    result = cli("tuning.run", str(path), "--num-cpus", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    return path, only_run_dir(tmp_path / "results")


def interrupted(run_dir: Path) -> Path:
    """The run directory as an interrupted run leaves it (its summary says so)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    return run_dir


@pytest.mark.slow
def test_resume_refuses_another_runner(finished_both_run, tmp_path):
    _, run_dir = finished_both_run
    result = cli("tuning.run", "--resume", str(interrupted(run_dir)), "--runner", "tune")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"error: --resume {run_dir}: ran with --runner both; got --runner tune" in result.stderr


@pytest.mark.slow
def test_resume_dry_run_shows_the_saved_plan_and_writes_nothing(finished_both_run):
    _, run_dir = finished_both_run
    before = sorted(p.name for p in run_dir.rglob("*"))
    result = cli("tuning.run", "--resume", str(interrupted(run_dir)), "--dry-run", "--num-cpus", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Trials:      2 (runner: both; best mse: min)" in result.stdout
    assert sorted(p.name for p in run_dir.rglob("*")) == before


@pytest.mark.slow
def test_resume_of_a_both_run_with_nothing_left_reruns_nothing(finished_both_run):
    _, run_dir = finished_both_run
    result = cli("tuning.run", "--resume", str(interrupted(run_dir)), "--num-cpus", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["resumed"] and summary["parity"]["identical"]
    assert "[sequential]" not in result.stdout  # both runners' trials were all finished


def test_resume_may_only_change_the_address(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "experiment.yaml").write_text(
        yaml.safe_dump({**validate(experiment_dict(tmp_path)).resolved(), "runner": "tune"})
    )
    result = cli("tuning.run", "--resume", str(run_dir), "--address", "no-port-here")
    assert_rejected(
        result, "address must be host:port, ray://host:port or auto; got 'no-port-here'", tmp_path
    )
    result = cli("tuning.run", "--resume", str(run_dir), "--set", "seed=1")
    assert_rejected(result, "--set cannot change it; got ['seed=1']", tmp_path)


NO_CLUSTER_HERE = """
import functools
import sys

import ray._private.services as services

# Ray's scan of this machine's processes finds no cluster (it is cached: keep cache_clear)
services.find_gcs_addresses = functools.lru_cache(lambda: [])
from tuning.run import main

sys.exit(main(sys.argv[1:]))
"""


def test_address_auto_without_a_cluster_is_one_line(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_TMPDIR": str(tmp_path)}  # no address file either
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run(
        [sys.executable, "-c", NO_CLUSTER_HERE, str(path), "--address", "auto"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_rejected(result, "address must be a running Ray cluster; cannot join auto", tmp_path)


def test_resources_no_single_node_holds_together_are_refused():
    cluster = Cluster("10.0.0.1:6379", 2, 5.0, 1.0, (4.0, 1.0), (0.0, 1.0), started_here=False)
    expected = "resources cannot be met together by any node: 2 CPUs with 1 GPUs"
    with pytest.raises(ExperimentError, match=f"^{re.escape(expected)}"):
        check_fits(cluster, ResourcesConfig(num_cpus=2, num_gpus=1))


# --------------------------------------------------------------------------- inspect


def test_inspect_of_a_run_with_no_trials_yet_is_one_line(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "experiment.yaml").write_text(yaml.safe_dump(validate(experiment_dict(tmp_path)).resolved()))
    result = cli("tuning.inspect", str(run_dir))
    assert result.returncode == 2 and result.stderr == f"error: {run_dir}: has no trials yet\n"


@pytest.mark.slow
def test_max_failures_zero_lets_a_killed_trial_fail_without_a_retry(tmp_path):
    from tests.test_faults import by_n, fits, marked, run_dir_of, start, summary_of, wait_for

    path = marked(tmp_path, 3.0, [1, 2], max_failures=0)
    proc = start("tuning.run", str(path), "--num-cpus", "2", out=tmp_path / "out.txt")
    try:
        wait_for(lambda: fits(tmp_path), what="a first fit")
        victim_n, victim_pid = fits(tmp_path)[0]
        os.kill(victim_pid, signal.SIGKILL)
        assert proc.wait(timeout=240) == 1, (tmp_path / "out.txt").read_text()[-3000:]
    finally:
        proc.kill()
    summary = summary_of(run_dir_of(tmp_path))
    assert summary["status"] == "incomplete"
    assert summary["counts"] == {"trials": 2, "ok": 1, "error": 1, "retries": 0}
    assert by_n(summary)[victim_n]["status"] == "error"
    assert [n for n, _ in fits(tmp_path)].count(victim_n) == 1  # never started again
