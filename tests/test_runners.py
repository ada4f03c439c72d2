"""Both runners end to end on one Ray session: parity, the run directory, its readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import experiment_dict
from tuning._experiment import run_experiment
from tuning.config import validate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def both_run(ray_session, tmp_path_factory):
    """One small experiment run by both runners, with a random domain besides the grid."""
    tmp = tmp_path_factory.mktemp("both")
    raw = experiment_dict(
        tmp,
        space={"n_estimators": [4, 8], "max_features": {"uniform": [0.3, 1.0]}},
        search={"num_samples": 2},
    )
    lines: list[str] = []
    summary = run_experiment(validate(raw), "both", echo=lines.append)
    return summary, Path(summary["run_dir"]), "\n".join(lines)


def test_both_runners_run_the_same_trials_with_identical_metrics(both_run):
    summary, _, _ = both_run
    tune, seq = summary["trials"]["tune"], summary["trials"]["sequential"]
    assert len(tune) == len(seq) == 4
    assert [t["config"] for t in seq] == sorted(
        [t["config"] for t in tune], key=lambda c: [t["config"] for t in seq].index(c)
    )
    by_config = {json.dumps(t["config"], sort_keys=True): t["metrics"]["mse"] for t in tune}
    assert {json.dumps(t["config"], sort_keys=True): t["metrics"]["mse"] for t in seq} == by_config
    assert summary["parity"] == {"identical": True, "differing": []}
    assert summary["status"] == "complete"
    assert summary["counts"] == {"trials": 4, "ok": 4, "error": 0, "retries": 0}


def test_summary_reports_timings_and_split(both_run):
    summary, run_dir, output = both_run
    timings = summary["timings"]
    assert timings["tune_s"] > 0 and timings["sequential_s"] > 0
    assert timings["speedup"] == pytest.approx(timings["sequential_s"] / timings["tune_s"])
    assert timings["efficiency"] > 0 and timings["cores"] == 4
    assert summary["split"]["train_rows"] == 16512
    assert summary["best"]["runner"] == "tune"
    assert summary["best"]["mse"] == min(t["metrics"]["mse"] for t in summary["trials"]["tune"])
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk["best"] == summary["best"]
    assert f"tensorboard --logdir {run_dir}" in output
    assert "Speedup:" in output and "Efficiency:" in output


def test_resolved_experiment_is_saved_beside_the_results(both_run):
    _, run_dir, _ = both_run
    saved = yaml.safe_load((run_dir / "experiment.yaml").read_text())
    assert saved["search"]["num_samples"] == 2 and saved["mode"] == "min"
    assert validate(saved).resolved() == saved


def test_ray_reads_the_run_directory(both_run, housing_split):
    from ray import tune
    from ray.tune import ExperimentAnalysis

    from tuning.runners.tune import trainable
    from tuning.trial.fit import TrialSpec

    summary, run_dir, _ = both_run
    analysis = ExperimentAnalysis(str(run_dir), default_metric="mse", default_mode="min")
    assert len(analysis.trials) == 4
    assert analysis.best_config == summary["best"]["config"]
    assert tune.Tuner.can_restore(str(run_dir))
    experiment = validate(yaml.safe_load((run_dir / "experiment.yaml").read_text()))
    again = trainable(experiment, housing_split, TrialSpec.from_experiment(experiment))
    restored = tune.Tuner.restore(str(run_dir), trainable=again)
    results = restored.get_results()
    assert len(results) == 4 and not results.errors


def test_every_trial_has_tune_files_and_tensorboard_events(both_run):
    summary, _, _ = both_run
    for trial in summary["trials"]["tune"]:
        files = {p.name for p in Path(trial["path"]).iterdir()}
        assert {"result.json", "progress.csv", "params.json"} <= files
        assert any(name.startswith("events.out.tfevents") for name in files)
    for trial in summary["trials"]["sequential"]:
        assert any(Path(trial["path"]).glob("events.out.tfevents*"))


def test_tensorboard_events_hold_the_metric(both_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    summary, _, _ = both_run
    for runner in ("tune", "sequential"):
        trial = summary["trials"][runner][0]
        events = EventAccumulator(trial["path"])
        events.Reload()
        (scalar,) = events.Scalars("ray/tune/mse")
        assert scalar.value == pytest.approx(trial["metrics"]["mse"], rel=1e-6)


def test_inspect_prints_the_table_from_disk(both_run, capsys):
    from tuning.reports.inspection import main

    summary, run_dir, _ = both_run
    assert main([str(run_dir)]) == 0
    out = capsys.readouterr().out
    best = summary["best"]
    assert out.splitlines()[1].split()[0] == "trial"
    assert f"{best['mse']:.4f}" in out.splitlines()[2]
    assert len([line for line in out.splitlines() if line.startswith("trial_")]) == 4


def test_a_second_run_gets_its_own_directory(ray_session, tmp_path):
    raw = experiment_dict(tmp_path, space={"n_estimators": [2]})
    first = run_experiment(validate(raw), "sequential", echo=lambda _: None)
    second = run_experiment(validate(raw), "sequential", echo=lambda _: None)
    assert first["run_dir"] != second["run_dir"]
    assert (
        Path(first["run_dir"], "summary.json").exists() and Path(second["run_dir"], "summary.json").exists()
    )


def peak_concurrency(trials: list[dict]) -> int:
    events = sorted([(t["started_at"], 1) for t in trials] + [(t["ended_at"], -1) for t in trials])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_max_concurrent_trials_caps_tune(ray_session, tmp_path):
    raw = experiment_dict(
        tmp_path,
        estimator={"class": "tests.helpers.SleepyRegressor", "params": {"sleep": 0.5}},
        space={"n_estimators": [1, 2, 3, 4]},
        resources={"num_cpus": 1, "max_concurrent_trials": 1},
    )
    summary = run_experiment(validate(raw), "tune", echo=lambda _: None)
    assert summary["counts"]["ok"] == 4
    assert peak_concurrency(summary["trials"]["tune"]) == 1  # 4 CPUs would allow 4


def test_fractional_gpus_cap_concurrency_at_four_per_gpu(ray_session, tmp_path):
    """With 1 (logical) GPU and 0.25 GPU per trial, 4 of 8 trials run at once, never more.

    The first four fits wait for each other (no timing luck: a slow actor start on a busy
    machine cannot hide the fourth), then each sleeps so that a fifth would overlap them.
    """
    marks = tmp_path / "marks"
    marks.mkdir()
    raw = experiment_dict(
        tmp_path,
        estimator={
            "class": "tests.helpers.RendezvousRegressor",
            "params": {"sleep": 1.0, "marks": str(marks), "parties": 4},
        },
        space={"n_estimators": list(range(1, 9))},
        resources={"num_cpus": 0.25, "num_gpus": 0.25},
    )
    summary = run_experiment(validate(raw), "tune", echo=lambda _: None)
    trials = summary["trials"]["tune"]
    assert len(trials) == 8 and summary["status"] == "complete"
    assert {t["gpu_ids"] for t in trials} == {"0"}
    assert all(t["cuda_visible_devices"] == t["gpu_ids"] for t in trials)  # Ray set it for each worker
    assert peak_concurrency(trials) == 4  # 16 CPU slots would allow 8: the GPU is what caps it


def test_a_worker_stopped_inside_a_weakref_callback_prints_no_traceback(tmp_path):
    """Ray stops a worker with SIGTERM -> SystemExit; inside a weakref callback Python would
    print that as an "Exception ignored" traceback. The Tune trial's hook hides that one only."""
    import subprocess
    import sys

    script = tmp_path / "stop.py"
    script.write_text(
        "import os, signal, sys, weakref\n"
        "from tuning.runners.tune import quiet_exit_in_callbacks\n"
        "sys.unraisablehook = quiet_exit_in_callbacks\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))  # as Ray's worker does\n"
        "class A: pass\n"
        "def stopped(ref): os.kill(os.getpid(), signal.SIGTERM); sum(range(10**5))\n"
        "def broken(ref): raise ValueError('a real bug')\n"
        "a, b = A(), A()\n"
        "refs = weakref.ref(a, stopped), weakref.ref(b, broken)\n"
        "del a, b\n"
        "print('alive')\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "alive\n"
    assert "SystemExit" not in done.stderr
    assert "ValueError: a real bug" in done.stderr  # other errors in callbacks still print
