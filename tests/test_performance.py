"""Performance settings (trial order, auto CPUs), Monte Carlo splits and the benchmark module.

No timings are asserted here: speed is measured by ``python -m benchmarks.compare``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

from tests.conftest import ROOT, experiment_dict
from tuning.config import load_experiment, validate
from tuning.errors import ExperimentError
from tuning.estimators.space import expand, ordered
from tuning.planning.plan import auto_cpus
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.validation import folds

# --------------------------------------------------------------------------- config


def test_largest_first_orders_the_size_parameter_for_both_runners(tmp_path):
    raw = experiment_dict(tmp_path, space={"n_estimators": [4, 12, 8]}, search={"order": "largest_first"})
    experiment = validate(raw)
    search = experiment.search
    configs = expand(ordered(experiment.space, search.order, search.size_param), 1, experiment.seed)
    assert [c["n_estimators"] for c in configs] == [12, 8, 4]
    as_listed = expand(experiment.space, 1, experiment.seed)
    assert [c["n_estimators"] for c in as_listed] == [4, 12, 8]  # the default keeps the file's order


def test_order_defaults_to_as_listed_and_rejects_unknown_values(tmp_path):
    assert validate(experiment_dict(tmp_path)).search.order == "as_listed"
    with pytest.raises(ExperimentError, match=r"search.order must be one of 'as_listed' or 'largest_first'"):
        validate(experiment_dict(tmp_path, search={"order": "longest"}))


@pytest.mark.parametrize(
    ("space", "size_param"),
    [
        ({"max_depth": [2, 4]}, "n_estimators"),  # not searched
        ({"n_estimators": {"randint": [2, 9]}}, "n_estimators"),  # not a grid
        ({"n_estimators": [4], "criterion": ["squared_error", "absolute_error"]}, "criterion"),  # not numbers
    ],
)
def test_largest_first_needs_a_numeric_grid_of_the_size_parameter(tmp_path, space, size_param):
    search = {"order": "largest_first", "size_param": size_param}
    with pytest.raises(ExperimentError, match=r"search.size_param must name a grid of numbers in space"):
        validate(experiment_dict(tmp_path, space=space, search=search))


def test_num_cpus_accepts_auto_and_numbers_only(tmp_path):
    assert validate(experiment_dict(tmp_path, resources={"num_cpus": "auto"})).resources.num_cpus == "auto"
    assert validate(experiment_dict(tmp_path, resources={"num_cpus": 2})).resources.num_cpus == 2.0
    for bad, message in [
        (0, "must be greater than 0; got 0"),
        ("all", "must be a valid number; got 'all'"),
    ]:
        with pytest.raises(ExperimentError, match=rf"resources.num_cpus {message}"):
            validate(experiment_dict(tmp_path, resources={"num_cpus": bad}))


def test_auto_cpus_lets_the_largest_trial_finish_within_the_ideal():
    grid = [{"n_estimators": n} for n in range(8, 88, 4)]  # the tutorial: 920 trees, 84 the largest
    assert auto_cpus(grid, cores=2, size_param="n_estimators", node_cpus=2) == 1
    assert auto_cpus(grid, cores=16, size_param="n_estimators", node_cpus=16) == 2  # ceil(16*84/920)
    assert auto_cpus([{"alpha": a} for a in range(4)], cores=16, size_param="n_estimators", node_cpus=16) == 4
    assert auto_cpus([{}] * 100, cores=2, size_param="n_estimators", node_cpus=2) == 1
    assert auto_cpus([{}] * 2, cores=64, size_param="n_estimators", node_cpus=8) == 8  # one node's worth


PREDICT_THREADS: list[int | None] = []


class RecordingForest(RandomForestRegressor):
    """A forest that notes the threads it predicts with."""

    def predict(self, X):
        PREDICT_THREADS.append(self.n_jobs)
        return super().predict(X)


@pytest.mark.slow
def test_threads_fit_but_one_thread_predicts_so_scores_are_bitwise_stable(housing_split, tmp_path):
    raw = experiment_dict(
        tmp_path,
        estimator={"class": "tests.test_performance.RecordingForest", "params": {"max_depth": 3}},
        space={"n_estimators": [4]},
        resources={"num_cpus": 2},
    )
    spec = TrialSpec.from_experiment(validate(raw))
    assert spec.params["n_jobs"] == 2  # the fit uses the trial's CPUs
    PREDICT_THREADS.clear()
    first = run_trial({"n_estimators": 4}, housing_split, spec)
    # the scoring predict and the cost's (`model_costs`): one thread each, as threads would sum
    # the trees' predictions in any order
    assert PREDICT_THREADS == [1, 1]
    assert run_trial({"n_estimators": 4}, housing_split, spec)["mse"] == first["mse"]


# --------------------------------------------------------------------------- Monte Carlo splits


def test_mccv_experiment_is_an_evaluation_over_a_hundred_repeats():
    experiment = load_experiment(ROOT / "experiments" / "mccv_linear.yaml")
    assert experiment.space == {} and experiment.evaluation
    assert (experiment.split.repeats, experiment.metric) == (100, "r2")
    assert experiment.estimator.class_path == "sklearn.linear_model.LinearRegression"
    ridge = load_experiment(ROOT / "experiments" / "mccv_ridge.yaml")
    assert ridge.split.repeats == 30 and 3 <= len(ridge.space["alpha"]["grid"]) <= 4


@pytest.mark.parametrize("domain", [{"start": 0, "stop": 100}, [1, 2], {"uniform": [0, 5]}])
def test_split_seed_in_the_space_is_refused_for_split_repeats(tmp_path, domain):
    with pytest.raises(ExperimentError, match=r"space.split.seed must not be searched.*split.repeats: N"):
        validate(experiment_dict(tmp_path, space={"n_estimators": [4], "split.seed": domain}))


@pytest.mark.slow
def test_repeats_split_all_the_rows_differently_and_repeatably(housing_split, tmp_path):
    raw = experiment_dict(
        tmp_path,
        split={"repeats": 3},
        estimator={"class": "sklearn.linear_model.Ridge"},
        space={"alpha": [1.0]},
    )
    spec = TrialSpec.from_experiment(validate(raw))
    rows = len(housing_split.y_train) + len(housing_split.y_test)
    tests = [y_score for _, _, _, y_score in folds(housing_split, spec)]
    for _, y_fit, _, y_score in folds(housing_split, spec):
        assert (len(y_fit), len(y_score)) == (rows - len(housing_split.y_test), len(housing_split.y_test))
    assert not np.array_equal(tests[0], tests[1])
    assert all(np.array_equal(a[3], b) for a, b in zip(folds(housing_split, spec), tests, strict=True))


@pytest.mark.slow
def test_without_repeats_a_trial_uses_the_shared_split(housing_split, tmp_path):
    raw = experiment_dict(
        tmp_path,
        estimator={"class": "sklearn.linear_model.LinearRegression"},
        space={"fit_intercept": [True]},
    )
    spec = TrialSpec.from_experiment(validate(raw))
    plain = run_trial({}, housing_split, spec)
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import mean_squared_error

    model = LinearRegression().fit(housing_split.X_train, housing_split.y_train)
    assert plain["mse"] == mean_squared_error(housing_split.y_test, model.predict(housing_split.X_test))
    assert "mse_repeats" not in plain


@pytest.mark.slow
def test_mccv_evaluation_runners_agree_split_for_split(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    raw = experiment_dict(
        tmp_path,
        estimator={"class": "sklearn.linear_model.LinearRegression"},
        space={},
        split={"repeats": 6},
        metric="r2",
    )
    lines: list[str] = []
    summary = run_experiment(validate(raw), "both", echo=lines.append)
    assert summary["parity"] == {"identical": True, "differing": []}
    assert summary["status"] == "complete" and summary["best"] is None
    (tune,), (seq,) = summary["trials"]["tune"], summary["trials"]["sequential"]
    assert tune["metrics"]["r2_repeats"] == seq["metrics"]["r2_repeats"]
    assert len(set(tune["metrics"]["r2_repeats"])) == 6  # six different test sets
    assert summary["evaluation"]["metrics"]["r2"] == tune["metrics"]["r2"]
    text = "\n".join(lines)
    assert "LinearRegression, Monte Carlo CV over 6 splits: r2 0." in text
    assert "Best" not in text and "best r2" not in text
    info = json.loads((Path(summary["run_dir"]) / "best_model.json").read_text())
    assert info["train_rows"] == 20640 and info["test_metrics"] is None


@pytest.mark.slow
def test_auto_cpus_and_order_reach_the_trials(ray_session, tmp_path):
    from tuning._experiment import run_experiment

    raw = experiment_dict(
        tmp_path,
        space={"n_estimators": [2, 6, 4]},
        resources={"num_cpus": "auto"},
        search={"order": "largest_first"},
    )
    summary = run_experiment(validate(raw), "both", echo=lambda _: None)
    assert summary["cluster"]["cpus"] == 4  # the tests' Ray session
    expected = 2  # ceil(4 CPUs * 6 / 12 trees)
    assert summary["estimator"]["fixed_params"]["n_jobs"] == expected
    sequential = summary["trials"]["sequential"]
    assert [t["config"]["n_estimators"] for t in sequential] == [6, 4, 2]
    tune = sorted(summary["trials"]["tune"], key=lambda t: t["name"])  # Tune numbers trials in order
    assert [t["config"]["n_estimators"] for t in tune] == [6, 4, 2]
    saved = (Path(summary["run_dir"]) / "experiment.yaml").read_text()
    assert f"num_cpus: {float(expected)}" in saved
    assert summary["parity"]["identical"]


# --------------------------------------------------------------------------- the benchmark


FIELDS = {
    "trial_phase_s",
    "trial_phase_all_s",
    "fixed_s",
    "efficiency",
    "speedup",
    "vs_ideal",
    "driver_peak_rss_mb",
    "worker_peak_rss_mb",
    "best_mse",
    "end_to_end_s",
    "vs_ray_core_paired",
}


@pytest.mark.slow
def test_benchmark_runs_every_approach_and_they_agree(ray_session, tmp_path, capsys):
    from benchmarks.compare import APPROACHES, main, update_markdown

    out, md = tmp_path / "bench.json", tmp_path / "BENCH.md"
    argv = [
        *("--set", "space.n_estimators=[2, 4]", "--set", "estimator.params.max_depth=3"),
        *("--repeats", "1", "--out", str(out), "--markdown", str(md)),
    ]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert set(report["approaches"]) == set(APPROACHES)
    assert report["best_mse_agree"] is True and report["fastest"] in APPROACHES
    assert len({a["best_mse"] for a in report["approaches"].values()}) == 1
    for name, approach in report["approaches"].items():
        assert set(approach) == FIELDS, name
        assert approach["trial_phase_s"] > 0 and approach["driver_peak_rss_mb"] > 0
    for name in ("gridsearchcv", "ray_core", "plain_tune", "project_tune", "project_tasks", "project_shared"):
        assert report["approaches"][name]["worker_peak_rss_mb"] > 0, name
    assert report["trials"] == 2 and report["cores"] == 4 and report["ideal_s"] > 0
    assert {"ray_start_s", "data_load_s"} == set(report["fixed"])
    assert {"nproc", "cpu_model"} <= set(report["machine"])
    text = md.read_text()
    assert "<!-- benchmark:rf-4cpu:start -->" in text and "<!-- benchmark:rf-4cpu:end -->" in text
    assert "| project_tune |" in text
    update_markdown(md, "rf-4cpu", "the next run's table")  # a second run replaces its block
    assert "| project_tune |" not in md.read_text() and md.read_text().count("the next run's table") == 1
    assert "| plain_tune |" in capsys.readouterr().out


@pytest.mark.slow
def test_fresh_benchmark_runs_each_approach_in_a_new_process(tmp_path, capsys):
    from benchmarks.compare import main

    out, md = tmp_path / "bench.json", tmp_path / "BENCH.md"
    argv = [
        *("--set", "space.n_estimators=[2, 4]", "--set", "estimator.params.max_depth=3"),
        *("--only", "sequential", "loop_all_cores", "--fresh", "--repeats", "1"),
        *("--out", str(out), "--markdown", str(md)),
    ]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    assert report["fresh"] is True and set(report["approaches"]) == {"sequential", "loop_all_cores"}
    assert all(a["end_to_end_s"] > a["trial_phase_s"] for a in report["approaches"].values())
    assert report["best_mse_agree"] is True and report["fixed"]["data_load_s"] > 0
    assert report["fixed"]["ray_start_s"] == 0.0  # no Ray approach ran
    printed = capsys.readouterr().out
    assert printed.count("(new process)") == 2
    assert "each approach in a new process every round" in md.read_text()
    assert f"<!-- benchmark:rf-{os.cpu_count()}cpu-fresh:start -->" in md.read_text()


# --------------------------------------------------------------------------- the report's verdict


def _runner(name: str, wall: float, durations: list[float], cores: float):
    from tuning.trial.records import RunnerResult, TrialResult

    trials = [
        TrialResult(f"{name}_{i}", {"i": i}, {"mse": 1.0, "started_at": 0.0, "ended_at": d})
        for i, d in enumerate(durations)
    ]
    return RunnerResult(name, trials, wall, cores)


def test_report_says_why_the_sequential_runner_wins():
    from tuning.reports.text import sequential_wins

    tiny = {  # 100 trials of 10 ms: 1 s in a loop, 6 s through Tune on 2 cores
        "sequential": _runner("sequential", 1.0, [0.01] * 100, 1),
        "tune": _runner("tune", 6.0, [0.01] * 100, 2),
    }
    assert sequential_wins(tiny).startswith("The trials are too small for Tune")
    assert "a trial takes 10 ms, Tune adds about 55 ms to each" in sequential_wins(tiny)
    few = {  # 2 trials of 1 s: 2 s in a loop, 2.5 s through Tune (actor start-up)
        "sequential": _runner("sequential", 2.0, [1.0, 1.0], 1),
        "tune": _runner("tune", 2.5, [1.0, 1.0], 2),
    }
    assert sequential_wins(few).startswith("The sequential runner wins: Tune's fixed costs")


@pytest.mark.slow
def test_startup_breakdown_of_a_tune_run(tmp_path):
    """`benchmarks.startup` times a real CLI run from inside; its parts fit in the Tune phase."""
    from benchmarks.startup import main

    out = tmp_path / "startup.json"
    assert main(["--experiment", str(ROOT / "experiments" / "quick.yaml"), "--out", str(out)]) == 0
    (result,) = json.loads(out.read_text())
    assert result["variant"] == "default" and result["actors"] >= 1
    assert len(result["first_trial_beyond_fit_s"]) == len(result["fit_s_per_actor"]) == result["actors"]
    assert 0 < result["fit_to_first_trial_s"] < result["tune_s"] < result["total_s"]
    assert 0 <= result["last_trial_to_fit_return_s"] < result["tune_s"]
    assert all(0 < s < result["tune_s"] for s in result["fit_s_per_actor"])
    busiest = max(result["fit_s_per_actor"])  # start + one actor's fitting + end fit in the phase
    assert result["fit_to_first_trial_s"] + busiest + result["last_trial_to_fit_return_s"] <= result["tune_s"]


@pytest.mark.slow
def test_actor_start_probe_shows_tune_actors_never_get_waiting_workers(tmp_path):
    """The probe runs in its own Ray; a Tune-built actor (own runtime_env) always boots a new worker."""
    import subprocess
    import sys

    out = tmp_path / "actors.json"
    command = [sys.executable, "-m", "benchmarks.startup", "--actor-start", "--rounds", "2"]
    command += ["--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rounds = json.loads(out.read_text())
    order = [(1, "plain"), (1, "tune"), (2, "plain"), (2, "tune")]
    assert [(r["round"], r["variant"]) for r in rounds] == order
    assert all(r["first_call_s"] > 0 for r in rounds)
    assert not any(r["prestarted"] for r in rounds if r["variant"] == "tune")
    assert "tune  on a new worker: median" in done.stdout


@pytest.mark.slow
def test_both_runners_give_identical_means_from_chunks_of_repeats(ray_session, housing_split, tmp_path):
    from tuning.planning.cluster import connect
    from tuning.planning.plan import group_repeats, make_plan
    from tuning.runners.dispatch import run_runners
    from tuning.runners.session import Session

    raw = experiment_dict(
        tmp_path,
        estimator={"class": "sklearn.linear_model.Ridge"},
        space={"alpha": [1.0, 100.0]},
        split={"repeats": 5},
    )
    plan, record = group_repeats(make_plan(validate(raw), "both", connect()), housing_split, chunk=2)
    assert (plan.total, record["trials_per_configuration"]) == (6, 3)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    results = run_runners(Session(plan, housing_split, run_dir, echo=lambda line: None))
    whole = TrialSpec.from_experiment(validate(raw))  # every repeat in one trial, no chunks
    for name in ("tune", "sequential"):
        trials = {t.config["alpha"]: t.metrics for t in results[name].trials}
        assert sorted(trials) == [1.0, 100.0] and all(m["chunks"] == 3 for m in trials.values())
        for alpha, metrics in trials.items():
            expected = run_trial({"alpha": alpha}, housing_split, whole)
            assert metrics["r2_repeats"] == expected["r2_repeats"] and metrics["r2"] == expected["r2"], name


RELEASES_RAY = """
import sys
import ray
from tuning.run import main

code = main(sys.argv[1:])
assert not ray.is_initialized(), "the CLI returned with its Ray still running"
sys.exit(code)
"""


@pytest.mark.slow
def test_the_cli_stops_its_ray_while_the_best_model_and_reports_are_written(tmp_path):
    """The run's last fixed cost: Ray's ~1.4 s shutdown overlaps the refit and the reports."""
    import subprocess
    import sys

    from tests.test_cli import write

    path = write(tmp_path, experiment_dict(tmp_path, space={"n_estimators": [2, 4]}))
    result = subprocess.run(
        [sys.executable, "-c", RELEASES_RAY, str(path), "--num-cpus", "2"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "results" / "small").iterdir()
    assert (run_dir / "best_model.joblib").is_file() and (run_dir / "report.html").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "complete"


def test_release_leaves_a_joined_ray_running():
    from tuning.planning.cluster import RayRelease, local_cluster

    for kept in (RayRelease(local_cluster(2, 0)), RayRelease(None)):  # someone else's Ray; the API's
        kept.start()
        assert kept.thread is None


def test_release_collects_the_garbage_first_and_collects_none_while_ray_stops(monkeypatch):
    import gc

    import ray

    from tuning.planning.cluster import Cluster, RayRelease

    seen = []
    monkeypatch.setattr(ray, "shutdown", lambda: seen.append(gc.isenabled()))
    monkeypatch.setattr(gc, "collect", lambda *a: seen.append("collected") or 0)
    release = RayRelease(Cluster("local", 1, 2.0, 0.0, (2.0,), (0.0,), started_here=True))
    release.start()
    release.join()
    assert seen == ["collected", False] and gc.isenabled()  # no Ray object freed mid-shutdown
