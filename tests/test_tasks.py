"""The tasks runner (each trial a Ray Core task): the same numbers as the baseline to the last
bit, the three runners in one run and one report, shared fits and chunks of repeats, a lost
worker retried, an interrupted run resumed, and what it refuses (Tune's searcher, scheduler
and stopper)."""

from __future__ import annotations

import json
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import write
from tests.test_faults import (
    interrupt_and_resume,
    kill_a_worker,
)
from tuning.config import load_experiment, validate
from tuning.reports.summary import timings
from tuning.reports.text import _speed_lines, sequential_wins
from tuning.run import main, run_experiment
from tuning.runners.chunks import merge_chunks
from tuning.runners.progress import Progress
from tuning.runners.session import RunnerSession
from tuning.trial.fit import TrialSpec
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.validation import REPEAT_CHUNK


def _quiet(_: str) -> None:
    """Progress lines are not printed."""


# --------------------------------------------------------------------------- bad input


OPTUNA = {"search": {"algorithm": "optuna", "num_samples": 2}, "space": {"n_estimators": {"randint": [4, 9]}}}
ASHA = {
    "space": {"max_depth": [4, 6]},
    "search": {"scheduler": "asha", "budget": {"param": "n_estimators", "max": 8, "step": 4}},
}
STOP = {"search": {"stop": {"trials": 2}}}


@pytest.mark.parametrize(
    "changes, runner, expected",
    [
        pytest.param(
            OPTUNA,
            "tasks",
            "runner must be tune or both when search.algorithm is optuna (Ray Tune's adaptive searcher); "
            "the tasks runner has none; got 'tasks'",
            id="optuna-tasks",
        ),
        pytest.param(
            OPTUNA, "all", "runner must be tune or both when search.algorithm is optuna", id="optuna-all"
        ),
        pytest.param(
            ASHA, "tasks", "runner must be tune or both when search.scheduler is asha", id="asha-tasks"
        ),
        pytest.param(
            STOP, "all", "runner must be tune, sequential or both when search.stop is set", id="stop-all"
        ),
    ],
)
@pytest.mark.parametrize("given", ["file", "--runner"])
def test_what_only_tune_runs_is_refused_with_the_tasks_runner(
    tmp_path, capsys, changes, runner, expected, given
):
    """One line naming the runners that can, exit 2, nothing written; the file's runner or --runner."""
    raw = experiment_dict(tmp_path, **changes, **({"runner": runner} if given == "file" else {}))
    path = write(tmp_path, raw)
    code = main([str(path), *(["--runner", runner] if given == "--runner" else [])])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {path}") and expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "results").exists()


def test_the_dry_run_names_the_tasks_runner(tmp_path, capsys):
    path = write(tmp_path, experiment_dict(tmp_path))
    assert main([str(path), "--runner", "all", "--dry-run", "--num-cpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "(runner: all;" in out
    assert "Ray tasks:   2 tasks at a time (limited by CPUs: 2 CPUs, 1 per trial), one per trial" in out
    assert "Ray Tune:" in out and "Sequential:" in out


# --------------------------------------------------------------------------- the report's figures


def _result(runner: str, wall: float, cores: float, durations: list[float]) -> RunnerResult:
    trials = [
        TrialResult(f"{runner}_{i}", {"n": i}, {"mse": 1.0, "started_at": 0.0, "ended_at": d})
        for i, d in enumerate(durations)
    ]
    return RunnerResult(runner, trials, wall, cores)


def test_the_advice_names_the_tasks_runner_when_it_beat_the_baseline():
    """10 trials of 10 ms: Tune adds (3.0 - 0.1 / 2) / 10 = 295 ms to each, tasks (0.08 - 0.05) / 10."""
    results = {
        "sequential": _result("sequential", 0.1, 1, [0.01] * 10),
        "tasks": _result("tasks", 0.08, 2, [0.01] * 10),
        "tune": _result("tune", 3.0, 2, [0.01] * 10),
    }
    assert sequential_wins(results) == (
        "The trials are too small for Tune: the sequential runner wins (a trial takes 10 ms, Tune adds "
        "about 295 ms to each; the tasks runner adds about 3 ms and wins: use runner: tasks)."
    )
    t = timings(results, 1.0, 0.1)
    assert t["tasks_speedup"] == pytest.approx(0.1 / 0.08) and t["tune_speedup"] == pytest.approx(0.1 / 3.0)
    assert t["speedup"] == t["tune_speedup"] and t["efficiency"] == t["tune_efficiency"]  # Tune's, as before
    assert _speed_lines(t, results) == [
        "Speedup:       tasks 1.25x | tune 0.03x over the sequential baseline",
        "Efficiency:    tasks: 62% of the ideal with 2 cores busy (0.0 s)",
        "               tune: 2% of the ideal with 2 cores busy (0.0 s)",
        f"               {sequential_wins(results, 'tune')}",
    ]


def test_without_the_tasks_runner_the_advice_says_how_to_measure_it():
    results = {
        "sequential": _result("sequential", 0.1, 1, [0.01] * 10),
        "tune": _result("tune", 3.0, 2, [0.01] * 10),
    }
    assert sequential_wins(results).endswith("295 ms to each; runner: all measures the tasks runner too).")
    t = timings(results, 1.0, 0.1)
    assert _speed_lines(t, results)[:2] == [
        "Speedup:       0.03x over the sequential baseline",
        "Efficiency:    2% of the ideal with 2 cores busy (0.0 s)",
    ]


# --------------------------------------------------------------------------- runs (Ray)


@pytest.fixture(scope="module")
def mccv_all(ray_session, tmp_path_factory):
    """experiments/mccv_linear.yaml with its repeats cut to 6, the three runners in one run."""
    tmp = tmp_path_factory.mktemp("mccv")
    experiment = load_experiment(
        ROOT / "experiments" / "mccv_linear.yaml", ["split.repeats=6", f"storage_path={tmp}"]
    )
    lines: list[str] = []
    summary = run_experiment(experiment, "all", echo=lines.append)
    return summary, Path(summary["run_dir"]), "\n".join(lines)


@pytest.mark.slow
def test_mccv_linear_tasks_gives_the_baselines_r2_mean_and_std_to_the_last_bit(mccv_all):
    summary, _, _ = mccv_all
    (seq,), (tasks,), (tune,) = (summary["trials"][n] for n in ("sequential", "tasks", "tune"))
    for key in ("r2", "r2_std", "r2_repeats", "mse", "mse_std"):
        assert tasks["metrics"][key] == seq["metrics"][key] == tune["metrics"][key], key
    assert len(seq["metrics"]["r2_repeats"]) == 6
    assert summary["parity"] == {"identical": True, "differing": []} and summary["status"] == "complete"


@pytest.mark.slow
def test_one_report_shows_each_runners_trial_phase_speedup_and_efficiency(mccv_all):
    summary, run_dir, output = mccv_all
    t = summary["timings"]
    assert t["tasks_speedup"] == pytest.approx(t["sequential_s"] / t["tasks_s"])
    assert t["tasks_efficiency"] == pytest.approx(t["tasks_ideal_s"] / t["tasks_s"])
    each = f"sequential {t['sequential_s']:.1f} s | tasks {t['tasks_s']:.1f} s | tune {t['tune_s']:.1f} s"
    assert f"Trial phase:   {each}" in output
    assert f"Speedup:       tasks {t['tasks_speedup']:.2f}x | tune {t['tune_speedup']:.2f}x" in output
    assert f"Efficiency:    tasks: {t['tasks_efficiency']:.0%} of the ideal" in output
    assert f"tune: {t['tune_efficiency']:.0%} of the ideal" in output
    page = (run_dir / "report.html").read_text()
    assert "Ray Core tasks trial phase" in page and "Ray Core tasks: Speedup over the baseline" in page
    assert sorted(p.name for p in (run_dir / "tasks").iterdir()) == ["tasks_00000", "trials.jsonl"]


@pytest.mark.slow
def test_the_tutorial_grid_with_the_three_runners_gives_identical_metrics(ray_session, tmp_path):
    """experiments/rf.yaml, its grid cut to 2 small forests: one run, one report, every metric alike."""
    sets = ["space.n_estimators=[4, 8]", "estimator.params.max_depth=4", f"storage_path={tmp_path}"]
    experiment = load_experiment(ROOT / "experiments" / "rf.yaml", sets)
    lines: list[str] = []
    summary = run_experiment(experiment, "all", echo=lines.append)
    runs = summary["trials"]
    assert set(runs) == {"sequential", "tasks", "tune"} and summary["status"] == "complete"
    scores = {  # every recorded metric of each configuration (fit_time_s differs, of course)
        name: {t["config"]["n_estimators"]: {m: t["metrics"][m] for m in summary["metrics"]} for t in trials}
        for name, trials in runs.items()
    }
    assert scores["tasks"] == scores["sequential"] == scores["tune"] and len(scores["tasks"]) == 2
    assert summary["parity"] == {"identical": True, "differing": []}
    output = "\n".join(lines)
    assert output.count("Trial phase:") == 1 and (Path(summary["run_dir"]) / "report.html").is_file()


@pytest.mark.slow
def test_shared_fits_and_chunks_of_repeats_run_as_tasks_like_the_baseline(
    ray_session, housing_split, tmp_path
):
    """The same group and chunk code: one task per shared fit, one per chunk, merged alike."""
    from tuning.runners.sequential import run_sequential, run_sequential_groups
    from tuning.runners.tasks import run_tasks, units_of
    from tuning.trial.shared_fits import group_configs, size_key

    experiment = validate(experiment_dict(tmp_path, space={"n_estimators": [2, 4], "max_depth": [3, 4]}))
    spec = TrialSpec.from_experiment(experiment)
    configs = [{"n_estimators": n, "max_depth": d} for d in (3, 4) for n in (2, 4)]
    groups = tuple(group_configs(configs, lambda c: size_key(spec, c)))
    assert len(groups) == 2
    progress = Progress("tasks", 4, "mse", "min", _quiet)
    seq = run_sequential_groups(RunnerSession(housing_split, spec, tmp_path / "s", 1, progress), groups)
    session = RunnerSession(housing_split, spec, tmp_path / "t", 2, progress)
    tasks = run_tasks(session, units_of(configs, groups), experiment=experiment)
    assert [t.metrics["mse"] for t in tasks.trials] == [t.metrics["mse"] for t in seq.trials]
    assert [t.config for t in tasks.trials] == configs and len({t.path for t in tasks.trials}) == 2

    chunked = replace(spec, repeats=4, chunk=2)
    configs = [{"n_estimators": 2, REPEAT_CHUNK: i} for i in (0, 1)] + [{"n_estimators": 4, REPEAT_CHUNK: 0}]
    configs.append({"n_estimators": 4, REPEAT_CHUNK: 1})
    seq = run_sequential(RunnerSession(housing_split, chunked, tmp_path / "s2", 1, progress), configs)
    session = RunnerSession(housing_split, chunked, tmp_path / "t2", 2, progress)
    tasks = run_tasks(session, units_of(configs), experiment=experiment)
    merged = [merge_chunks(r, 2).trials for r in (seq, tasks)]
    assert [t.metrics["mse_repeats"] for t in merged[1]] == [t.metrics["mse_repeats"] for t in merged[0]]
    assert [t.metrics["mse_std"] for t in merged[1]] == [t.metrics["mse_std"] for t in merged[0]]
    assert all(len(t.metrics["mse_repeats"]) == 4 for t in merged[1])


@pytest.mark.slow
def test_a_configuration_that_raises_fails_only_its_task(ray_session, housing_split, tmp_path):
    from tuning.runners.tasks import run_tasks, units_of

    experiment = validate(experiment_dict(tmp_path, space={"max_depth": [2, 3]}))  # -1 below: not validated
    spec = TrialSpec.from_experiment(experiment)
    progress = Progress("tasks", 2, "mse", "min", _quiet)
    configs = [{"max_depth": 2, "n_estimators": 2}, {"max_depth": -1, "n_estimators": 2}]
    result = run_tasks(
        RunnerSession(housing_split, spec, tmp_path, 2, progress), units_of(configs), experiment=experiment
    )
    ok, failed = result.trials
    assert ok.ok and failed.error.startswith("InvalidParameterError: The 'max_depth' parameter")
    rows = [json.loads(line) for line in (tmp_path / "tasks" / "trials.jsonl").read_text().splitlines()]
    assert sorted(r["name"] for r in rows) == ["tasks_00000", "tasks_00001"]


@pytest.mark.slow
def test_a_killed_worker_is_retried_as_a_task(tmp_path):
    """SIGKILL the worker fitting one configuration: Ray runs its task again (``max_retries``),
    and two trials still run at once after it (`tests.test_faults.kill_a_worker`)."""
    summary, _, _ = kill_a_worker(tmp_path, "tasks")
    assert summary["counts"]["error"] == 0


@pytest.mark.slow
def test_interrupted_tasks_run_resumes_only_unfinished_trials(tmp_path):
    """SIGTERM mid-run: the tasks still running are cancelled, the rows written are kept, and
    --resume runs only the configurations with none (`tests.test_faults.interrupt_and_resume`)."""
    interrupt_and_resume(tmp_path, "tasks", signal.SIGTERM)


def test_an_unknown_runner_is_refused_before_ray_starts(tmp_path):
    from tuning.errors import ExperimentError
    from tuning.planning.search import check_runner

    with pytest.raises(
        ExperimentError, match=r"runner must be one of tune, sequential, tasks, both, all; got 'x'"
    ):
        check_runner(validate(experiment_dict(tmp_path)), "x")


def test_an_interrupt_cancels_only_the_tasks_still_running(monkeypatch):
    """A finished task is not cancelled: Ray 2.60's driver can abort when a cancellation races a
    completing task's reply (seen as ``Tried to complete task that was not pending`` in
    test_interrupted_tasks_run_resumes_only_unfinished_trials under load)."""
    import ray

    from tuning.runners import tasks

    waited, cancelled = [], []

    def wait(refs, num_returns, timeout):
        waited.append((list(refs), num_returns, timeout))
        return refs[:1], refs[1:]  # the first has finished

    monkeypatch.setattr(ray, "wait", wait)
    monkeypatch.setattr(ray, "cancel", lambda ref, **options: cancelled.append((ref, options)))
    tasks._cancel(["done", "running", "queued"])
    assert waited == [(["done", "running", "queued"], 3, 0)]
    assert cancelled == [("running", {}), ("queued", {})]
    tasks._cancel([])  # nothing pending: Ray is not asked
    assert len(waited) == 1 and len(cancelled) == 2
