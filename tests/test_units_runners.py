"""The runners' bookkeeping without Ray: trial results, chunks, the baseline, which runners run,
Tune's settings.

Unit tests of the modules that decide results, without Ray: each builds its `TrialSpec`,
`Plan` or results directly on a few hundred rows (`tests.units`); the mutation run
(docs/testing.md, "Mutation testing") selects them.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error

from tests.units import (
    ASHA,
    GROWER,
    FakeTrackers,
    cluster,
    experiment,
    grower_plan,
    ok,
    progress_of,
    result_of,
    session_of,
    tiny_split,
)
from tuning.runners.session import RunnerSession
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.validation import REPEAT_CHUNK


def test_a_trial_is_ok_finished_or_interrupted_and_knows_its_time():
    assert ok(1, 0.5).ok and ok(1, 0.5).finished
    errored = TrialResult("e", {}, {"mse": 1.0}, error="E")
    assert not errored.ok and errored.finished
    interrupted = TrialResult("i", {})
    assert not interrupted.ok and not interrupted.finished
    assert ok(1, 0.5, started_at=2.0, ended_at=5.5).duration_s == 3.5
    assert ok(1, 0.5, started_at=2.0, ended_at=5.5, work_s=1.25).duration_s == 1.25
    assert interrupted.duration_s == 0.0


def test_a_runner_adds_its_ok_trials_time_and_picks_the_best_by_mode():
    trials = [
        ok(1, 0.5, r2=0.1, started_at=0.0, ended_at=2.0),
        ok(2, 0.25, r2=0.7, started_at=0.0, ended_at=3.0),
        ok(3, 0.75, r2=0.3, started_at=0.0, ended_at=4.0),
        TrialResult("e", {"n": 4}, {"mse": 0.0, "r2": 9.0, "started_at": 0.0, "ended_at": 50.0}, error="E"),
    ]
    result = result_of("tune", *trials)
    assert result.trial_time_s == 9.0
    assert result.best("mse", "min").name == "t2" and result.best("r2", "max").name == "t2"
    assert result.best("mse", "max").name == "t3" and result.best("r2", "min").name == "t1"
    assert result_of("tune", trials[3]).best("mse", "min") is None


def chunk(n: int, index: int, scores: list[float], **extra) -> TrialResult:
    metrics = {
        "mse": float(np.mean(scores)),
        "mse_repeats": scores,
        "fit_time_s": 0.5 * (index + 1),
        "started_at": 10.0 - index,  # chunks run at once: a later one may start first
        "ended_at": 12.0 + index,
        "node_id": "n1",
        **extra,
    }
    return TrialResult(f"c{n}_{index}", {"n": n, REPEAT_CHUNK: index}, metrics, retries=index, path=f"p{n}")


def test_chunks_merge_into_one_row_per_configuration_in_split_order():
    from tuning.runners.chunks import merge_chunks

    parts = [chunk(1, 1, [3.0, 4.0]), chunk(2, 0, [5.0, 5.0]), chunk(1, 0, [1.0, 2.0]), chunk(2, 1, [7.0])]
    merged = merge_chunks(result_of("tune", *parts), 2)
    first, second = merged.trials
    assert (first.name, first.config, first.path, first.retries) == ("c1_0", {"n": 1}, "p1", 1)
    assert first.metrics["mse_repeats"] == [1.0, 2.0, 3.0, 4.0] and first.metrics["mse"] == 2.5
    assert first.metrics["mse_std"] == np.std([1.0, 2.0, 3.0, 4.0])
    assert (first.metrics["fit_time_s"], first.metrics["started_at"], first.metrics["ended_at"]) == (
        1.5,
        9.0,
        13.0,
    )
    assert (first.metrics["work_s"], first.metrics["chunks"], first.metrics["node_id"]) == (6.0, 2, "n1")
    assert second.metrics["mse_repeats"] == [5.0, 5.0, 7.0]
    plain = result_of("tune", ok(1, 0.5))
    assert merge_chunks(plain, 1) is plain


def test_a_configuration_with_a_missing_or_failed_chunk_is_unfinished_or_errored():
    from tuning.runners.chunks import merge_chunks

    failed = TrialResult("c1_1", {"n": 1, REPEAT_CHUNK: 1}, error="ValueError: boom")
    errored = merge_chunks(result_of("tune", chunk(1, 0, [1.0]), failed), 2).trials[0]
    assert errored.error == "ValueError: boom" and errored.metrics == {} and not errored.ok
    missing = merge_chunks(result_of("tune", chunk(1, 0, [1.0])), 2).trials[0]
    assert missing.error is None and not missing.finished
    unfinished = TrialResult("c1_1", {"n": 1, REPEAT_CHUNK: 1})
    assert not merge_chunks(result_of("tune", chunk(1, 0, [1.0]), unfinished), 2).trials[0].finished


def test_the_baseline_runs_each_configuration_and_records_errors_and_events(tmp_path):
    from tuning.runners.sequential import RESULTS_FILE, read_sequential, run_sequential

    seen: list[tuple[int, str]] = []
    configs = [{"n_estimators": 1}, {"n_estimators": "x"}, {"n_estimators": 3}]
    progress = progress_of(3)
    session = RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path, 2.0, progress)
    result = run_sequential(session, configs, on_trial=lambda i, t: seen.append((i, t.name)))
    assert (result.runner, result.cores, result.stopped) == ("sequential", 2.0, None)
    assert 0 < result.wall_s < 60
    assert [t.name for t in result.trials] == ["sequential_00000", "sequential_00001", "sequential_00002"]
    assert [t.ok for t in result.trials] == [True, False, True] and result.trials[1].error.startswith(
        "TypeError: "
    )
    assert seen == [(0, "sequential_00000"), (1, "sequential_00001"), (2, "sequential_00002")]
    assert (progress.done, progress.errored) == (3, 1)
    assert result.trials[0].path == str(tmp_path / "sequential" / "sequential_00000")
    assert any((tmp_path / "sequential" / "sequential_00000").iterdir())  # TensorBoard's events
    rows = [json.loads(line) for line in (tmp_path / RESULTS_FILE).read_text().splitlines()]
    assert [r["name"] for r in rows] == [t.name for t in result.trials]
    assert rows[2] == {
        "name": "sequential_00002",
        "config": {"n_estimators": 3},
        "metrics": result.trials[2].metrics,
        "error": None,
    }
    assert read_sequential(tmp_path) == result.trials


def test_a_resumed_baseline_keeps_what_finished_and_runs_the_rest(tmp_path, grower_log):
    from tuning.runners.sequential import run_sequential

    configs = [{"n_estimators": 1}, {"n_estimators": 2}, {"n_estimators": 3}]
    done = [
        TrialResult("sequential_00000", configs[0], {"mse": 9.0}),
        TrialResult("sequential_00001", configs[1]),  # interrupted: run again
        TrialResult("sequential_00002", configs[2], error="E"),
    ]
    progress = progress_of(3)
    result = run_sequential(
        RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path, 1.0, progress), configs, done=done
    )
    assert result.trials[0] is done[0] and result.trials[2] is done[2]
    assert result.trials[1].ok and result.trials[1].name == "sequential_00001"
    assert [e[1] for e in grower_log if e[0] == "fit"] == [2]


def test_a_stop_rule_is_asked_between_trials(tmp_path):
    from tuning.runners.sequential import run_sequential
    from tuning.stopping import StopRule

    configs = [{"n_estimators": n} for n in (1, 2, 3, 4)]
    rule = StopRule("mse", "min", trials=2)
    session = RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path, 1.0, progress_of(4))
    result = run_sequential(session, configs, rule=rule)
    assert len(result.trials) == 2 and result.stopped == "trial cap 2 reached" and rule.finished == 2
    failing = StopRule("mse", "min", plateau=1)
    configs = [{"n_estimators": "x"}, {"n_estimators": "y"}, {"n_estimators": 3}]
    session = RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path / "f", 1.0, progress_of(3))
    out = run_sequential(session, configs, rule=failing)
    assert len(out.trials) == 3 and failing.finished == 3 and failing.best is not None  # failures score None


def test_a_best_score_is_beaten_only_by_a_better_number_in_its_mode():
    from tuning.metrics import BestScore

    low, nan = BestScore("mse", "min"), float("nan")
    assert [low.improves({"mse": v}) for v in (3.0, 3.0, 1.0, 2.0, nan, 0.5)] == [
        True,
        False,
        True,
        False,
        False,
        True,
    ]
    assert not low.improves({"r2": 0.0}) and low.score == 0.5
    high = BestScore("r2", "max")
    assert [high.improves({"r2": v}) for v in (nan, 0.1, 0.3, 0.2, 0.3)] == [False, True, True, False, False]


def test_the_baseline_keeps_its_best_trials_model_in_memory_where_asked(tmp_path):
    from tuning.metrics import BestScore
    from tuning.runners.sequential import run_sequential

    split, spec = tiny_split(), TrialSpec(GROWER, {})
    configs = [{"n_estimators": n} for n in (3, 1, "x", 2, 500)]  # 500: far off, the worst

    def run(folder: str, spec: TrialSpec, keep: BestScore | None) -> RunnerResult:
        return run_sequential(
            RunnerSession(split, spec, tmp_path / folder, 1.0, progress_of(5)), configs, keep=keep
        )

    result = run("kept", spec, BestScore("mse", "min"))
    best = result.best("mse", "min")
    name, model = result.kept
    assert name == best.name and best not in (result.trials[0], result.trials[-1])
    assert model.n_estimators == best.config["n_estimators"]
    assert mean_squared_error(split.y_test, model.predict(split.X_test)) == best.metrics["mse"]
    assert run("not-asked", spec, None).kept is None
    assert run("folds", replace(spec, cv=2), BestScore("mse", "min")).kept is None


def test_only_a_baseline_that_refits_its_own_best_keeps_it(tmp_path):
    from tuning.runners.dispatch import baseline_keep

    keep = baseline_keep(grower_plan(tmp_path, "sequential", metric="r2"))
    assert (keep.metric, keep.mode, keep.score) == ("r2", "max", None)
    assert baseline_keep(grower_plan(tmp_path, "both")) is None  # Tune's best is the one saved
    assert baseline_keep(grower_plan(tmp_path, "sequential", refit=False)) is None


def test_a_tune_trials_kept_fit_is_its_own_model_with_the_feature_names(tmp_path):
    import joblib

    from tests.units import Grower
    from tuning.reports.best_model import kept_fit
    from tuning.trial.shared_fits import FIT_FILE, INDEX_KEY

    split, spec, config = tiny_split(), TrialSpec(GROWER, {}), {"n_estimators": 2}
    trial = TrialResult("t", config, {"mse": 1.0}, path=str(tmp_path))
    assert kept_fit(trial, config, split, spec) is None  # no checkpoint: refit
    (tmp_path / "checkpoint_000000").mkdir()
    joblib.dump(
        Grower(n_estimators=2).fit(split.X_train, split.y_train), tmp_path / "checkpoint_000000" / FIT_FILE
    )
    model = kept_fit(trial, config, split, spec)
    assert model.n_estimators == 2 and list(model.feature_names_in_) == ["a", "b", "c"]
    for other in (replace(spec, cv=2), replace(spec, repeats=2)):
        assert kept_fit(trial, config, split, other) is None
    shared = replace(trial, metrics={"mse": 1.0, INDEX_KEY: 0})  # a shared row: cut, but Grower cannot be
    assert kept_fit(shared, config, split, spec) is None


def test_the_baselines_kept_model_is_saved_as_the_best_without_a_refit(tmp_path, grower_log):
    from tests.units import Grower
    from tuning.reports.best_model import MODEL_INFO, refit_best

    space = {"n_estimators": [1, 2]}
    exp = experiment(tmp_path, estimator={"class": GROWER, "params": {}}, space=space)
    split, spec = tiny_split(), TrialSpec(GROWER, {}, metrics=("mse",))
    model = Grower(n_estimators=2).fit(split.X_train, split.y_train)
    trials = [TrialResult(f"s{n}", {"n_estimators": n}, {"mse": 3.0 - n}) for n in (1, 2)]
    result = RunnerResult("sequential", trials, 1.0, 1.0, kept=("s2", model))
    grower_log.clear()
    refit_best(exp, {"sequential": result}, split, spec, tmp_path, [].append)
    info = json.loads((tmp_path / MODEL_INFO).read_text())
    assert info["fitted_by"] == "trial" and info["trial"] == "s2" and info["fit_time_s"] == 0.0
    assert [e for e in grower_log if e[0] == "fit"] == [] and list(model.feature_names_in_) == ["a", "b", "c"]
    refit_best(exp, {"sequential": replace(result, kept=("s1", model))}, split, spec, tmp_path, [].append)
    info = json.loads((tmp_path / MODEL_INFO).read_text())
    assert info["fitted_by"] == "refit" and [e[:2] for e in grower_log if e[0] == "fit"] == [("fit", 2)]


def forest_spec() -> TrialSpec:
    return TrialSpec(
        "sklearn.ensemble.RandomForestRegressor", {"max_depth": 2, "random_state": 0, "n_jobs": 1}
    )


def scalars(folder, tag: str) -> list[tuple[int, float]]:
    """``(step, value)`` of a TensorBoard scalar written in ``folder``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return [(e.step, pytest.approx(e.value, rel=1e-6)) for e in events.Scalars(tag)]


def test_shared_groups_write_one_row_per_configuration_in_plan_order(tmp_path):
    from tuning.runners.sequential import RESULTS_FILE, read_sequential, run_sequential_groups
    from tuning.trial.shared_fits import group_configs

    configs = [{"n_estimators": n, "min_samples_leaf": leaf} for leaf in (1, 2) for n in (3, 1)]
    groups = tuple(group_configs(configs, "n_estimators"))
    split, progress = tiny_split(), progress_of(4)
    result = run_sequential_groups(RunnerSession(split, forest_spec(), tmp_path, 3.0, progress), groups)
    assert [t.name for t in result.trials] == [f"sequential_{i:05d}" for i in range(4)]
    assert [t.config for t in result.trials] == configs and result.cores == 3.0 and result.stopped is None
    assert [t.path for t in result.trials] == [
        str(tmp_path / "sequential" / f"shared_{g:05d}") for g in (0, 0, 1, 1)
    ]
    for trial, config in zip(result.trials, configs, strict=True):
        assert trial.metrics["mse"] == run_trial(config, split, forest_spec())["mse"]
    assert progress.done == 4 and progress.errored == 0
    assert progress.best == (min(t.metrics["mse"] for t in result.trials), progress.best[1])
    assert result.runner == "sequential" and 0 <= result.wall_s < 60
    assert scalars(tmp_path / "sequential" / "shared_00001", "ray/tune/mse") == [
        (1, result.trials[3].metrics["mse"]),
        (3, result.trials[2].metrics["mse"]),
    ]
    rows = [json.loads(line) for line in (tmp_path / RESULTS_FILE).read_text().splitlines()]
    assert [r["name"] for r in rows] == [
        "sequential_00001",
        "sequential_00000",
        "sequential_00003",
        "sequential_00002",
    ]
    assert rows[0] == {
        "name": "sequential_00001",
        "config": configs[1],
        "metrics": result.trials[1].metrics,
        "error": None,
    }
    assert [t.config for t in read_sequential(tmp_path)] == [r["config"] for r in rows]


def test_a_shared_group_that_fails_fails_each_of_its_rows_and_a_finished_one_is_kept(tmp_path):
    from tuning.runners.sequential import run_sequential_groups
    from tuning.stopping import StopRule
    from tuning.trial.shared_fits import group_configs

    configs = [{"n_estimators": n, "max_depth": d} for d in (2, -1) for n in (1, 2)]
    groups = tuple(group_configs(configs, "n_estimators"))
    done = [
        TrialResult("sequential_00000", configs[0], {"mse": 1.0}),
        TrialResult("sequential_00001", configs[1], {"mse": 2.0}),
    ]
    (tmp_path / "sequential").mkdir()  # a resumed run's folder is there already
    rule = StopRule("mse", "min", trials=10)
    session = RunnerSession(tiny_split(), forest_spec(), tmp_path, 1.0, progress_of(4))
    result = run_sequential_groups(session, groups, done=done, rule=rule)
    assert result.trials[:2] == done and rule.finished == 2
    assert [t.error is not None and t.error.startswith("InvalidParameterError: ") for t in result.trials] == [
        False,
        False,
        True,
        True,
    ]
    capped = StopRule("mse", "min", trials=2)
    session = RunnerSession(tiny_split(), forest_spec(), tmp_path / "c", 1.0, progress_of(4))
    out = run_sequential_groups(session, groups, done=None, rule=capped)
    assert len(out.trials) == 2 and out.stopped == "trial cap 2 reached"
    assert capped.best == min(t.metrics["mse"] for t in out.trials)  # each row's score fed the rule


def test_reading_the_baseline_back_skips_a_line_cut_short(tmp_path):
    from tuning.runners.sequential import RESULTS_FILE, read_sequential

    assert read_sequential(tmp_path) == []
    (tmp_path / "sequential").mkdir()
    row = {"name": "sequential_00000", "config": {"n": 1}, "metrics": {"mse": 1.0}, "error": None}
    again = {**row, "name": "sequential_00001"}  # a resumed run appends after the line cut short
    (tmp_path / RESULTS_FILE).write_text(json.dumps(row) + "\n" + '{"name": "sequ\n' + json.dumps(again))
    trial, later = read_sequential(tmp_path)
    assert later.name == "sequential_00001"
    assert trial == TrialResult(
        "sequential_00000",
        {"n": 1},
        {"mse": 1.0},
        None,
        path=str(tmp_path / "sequential" / "sequential_00000"),
    )
    remote, _ = read_sequential(f"file://{tmp_path}")
    assert remote.path == f"file://{tmp_path}/sequential/sequential_00000"
    assert read_sequential(str(tmp_path)) == [trial, later]


TUNE_METRICS = {"mse": 1.0, "mse_repeats": [1.0], "fit_time_s": 0.1, "ended_at": 1.0}


@pytest.fixture
def fake_tune(monkeypatch):
    """`run_tune` and `continue_tune` replaced: each call's arguments, and Tune's result made of them."""
    from tuning.runners import dispatch

    calls: list[tuple[str, RunnerSession, dict]] = []

    def run(name):
        def fake(session, **kwargs):
            calls.append((name, session, kwargs))
            configs = kwargs.get("configs") or [{"n_estimators": 1}, {"n_estimators": 2}]
            trials = [
                TrialResult(f"tune_{i}", dict(c), {**TUNE_METRICS, "started_at": float(-i)})
                for i, c in enumerate(configs)
            ]
            return RunnerResult("tune", trials, 1.0, session.cores)

        return fake

    monkeypatch.setattr(dispatch, "run_tune", run("run_tune"))
    monkeypatch.setattr(dispatch, "continue_tune", run("continue_tune"))
    return calls


def test_the_session_gives_each_runner_its_progress_and_trackers(tmp_path):
    plan = grower_plan(tmp_path, "both")
    trackers = FakeTrackers()
    session = session_of(tmp_path, plan, verbose=True, trackers=trackers)
    progress = session.progress("tune", 3)
    assert (progress.runner, progress.total, progress.metric, progress.mode) == ("tune", 2, "mse", "min")
    assert (progress.parallelism, progress.configs, progress.per_trial, progress.show_best) == (
        3,
        list(plan.configs),
        True,
        True,
    )
    assert session.on_trial() == trackers.log_sequential and session_of(tmp_path, plan).on_trial() is None
    runner = session.runner("tasks", 2.0, 3)  # one runner's part: the run's rows, trial and folder
    assert runner.split is session.split and (runner.spec, runner.run_dir, runner.cores) == (
        plan.spec,
        tmp_path,
        2.0,
    )
    assert (runner.progress.runner, runner.progress.parallelism, runner.progress.per_trial) == (
        "tasks",
        3,
        True,
    )
    assert session.runner("sequential", 1.0).progress.parallelism == 1
    chunked = replace(plan, spec=replace(plan.spec, chunk=2))
    assert session_of(tmp_path, chunked).progress("tune").show_best is False
    adaptive = grower_plan(tmp_path, "tune", search={"algorithm": "optuna", "num_samples": 2})
    assert session_of(tmp_path, adaptive).progress("tune").configs is None
    assert session_of(tmp_path, plan).progress("sequential").per_trial is True  # not a terminal
    assert session_of(tmp_path, plan).progress("sequential").parallelism == 1


def test_a_verbose_session_prints_a_line_per_trial_on_a_terminal(tmp_path, monkeypatch):
    import sys

    from tuning.runners.progress import say
    from tuning.runners.session import Session

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    plan = grower_plan(tmp_path, "both")
    assert Session(plan, tiny_split(), tmp_path, say, verbose=True).progress("tune").per_trial is True
    assert Session(plan, tiny_split(), tmp_path, say).progress("tune").per_trial is False  # the live line


def test_a_sequential_plan_runs_only_the_baseline(tmp_path, fake_tune):
    from tuning.runners.dispatch import run_runners

    trackers = FakeTrackers()
    results = run_runners(session_of(tmp_path, grower_plan(tmp_path, "sequential"), trackers=trackers))
    assert list(results) == ["sequential"] and fake_tune == []
    (name, model), best = results["sequential"].kept, results["sequential"].best("mse", "min")
    assert name == best.name and model.n_estimators == best.config["n_estimators"]  # in memory, not refitted
    assert [t.config for t in results["sequential"].trials] == [{"n_estimators": 1}, {"n_estimators": 2}]
    assert results["sequential"].cores == 1 and trackers.logged == [
        (0, "sequential_00000"),
        (1, "sequential_00001"),
    ]
    capped = grower_plan(tmp_path, "sequential", sizes=(1, 2, 3), search={"stop": {"trials": 1}})
    stopped = run_runners(session_of(tmp_path / "capped", capped))["sequential"]
    assert len(stopped.trials) == 1 and stopped.stopped == "trial cap 1 reached"


def test_the_baseline_replays_only_the_tune_trials_that_finished(tmp_path, monkeypatch):
    from tuning.runners import dispatch

    ran = [
        TrialResult("t0", {"n_estimators": 2}, {**TUNE_METRICS, "started_at": 1.0}),
        TrialResult("t1", {"n_estimators": 1}),  # interrupted
    ]
    monkeypatch.setattr(dispatch, "run_tune", lambda *args, **kwargs: RunnerResult("tune", ran, 1.0, 1.0))
    plan = grower_plan(tmp_path, "both", search={"algorithm": "optuna", "num_samples": 2})
    results = dispatch.run_runners(session_of(tmp_path, plan))
    assert [t.config for t in results["sequential"].trials] == [{"n_estimators": 2}]


def test_both_runners_run_the_baseline_first_then_tune_with_the_plans_settings(tmp_path, fake_tune):
    from tuning.runners.dispatch import run_runners

    plan = grower_plan(tmp_path, "both", resources={"num_cpus": 2})
    lines: list[str] = []
    session = session_of(tmp_path, plan, lines, trackers=FakeTrackers())
    results = run_runners(session)
    assert list(results) == ["sequential", "tune"]
    ((name, runner, kwargs),) = fake_tune
    ran = (kwargs.pop("experiment"), runner.spec, runner.run_dir, runner.cores)
    assert name == "run_tune" and ran == (plan.experiment, plan.spec, tmp_path, plan.tune_cores)
    assert runner.progress.runner == "tune" and runner.progress.parallelism == plan.slots == 2
    assert runner.split is session.split
    *trackers, watch = kwargs.pop("callbacks")  # the trackers' callbacks, then the storage watch
    assert trackers == ["callback"] and type(watch).__name__ == "StorageWatch"
    assert kwargs == {"resume": False, "groups": (), "configs": None, "rule": None}
    assert "Ray Tune: 2 trials at a time on 4 CPUs, 0 GPUs" in lines
    tune_only = run_runners(session_of(tmp_path / "t", grower_plan(tmp_path, "tune")))
    assert list(tune_only) == ["tune"] and [type(c).__name__ for c in fake_tune[-1][2]["callbacks"]] == [
        "StorageWatch"
    ]


def test_tune_runs_a_plans_chunks_as_listed_trials_and_merges_them(tmp_path, fake_tune):
    from tuning.planning.plan import group_repeats
    from tuning.runners.dispatch import run_runners

    plan, _ = group_repeats(grower_plan(tmp_path, "tune", split={"repeats": 4}), tiny_split(), chunk=2)
    fake_tune.clear()
    results = run_runners(session_of(tmp_path, plan))
    assert fake_tune[0][2]["configs"] == list(plan.configs)
    assert [t.config for t in results["tune"].trials] == [{"n_estimators": 1}, {"n_estimators": 2}]
    assert all(t.ok and t.metrics["chunks"] == 2 for t in results["tune"].trials)  # merged, two chunks each


def test_an_interrupted_baseline_keeps_its_trials_and_tune_does_not_start(tmp_path, fake_tune):
    from tuning.runners.dispatch import run_runners
    from tuning.runners.session import Session

    def interrupt(line):
        raise KeyboardInterrupt

    plan = grower_plan(tmp_path, "both", sizes=(1, 2, 3))
    results = run_runners(session_of(tmp_path, plan))
    assert len(results["sequential"].trials) == 3
    session = Session(plan, tiny_split(), tmp_path / "i", interrupt)
    results = run_runners(session)
    assert list(results) == ["sequential"] and len(fake_tune) == 1
    assert [t.name for t in results["sequential"].trials] == ["sequential_00000"]  # written before the line
    assert results["sequential"].cores == 1 and results["sequential"].runner == "sequential"
    assert 0 <= results["sequential"].wall_s < 60


def test_a_resumed_baseline_counts_what_finished(tmp_path, fake_tune, grower_log):
    from tuning.runners.dispatch import run_runners
    from tuning.runners.sequential import RESULTS_FILE

    plan = grower_plan(tmp_path, "sequential", sizes=(1, 2, 3))
    run_runners(session_of(tmp_path, plan))
    log = tmp_path / RESULTS_FILE
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:2]))  # the last one was lost
    grower_log.clear()
    lines: list[str] = []
    results = run_runners(session_of(tmp_path, plan, lines, resume=True))
    assert [e[1] for e in grower_log if e[0] == "fit"] == [3] and len(results["sequential"].trials) == 3
    assert lines[0].startswith("[sequential] 3/3 done")
    fresh: list[str] = []
    run_runners(session_of(tmp_path / "again", plan, fresh))
    assert fresh[0].startswith("[sequential] 1/3 done")
    grower_log.clear()
    run_runners(session_of(tmp_path, plan))  # not resumed: the same folder runs every trial again
    assert [e[1] for e in grower_log if e[0] == "fit"] == [1, 2, 3]


def test_shared_groups_run_in_the_baseline_as_groups(tmp_path, fake_tune):
    from tuning.planning.plan import make_plan
    from tuning.runners.dispatch import run_runners

    search = {"share_fits": True, "stop": {"trials": 2}}
    exp = experiment(tmp_path, space={"n_estimators": [1, 2, 3]}, search=search, resources={"num_cpus": 2})
    plan = make_plan(exp, "both", cluster((4.0,)))
    results = run_runners(session_of(tmp_path, plan))
    seq = results["sequential"]
    assert [t.path for t in seq.trials] == [str(tmp_path / "sequential" / "shared_00000")] * 3
    assert all(t.ok for t in seq.trials) and seq.cores == 2  # one group: its 3 trials, never cut
    assert seq.stopped == "trial cap 2 reached" and fake_tune[0][2]["groups"] == plan.groups
    lines: list[str] = []
    again = run_runners(session_of(tmp_path, plan, lines, resume=True))["sequential"]
    assert [(t.name, t.metrics) for t in again.trials] == [(t.name, t.metrics) for t in seq.trials]
    assert not any(line.startswith("[sequential]") for line in lines)
    two = experiment(tmp_path, space={"n_estimators": [1, 2], "max_depth": [2, 3]}, search=search)
    stopped = run_runners(session_of(tmp_path / "s", make_plan(two, "both", cluster())))["sequential"]
    assert len(stopped.trials) == 2 and stopped.stopped == "trial cap 2 reached"  # asked between groups


def test_both_runners_of_an_adaptive_search_replay_tunes_configurations(tmp_path, fake_tune):
    from tuning.runners.dispatch import run_runners

    plan = grower_plan(tmp_path, "both", search={"algorithm": "optuna", "num_samples": 2})
    trackers, lines = FakeTrackers(), []
    results = run_runners(session_of(tmp_path, plan, lines, trackers=trackers))
    assert [line[:15] for line in lines if line.startswith("[")] == ["[sequential] 1/", "[sequential] 2/"]
    assert list(results) == ["tune", "sequential"]
    # the fake's trials started in reverse order: the baseline runs them as proposed
    assert [t.config for t in results["sequential"].trials] == [{"n_estimators": 2}, {"n_estimators": 1}]
    assert all(t.ok for t in results["sequential"].trials)
    assert trackers.logged == [(0, "sequential_00000"), (1, "sequential_00001")]
    assert results["sequential"].cores == plan.sequential_cores
    assert {name: r.tracking_s for name, r in results.items()} == {"tune": 0.25, "sequential": 0.25}
    assert list(run_runners(session_of(tmp_path / "t", replace(plan, runner="tune")))) == ["tune"]


def test_a_stopped_run_resumed_continues_tune_with_a_new_budget(tmp_path, fake_tune):
    from tuning.reports.summary import write_summary
    from tuning.runners.dispatch import run_runners

    plan = grower_plan(tmp_path, "tune", search={"stop": {"trials": 1}})
    write_summary(tmp_path, {"stopped": {"reason": "trial cap 1 reached"}})
    session = session_of(tmp_path, plan, resume=True)
    run_runners(session)
    name, runner, kwargs = fake_tune[-1]
    assert name == "continue_tune" and kwargs["configs"] == list(plan.configs) and kwargs["rule"].trials == 1
    ran = (kwargs["experiment"], runner.spec, runner.run_dir, runner.cores)
    assert ran == (plan.experiment, plan.spec, tmp_path, plan.tune_cores) and runner.progress.runner == "tune"
    assert runner.split is session.split  # the rows the kept trials saw, for the new ones
    write_summary(tmp_path, {"stopped": None})
    run_runners(session_of(tmp_path, plan, resume=True))
    assert fake_tune[-1][0] == "run_tune" and fake_tune[-1][2]["resume"] is True
    assert fake_tune[-1][2]["rule"].trials == 1
    run_runners(session_of(tmp_path / "new", plan))
    assert fake_tune[-1][0] == "run_tune" and fake_tune[-1][2]["resume"] is False


def test_an_interrupted_tune_keeps_its_last_save(tmp_path, monkeypatch):
    from tuning.runners import dispatch

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dispatch, "run_tune", interrupted)
    read = []
    monkeypatch.setattr(
        dispatch, "read_tune", lambda run_dir: read.append(run_dir) or [TrialResult("saved", {})]
    )
    plan = grower_plan(tmp_path, "tune")
    result = dispatch.run_runners(session_of(tmp_path, plan))["tune"]
    assert result.trials == [] and result.cores == plan.tune_cores and result.runner == "tune"
    assert 0 <= result.wall_s < 60
    (tmp_path / "experiment_state-2026.json").write_text("{}")
    assert [t.name for t in dispatch.run_runners(session_of(tmp_path, plan))["tune"].trials] == ["saved"]
    assert read == [tmp_path]


def test_unfinished_runners_are_interrupted_ones_not_stopped_ones():
    from tuning.runners.dispatch import unfinished

    two = result_of("tune", ok(1, 0.5), ok(2, 0.5))
    assert not unfinished({"tune": two}, 2) and unfinished({"tune": two}, 3)
    with_error = result_of("tune", ok(1, 0.5), TrialResult("e", {"n": 2}, error="E"))
    assert not unfinished({"tune": with_error}, 2)
    assert unfinished({"tune": result_of("tune", ok(1, 0.5), TrialResult("i", {"n": 2}))}, 2)
    stopped = RunnerResult("tune", [ok(1, 0.5)], 1.0, 1.0, stopped="trial cap 1 reached")
    assert not unfinished({"tune": stopped}, 3) and unfinished({"tune": stopped, "sequential": two}, 3)


def test_a_stopped_search_keeps_its_finished_trials_and_names_what_never_ran(tmp_path):
    from tuning.runners.dispatch import settle_stopped

    plan = grower_plan(tmp_path, "both", sizes=(1, 2, 3))
    trials = [TrialResult("a", {"n_estimators": 1}, {"mse": 1.0}), TrialResult("b", {"n_estimators": 2})]
    seq = RunnerResult("sequential", list(trials), 1.0, 1.0, stopped="trial cap 1 reached")
    tune = RunnerResult("tune", [*trials, TrialResult("c", {"n_estimators": 3}, {"mse": 1.0})], 1.0, 1.0)
    kept, record = settle_stopped(plan, {"sequential": seq, "tune": tune})
    assert [t.name for t in kept["sequential"].trials] == ["a"] and kept["tune"] is tune
    assert record == {
        "reason": "trial cap 1 reached",
        "unrun": [{"n_estimators": 2}, {"n_estimators": 3}],
        "unrun_count": 2,
        "runners": {"sequential": "trial cap 1 reached"},
    }
    tune_stopped = replace(tune, trials=trials[:1], stopped="target reached")
    _, record = settle_stopped(plan, {"sequential": seq, "tune": tune_stopped})
    assert record["reason"] == "target reached" and record["unrun_count"] == 2
    assert record["runners"] == {"sequential": "trial cap 1 reached", "tune": "target reached"}
    done = [trials[0], TrialResult("b", {"n_estimators": 2}, {"mse": 1.0}), tune.trials[2]]
    whole = replace(tune, trials=done, stopped="trial cap 3 reached")  # stopped after its last trial
    kept, record = settle_stopped(plan, {"tune": whole})
    assert record is None and [t.name for t in kept["tune"].trials] == ["a", "b", "c"]
    cut = replace(tune, stopped="trial cap 2 reached")  # its unfinished trial is left out
    assert [t.name for t in settle_stopped(plan, {"tune": cut})[0]["tune"].trials] == ["a", "c"]
    assert settle_stopped(plan, {"tune": tune}) == ({"tune": tune}, None)
    _, record = settle_stopped(replace(plan, total=10), {"tune": tune_stopped})
    assert record["unrun_count"] == 2  # with configurations: those never finished, counted
    adaptive = replace(plan, configs=(), total=5)
    _, record = settle_stopped(adaptive, {"tune": tune_stopped})
    assert record["unrun"] == [] and record["unrun_count"] == 4
    _, record = settle_stopped(replace(plan, configs=(), total=0), {"tune": tune_stopped})
    assert record is None


def test_sigterm_is_a_ctrl_c_while_the_trials_run():
    import signal
    import threading

    from tuning.runners.dispatch import _sigterm_as_sigint

    before = signal.getsignal(signal.SIGTERM)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's, whoever runs the test
    try:
        with pytest.raises(KeyboardInterrupt), _sigterm_as_sigint():
            assert signal.getsignal(signal.SIGTERM) is not before
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert signal.getsignal(signal.SIGTERM) is before
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # not callable: raise it ourselves
    try:
        with pytest.raises(KeyboardInterrupt), _sigterm_as_sigint():
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
    finally:
        signal.signal(signal.SIGINT, previous)
    seen = []

    def in_thread():
        with _sigterm_as_sigint():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen == [before]


def test_tune_gets_the_metric_mode_cap_and_search_of_the_experiment(tmp_path):
    from tuning.runners.tune import tune_config

    exp = experiment(
        tmp_path,
        metric="r2",
        space={"max_depth": [1, 2, 3]},
        search=ASHA,
        resources={"num_cpus": 1, "max_concurrent_trials": 2},
    )
    space, settings = tune_config(exp, ())
    assert space == {"max_depth": {"grid_search": [1, 2, 3]}}
    assert (settings.metric, settings.mode, settings.max_concurrent_trials, settings.reuse_actors) == (
        "r2",
        "max",
        2,
        True,
    )
    assert settings.num_samples == 1 and settings.search_alg.max_concurrent == 2
    assert settings.scheduler._max_t == 4
    random = experiment(tmp_path, search={"algorithm": "random", "num_samples": 3})
    assert tune_config(random, ())[1].num_samples == 3


def test_shared_groups_are_one_grid_of_tune_trials(tmp_path):
    from tuning.runners.tune import tune_config
    from tuning.trial.shared_fits import group_configs

    exp = experiment(tmp_path, resources={"num_cpus": 1, "max_concurrent_trials": 3})
    groups = tuple(
        group_configs(
            [{"n_estimators": 2, "d": 1}, {"n_estimators": 1, "d": 1}, {"n_estimators": 1, "d": 2}],
            "n_estimators",
        )
    )
    space, settings = tune_config(exp, groups)
    assert space == {
        "shared": {
            "grid_search": [
                [{"n_estimators": 1, "d": 1}, {"n_estimators": 2, "d": 1}],
                [{"n_estimators": 1, "d": 2}],
            ]
        }
    }
    assert (
        settings.num_samples == 1 and settings.scheduler is None and settings.search_alg.max_concurrent == 3
    )
    assert (settings.metric, settings.mode, settings.reuse_actors) == ("mse", "min", True)


def test_listed_trials_run_exactly_as_given(tmp_path):
    from tuning.runners.tune import listed, tune_config

    exp = experiment(tmp_path, resources={"num_cpus": 1, "max_concurrent_trials": 2})
    configs = [
        {"n_estimators": 1, REPEAT_CHUNK: 0},
        {"n_estimators": 1, REPEAT_CHUNK: 1},
        {"n_estimators": 2, REPEAT_CHUNK: 0},
    ]
    space, generator, samples = listed(configs, exp)
    assert space["n_estimators"].categories == [1, 2] and space[REPEAT_CHUNK].categories == [0, 1]
    assert generator._points_to_evaluate == configs and generator.max_concurrent == 2 and samples == 3
    space, settings = tune_config(exp, (), configs)
    assert settings.num_samples == 3 and settings.search_alg._points_to_evaluate == configs
    assert settings.scheduler is None and settings.metric == "mse"


def test_the_stop_hooks_feed_the_rule_each_finished_trial_and_ask_it_after_each_step():
    from types import SimpleNamespace

    from tuning.runners.tune import stop_hooks
    from tuning.stopping import StopRule
    from tuning.trial.shared_fits import INDEX_KEY

    rule = StopRule("mse", "min", trials=3)
    stopper, feeder = stop_hooks(rule)
    assert stopper("id", {"mse": 0.1}) is False and stopper.stop_all() is False
    feeder.on_trial_result(1, [], None, {"mse": 0.5})  # a plain trial's step: not finished yet
    assert rule.finished == 0
    feeder.on_trial_result(1, [], None, {"mse": 0.05, INDEX_KEY: 0})  # a shared fit's configuration
    assert (rule.finished, rule.best) == (1, 0.05)
    feeder.on_trial_complete(1, [], SimpleNamespace(last_result={"mse": 0.01}))
    feeder.on_trial_complete(
        1, [], SimpleNamespace(last_result={"mse": 0.1, INDEX_KEY: 1})
    )  # counted already
    assert (rule.finished, rule.best, rule.since_best) == (2, 0.01, 0) and stopper.stop_all() is False
    feeder.on_trial_error(1, [], SimpleNamespace(last_result={INDEX_KEY: 2}))
    assert rule.finished == 2
    feeder.on_trial_error(1, [], SimpleNamespace(last_result=None))
    assert rule.finished == 3 and rule.best == 0.01 and stopper.stop_all() is True
    feeder.on_trial_complete(1, [], SimpleNamespace(last_result=None))
    assert rule.finished == 4 and rule.since_best == 2


def test_a_shared_trials_rows_come_from_its_result_lines(tmp_path):
    from tuning.runners.tune import shared_rows
    from tuning.trial.shared_fits import INDEX_KEY

    lines = [
        json.dumps({"mse": 0.5, INDEX_KEY: 0}),
        json.dumps({"mse": 0.4, INDEX_KEY: 1}),
        json.dumps({"done": True}),
        '{"mse": 0.2, "sha',  # cut short
        json.dumps({"mse": 0.3, INDEX_KEY: 1}),  # a retry's result: the last one counts
    ]
    (tmp_path / "result.json").write_text("\n".join(lines))
    configs = [{"n": 1}, {"n": 2}, {"n": 3}]
    rows = shared_rows("trial_a", configs, str(tmp_path), "ValueError: boom", 2)
    assert [(r.name, r.config, r.error, r.retries, r.path) for r in rows] == [
        ("trial_a_000", {"n": 1}, None, 2, str(tmp_path)),
        ("trial_a_001", {"n": 2}, None, 2, str(tmp_path)),
        ("trial_a_002", {"n": 3}, "ValueError: boom", 2, str(tmp_path)),
    ]
    assert rows[1].metrics["mse"] == 0.3 and rows[2].metrics == {}
    assert [r.finished for r in shared_rows("t", configs, str(tmp_path / "none"), None, 0)] == [False] * 3


def test_only_a_systemexit_in_a_callback_is_kept_quiet(monkeypatch):
    import logging
    import sys
    from types import SimpleNamespace

    from tuning.runners.tune import _quiet_analysis, quiet_exit_in_callbacks

    printed = []
    monkeypatch.setattr(sys, "__unraisablehook__", printed.append)
    quiet_exit_in_callbacks(SimpleNamespace(exc_type=SystemExit))
    other = SimpleNamespace(exc_type=ValueError)
    quiet_exit_in_callbacks(other)
    assert printed == [other]
    logger = logging.getLogger("ray.tune.analysis.experiment_analysis")
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    _quiet_analysis()
    assert logger.level == logging.ERROR


def test_tune_runs_a_choices_configurations_as_the_plan_lists_them(tmp_path, fake_tune):
    from tuning.estimators.models import CHOICE_KEY
    from tuning.planning.cluster import local_cluster
    from tuning.planning.plan import make_plan
    from tuning.runners.dispatch import run_runners

    branches = {
        "a": {"class": GROWER, "space": {"n_estimators": [1, 2]}},
        "b": {"class": GROWER, "space": {}},
    }
    raw = {"estimator": {"choice": branches}, "space": {}}
    plan = make_plan(experiment(tmp_path, **raw), "tune", local_cluster(num_cpus=2))
    results = run_runners(session_of(tmp_path, plan))
    assert (
        fake_tune[0][2]["configs"]
        == list(plan.configs)
        == [
            {CHOICE_KEY: "a", "a/n_estimators": 1},
            {CHOICE_KEY: "a", "a/n_estimators": 2},
            {CHOICE_KEY: "b"},
        ]
    )
    assert len(results["tune"].trials) == 3
    optuna = {"algorithm": "optuna", "num_samples": 2}
    adaptive = make_plan(experiment(tmp_path / "o", **raw, search=optuna), "tune", local_cluster(num_cpus=2))
    run_runners(session_of(tmp_path / "o", adaptive))
    assert fake_tune[-1][2]["configs"] is None  # an adaptive search proposes them as it runs


# ---- lost workers (`tuning.runners.lost`): Tune's controller mended, without a run -------------

OOM_TEXT = "\n".join(  # Ray 2.60's, shortened
    [
        "1 worker(s) were killed due to the node running low on memory. Memory on the node "
        "(IP: 10.0.0.1, ID: abc) was 4.04GB used / 23.54GB limit (0.171709)",
        "OOM kill reason: Memory usage 4310319104B exceeded threshold of 4296932352B "
        "(17.0% of 25276071936B limit)",
        "Ray killed 1 worker(s) based on the killing policy",
        "Considered workers: [",
        "Selected to kill: (Actor(ec16): job ID=01000000, task name=ImplicitFunc.__init__, "
        "required resources={CPU: 1}, pid=10100, actual memory used=1.69GB, worker ID=c719)",
        "(Actor(1306): job ID=01000000, pid=10101, actual memory used=0.18GB, worker ID=2315)",
        "]",
        "Refer to the documentation on how to address the out of memory issue.",
    ]
)


def test_a_memory_kill_is_one_line_naming_the_worker_the_node_and_the_threshold():
    from tuning.runners.lost import memory_line

    assert memory_line(OOM_TEXT) == (
        "killed for memory: Ray's memory monitor killed its worker process (pid 10100, 1.69GB): "
        "the node used 4.04GB of 23.54GB, above its threshold of 17.0% (RAY_memory_usage_threshold)"
    )
    assert memory_line("no numbers") == (
        "killed for memory: Ray's memory monitor killed its worker process (RAY_memory_usage_threshold)"
    )


def test_a_memory_kill_reaches_tune_as_the_actors_death_with_its_line_last():
    import pickle

    from ray.exceptions import OutOfMemoryError, RayActorError, RayTaskError

    from tuning.runners.lost import KilledForMemory, as_actor_death, memory_line

    death = as_actor_death(OutOfMemoryError(OOM_TEXT))
    assert isinstance(death, KilledForMemory) and isinstance(death, RayActorError)
    assert str(death).splitlines()[-1] == memory_line(OOM_TEXT)  # what error.txt ends with
    assert str(death).startswith("1 worker(s) were killed")  # Ray's whole message kept above it
    assert str(pickle.loads(pickle.dumps(death))) == str(death)  # Tune pickles it to error.pkl
    other = RayTaskError("f", "traceback", ValueError("x"))
    assert as_actor_death(other) is other


class _Actors:
    def __init__(self, started):
        self.started = started

    def is_actor_started(self, actor):
        return actor in self.started


class _Cache:
    def __init__(self):
        self.asked = []

    def has_cached_object(self, request):
        self.asked.append(request)
        return False


class _Controller:
    """What `TuneController._maybe_reuse_cached_actor` reads of its controller."""

    def __init__(self, trial_to_actor, started):
        self._trial_to_actor, self._resetting_trials = trial_to_actor, set()
        self._actor_manager, self._actor_cache = _Actors(started), _Cache()


class _Trial:
    placement_group_factory = "1 CPU"


def test_a_trial_whose_own_actor_is_starting_keeps_it_rather_than_a_cached_one():
    from ray.tune.execution.tune_controller import TuneController

    from tuning.runners.lost import handle_lost_workers

    handle_lost_workers()
    handle_lost_workers()  # once is enough; twice changes nothing
    reuse = TuneController._maybe_reuse_cached_actor
    assert reuse.mended and not getattr(reuse.__defaults__[0], "mended", False)  # wraps Tune's own
    starting, waiting, fresh = _Trial(), _Trial(), _Trial()
    controller = _Controller({starting: "actor A", waiting: "actor B"}, started={"actor A"})
    assert reuse(controller, starting) is False and controller._actor_cache.asked == []  # kept
    assert reuse(controller, waiting) is False and controller._actor_cache.asked == ["1 CPU"]  # Tune's
    assert reuse(controller, fresh) is False and len(controller._actor_cache.asked) == 2  # Tune's
