"""The Tune runner's plumbing without a Ray session: Ray Tune's entry points (``Tuner``,
``report``, ``with_parameters``, ``ExperimentAnalysis``) replaced by recorders, so each test
sees what the runner hands Tune and what it makes of Tune's answers.

Unit tests of the modules that decide results (`tests.units`); the mutation run
(docs/testing.md, "Mutation testing") selects them. The slow tests run the real thing.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from tests.units import GROWER, experiment, progress_of, tiny_split
from tuning.runners import tune as runner
from tuning.runners.session import RunnerSession
from tuning.stopping import StopRule
from tuning.trial.fit import TrialSpec
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.shared_fits import FIT_FILE, INDEX_KEY, SHARED_KEY


@pytest.fixture
def reported(monkeypatch) -> list[dict]:
    """What the trial functions report to Tune, where `_where` says they ran."""
    import ray.tune

    sent: list[dict] = []
    monkeypatch.setattr(ray.tune, "report", sent.append)
    monkeypatch.setattr(runner, "_where", lambda: {"node_id": "node-1"})
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored after the test
    return sent


def test_a_tune_trial_reports_each_result_with_where_it_ran(reported):
    runner.trial({"n_estimators": 2}, tiny_split(), TrialSpec(GROWER, {}, metrics=("mse",)))
    assert len(reported) == 1 and reported[0]["node_id"] == "node-1" and "mse" in reported[0]
    assert sys.unraisablehook is runner.quiet_exit_in_callbacks


def test_a_shared_trial_reports_one_result_per_configuration(reported):
    spec = TrialSpec("sklearn.ensemble.RandomForestRegressor", {"random_state": 0, "max_depth": 2})
    configs = [{"n_estimators": 1}, {"n_estimators": 3}]
    runner.shared_trial({SHARED_KEY: configs}, tiny_split(), spec)
    assert [(r[INDEX_KEY], r["timesteps_total"], r["node_id"]) for r in reported] == [
        (0, 1, "node-1"),
        (1, 3, "node-1"),
    ]
    assert sys.unraisablehook is runner.quiet_exit_in_callbacks


def test_a_shared_trial_keeps_its_one_fit_as_the_last_results_checkpoint(monkeypatch):
    import joblib
    import ray.tune

    sent: list[tuple[dict, list[str]]] = []

    def report(metrics, checkpoint=None):  # the checkpoint's folder is gone once report returns
        files = sorted(p.name for p in Path(checkpoint.path).iterdir()) if checkpoint else []
        kept = [joblib.load(Path(checkpoint.path) / f) for f in files]
        sent.append((metrics, [len(m.estimators_) for m in kept]))

    monkeypatch.setattr(ray.tune, "report", report)
    monkeypatch.setattr(runner, "_where", lambda: {})
    spec = TrialSpec("sklearn.ensemble.RandomForestRegressor", {"random_state": 0, "max_depth": 2})
    configs = [{"n_estimators": 1}, {"n_estimators": 3}]
    runner.shared_trial({SHARED_KEY: configs}, tiny_split(), spec, keep_fit=True)
    assert [(m[INDEX_KEY], trees) for m, trees in sent] == [(0, []), (1, [3])]  # the largest fit, once
    sent.clear()
    runner.shared_trial({SHARED_KEY: configs}, tiny_split(), spec, keep_fit=False)
    assert [trees for _, trees in sent] == [[], []]


def test_where_names_the_node_and_the_gpus(monkeypatch):
    import ray

    context = SimpleNamespace(get_node_id=lambda: "abc")
    monkeypatch.setattr(ray, "get_runtime_context", lambda: context)
    monkeypatch.setattr(ray, "get_gpu_ids", lambda: [0, 2])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,2")
    assert runner._where() == {"node_id": "abc", "gpu_ids": "0,2", "cuda_visible_devices": "0,2"}
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert runner._where()["cuda_visible_devices"] == ""


def test_the_trainable_carries_the_split_spec_and_resources(monkeypatch, tmp_path):
    import ray.tune

    calls = []
    monkeypatch.setattr(ray.tune, "with_parameters", lambda fn, **kw: ("params", fn, kw))
    monkeypatch.setattr(ray.tune, "with_resources", lambda fn, res: calls.append((fn, res)) or "trainable")
    exp = experiment(tmp_path, resources={"num_cpus": 2, "num_gpus": 0.5})
    split, spec = tiny_split(), TrialSpec(GROWER, {})
    assert runner.trainable(exp, split, spec) == "trainable"
    (params, fn, kwargs), resources = calls[-1]
    keep = kwargs.pop("keep")
    assert (params, fn, kwargs) == ("params", runner.trial, {"split": split, "spec": spec})
    assert resources == {"cpu": 2.0, "gpu": 0.5} and (keep.metric, keep.mode) == ("mse", "min")
    group = SimpleNamespace(size_param="n_estimators")
    runner.trainable(exp, split, spec, (group,))
    shared = ("params", runner.shared_trial, {"split": split, "spec": spec, "keep_fit": True})  # refit: true
    assert calls[-1] == (shared, {"cpu": 2.0, "gpu": 0.5})


def test_a_run_keeps_its_best_fits_only_where_a_trial_fits_what_a_refit_would(tmp_path):
    spec = TrialSpec(GROWER, {})
    keep = runner.keep_fit(experiment(tmp_path, metric="r2"), spec)
    assert (keep.metric, keep.mode) == ("r2", "max")  # the metric's direction, from the experiment
    again = runner.keep_fit(experiment(tmp_path, metric="mae"), spec)
    assert again.mode == "min" and len({keep.run, again.run}) == 2  # each run its own token
    assert runner.keep_fit(experiment(tmp_path, refit=False), spec) is None
    budget = ("n_estimators", (1, 2))
    for other in (replace(spec, cv=2), replace(spec, repeats=2), replace(spec, budget=budget)):
        assert runner.keep_fit(experiment(tmp_path), other) is None


class Reported(list):
    """The checkpointed models in report order; ``metrics``: what each report said."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: list = []


@pytest.fixture
def kept(monkeypatch) -> list:
    """The model each Tune trial's checkpoint holds (None: no checkpoint), in report order;
    each test starts with no best score in this process."""
    import joblib
    import ray.tune

    models = Reported()

    def report(metrics, checkpoint=None):  # the checkpoint's folder is gone once report returns
        models.append(joblib.load(Path(checkpoint.path) / FIT_FILE) if checkpoint else None)
        models.metrics.append(metrics)

    monkeypatch.setattr(ray.tune, "report", report)
    monkeypatch.setattr(runner, "_where", lambda: {})
    monkeypatch.setattr(runner, "_BEST", {})
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    return models


def scored(config, split, spec, report=None, keep=None) -> dict:
    """`run_trial` of a configuration that names its score: its model is ``model <n>``."""
    if keep is not None:
        keep(f"model {config['n']}")
    result = {"mse": config["mse"]}
    report(result)
    return result


def test_a_tune_trial_keeps_its_fit_only_when_it_beats_its_processes_earlier_trials(kept, monkeypatch):
    monkeypatch.setattr(runner, "run_trial", scored)
    split, spec = tiny_split(), TrialSpec(GROWER, {})
    run, other = runner.KeepFit("run-1", "mse", "min"), runner.KeepFit("run-2", "mse", "min")
    for n, mse in enumerate([3.0, 1.0, 2.0, 0.5, 0.5, float("nan"), 0.25]):
        runner.trial({"n": n, "mse": mse}, split, spec, keep=run)
    runner.trial({"n": 7, "mse": 2.0}, split, spec, keep=other)  # another run: its own best so far
    runner.trial({"n": 8, "mse": 0.1}, split, spec, keep=None)
    runner.trial({"n": 9, "mse": 0.4}, split, spec, keep=run)
    assert kept == ["model 0", "model 1", None, "model 3", None, None, "model 6", "model 7", None, None]
    mses = [3.0, 1.0, 2.0, 0.5, 0.5, float("nan"), 0.25, 2.0, 0.1, 0.4]
    assert [m["mse"] for m in kept.metrics] == pytest.approx(mses, nan_ok=True)  # kept or not, the result
    kept.clear()
    upward = runner.KeepFit("run-3", "mse", "max")  # the experiment's mode, whatever the metric's own
    for n, mse in enumerate([3.0, 1.0, 4.0]):
        runner.trial({"n": n, "mse": mse}, split, spec, keep=upward)
    assert kept == ["model 0", None, "model 2"]


def test_a_tune_trial_checkpoints_the_model_it_fitted_on_the_training_rows(kept, monkeypatch):
    import logging

    from sklearn.ensemble import RandomForestRegressor

    split = tiny_split()
    spec = TrialSpec("sklearn.ensemble.RandomForestRegressor", {"random_state": 0, "max_depth": 2})
    names = ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage")
    for name in names:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    runner.trial({"n_estimators": 3}, split, spec)
    assert kept == [None] and [logging.getLogger(n).level for n in names] == [logging.NOTSET] * 2
    runner.trial({"n_estimators": 3}, split, replace(spec, cv=2), keep=runner.KeepFit("r", "mse", "min"))
    assert kept == [None, None]  # folds: no model is the refit's
    runner.trial({"n_estimators": 3}, split, spec, keep=runner.KeepFit("r", "mse", "min"))
    fresh = RandomForestRegressor(n_estimators=3, max_depth=2, random_state=0).fit(
        split.X_train, split.y_train
    )
    assert kept[-1].predict(split.X_test).tolist() == fresh.predict(split.X_test).tolist()
    assert [logging.getLogger(n).level for n in names] == [logging.WARNING] * 2


class FakeTuner:
    """Records what `run_tune` gives Ray Tune's `Tuner`; `fit` sleeps ``fit_s``."""

    made: ClassVar[list[FakeTuner]] = []
    restorable = False
    fit_s = 0.0

    def __init__(self, trainable, param_space=None, tune_config=None, run_config=None):
        self.trainable, self.param_space = trainable, param_space
        self.tune_config, self.run_config = tune_config, run_config
        self.fitted = 0
        FakeTuner.made.append(self)

    def fit(self):
        self.fitted += 1
        time.sleep(FakeTuner.fit_s)

    @classmethod
    def can_restore(cls, path):
        cls.asked = path
        return cls.restorable

    @classmethod
    def restore(cls, path, **kwargs):
        tuner = cls("restored")
        tuner.restored = (path, kwargs)
        config = SimpleNamespace(callbacks=["pickled"])
        tuner._local_tuner = SimpleNamespace(get_run_config=lambda: config)
        tuner.config = config
        return tuner


TRIALS = [TrialResult("a", {"n_estimators": 1}, {"mse": 1.0}), TrialResult("b", {"n_estimators": 2})]


@pytest.fixture
def fake_tuner(monkeypatch):
    import ray.tune

    FakeTuner.made, FakeTuner.restorable, FakeTuner.fit_s = [], False, 0.0
    monkeypatch.setattr(ray.tune, "Tuner", FakeTuner)
    monkeypatch.setattr(runner, "trainable", lambda *args: ("trainable", *args))
    read: list = []
    monkeypatch.setattr(runner, "read_tune", lambda run_dir: read.append(run_dir) or list(TRIALS))
    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)
    return read


def test_run_tune_hands_tune_the_space_settings_and_run_config(tmp_path, fake_tuner):
    exp = experiment(tmp_path, space={"n_estimators": [1, 2]}, max_failures=3)
    run_dir = tmp_path / "results" / "small" / "run_1"
    split, spec = tiny_split(), TrialSpec(GROWER, {})
    FakeTuner.restorable = True  # not asked: no --resume
    session = RunnerSession(split, spec, run_dir, 3.0, progress_of(2))
    result = runner.run_tune(session, experiment=exp, callbacks=["cb"])
    (tuner,) = FakeTuner.made
    assert tuner.fitted == 1 and tuner.trainable == ("trainable", exp, split, spec, ())
    assert not hasattr(tuner, "restored")
    assert tuner.param_space == {"n_estimators": {"grid_search": [1, 2]}}
    assert tuner.tune_config.metric == "mse" and tuner.tune_config.time_budget_s is None
    config = tuner.run_config
    assert (config.name, config.storage_path, config.verbose, config.stop) == (
        "run_1",
        str(run_dir.parent),
        0,
        None,
    )
    assert config.failure_config.max_failures == 3
    assert len(config.callbacks) == 2 and config.callbacks[1] == "cb"
    config.callbacks[0].on_experiment_end(trials=[])  # the progress line's callback, on the progress
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0" and fake_tuner == [run_dir]
    assert (result.runner, result.trials, result.cores, result.stopped) == ("tune", TRIALS, 3.0, None)
    assert result.wall_s >= 0


def test_run_tune_of_shared_groups_runs_one_trial_per_group(tmp_path, fake_tuner):
    from tuning.trial.shared_fits import Group

    exp = experiment(tmp_path, space={"n_estimators": [1, 2]})
    split, spec = tiny_split(), TrialSpec(GROWER, {})
    groups = (Group("n_estimators", ({"n_estimators": 1}, {"n_estimators": 2}), (0, 1)),)
    runner.run_tune(
        RunnerSession(split, spec, tmp_path / "g", 1.0, progress_of(2)), experiment=exp, groups=groups
    )
    tuner = FakeTuner.made[-1]
    assert tuner.trainable == ("trainable", exp, split, spec, groups)
    assert tuner.param_space == {SHARED_KEY: {"grid_search": [[{"n_estimators": 1}, {"n_estimators": 2}]]}}


def test_run_tune_under_a_stop_rule_gives_tune_its_time_budget_and_hooks(tmp_path, fake_tuner):
    exp = experiment(tmp_path, space={"n_estimators": [1, 2]})
    rule = StopRule("mse", "min", time=0.05, trials=5)
    FakeTuner.fit_s = 0.1
    session = RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path / "r", 1.0, progress_of(2))
    result = runner.run_tune(session, experiment=exp, rule=rule)
    (tuner,) = FakeTuner.made
    assert tuner.tune_config.time_budget_s == 0.05
    assert type(tuner.run_config.stop).__name__ == "RuleStopper" and len(tuner.run_config.callbacks) == 2
    tuner.run_config.callbacks[1].on_trial_error(1, [], SimpleNamespace(last_result=None))
    assert rule.finished == 1  # the feeder feeds this rule
    assert result.stopped == rule.reason and rule.reason.startswith(
        "time budget 0.05s reached after 0 trials"
    )
    FakeTuner.fit_s = 0.0
    quick = StopRule("mse", "min", time=60.0)
    session = RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path / "q", 1.0, progress_of(2))
    result = runner.run_tune(session, experiment=exp, rule=quick)
    assert result.stopped is None and quick.reason is None  # Tune's budget did not end it
    assert FakeTuner.made[-1].run_config.stop.stop_all() is False
    chunks = [{"n_estimators": 1, "repeat_chunk": 0}]
    session = RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path / "c", 1.0, progress_of(1))
    runner.run_tune(session, experiment=exp, configs=chunks)
    assert FakeTuner.made[-1].tune_config.search_alg._points_to_evaluate == chunks


def test_run_tune_restores_an_interrupted_run(tmp_path, fake_tuner):
    exp = experiment(tmp_path, space={"n_estimators": [1, 2]})
    split, spec = tiny_split(), TrialSpec(GROWER, {})
    FakeTuner.restorable = True
    progress = progress_of(2)
    session = RunnerSession(split, spec, tmp_path, 2.0, progress)
    result = runner.run_tune(session, experiment=exp, resume=True, callbacks=["cb"])
    tuner = FakeTuner.made[-1]
    path, kwargs = tuner.restored
    assert path == str(tmp_path.resolve()) == FakeTuner.asked and tuner.fitted == 1
    assert kwargs == {
        "trainable": ("trainable", exp, split, spec, ()),
        "resume_unfinished": True,
        "resume_errored": False,
        "restart_errored": False,
    }
    assert progress.done == 1 and fake_tuner == [tmp_path, tmp_path]  # what finished, read back
    assert len(tuner.config.callbacks) == 2 and tuner.config.callbacks[1] == "cb"
    tuner.config.callbacks[0].on_experiment_end(trials=[])
    assert (result.runner, result.trials, result.cores) == ("tune", TRIALS, 2.0)
    assert 0 <= result.wall_s < 60
    FakeTuner.restorable = False
    fresh = RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path, 2.0, progress_of(2))
    runner.run_tune(fresh, experiment=exp, resume=True)
    assert not hasattr(FakeTuner.made[-1], "restored")  # nothing to restore: a fresh Tuner


@pytest.mark.parametrize("inner", [None, SimpleNamespace()], ids=["no-local-tuner", "no-run-config"])
def test_a_restored_tuner_without_its_run_config_keeps_the_pickled_callbacks(
    tmp_path, fake_tuner, monkeypatch, inner
):
    restore = FakeTuner.restore

    def bare(cls, path, **kwargs):
        tuner = restore(path, **kwargs)
        if inner is None:
            del tuner._local_tuner
        else:
            tuner._local_tuner = inner
        return tuner

    monkeypatch.setattr(FakeTuner, "restore", classmethod(bare))
    FakeTuner.restorable = True
    exp = experiment(tmp_path, space={"n_estimators": [1, 2]})
    session = RunnerSession(tiny_split(), TrialSpec(GROWER, {}), tmp_path, 2.0, progress_of(2))
    runner.run_tune(session, experiment=exp, resume=True)
    assert FakeTuner.made[-1].config.callbacks == ["pickled"] and FakeTuner.made[-1].fitted == 1


def test_a_stopped_run_continues_as_a_new_experiment_of_what_never_finished(tmp_path, monkeypatch):
    calls, read = [], []

    def later(session, *, experiment, configs=None, rule=None):
        calls.append(
            (experiment, session.split, session.spec, session.run_dir, configs, rule, session.progress.done)
        )
        return RunnerResult("tune", [], 1.5, session.cores, stopped="again")

    monkeypatch.setattr(runner, "run_tune", later)
    monkeypatch.setattr(runner, "read_tune", lambda run_dir: read.append(run_dir) or list(TRIALS))
    (tmp_path / "continued_1").mkdir()
    configs = [{"n_estimators": 1}, {"n_estimators": 2}, {"n_estimators": 3}]
    rule = StopRule("mse", "min", trials=1)
    progress = progress_of(3)
    exp, split, spec = experiment(tmp_path), tiny_split(), TrialSpec(GROWER, {})
    session = RunnerSession(split, spec, tmp_path, 2.0, progress)
    result = runner.continue_tune(session, experiment=exp, configs=configs, rule=rule)
    assert calls == [(exp, split, spec, tmp_path / "continued_2", configs[1:], rule, 1)]
    assert (result.trials, result.wall_s, result.stopped, result.cores) == (TRIALS, 1.5, "again", 2.0)
    assert read == [tmp_path, tmp_path]


def test_reading_tune_back_joins_the_continuations_in_order(tmp_path, monkeypatch):
    def experiment_at(run_dir):
        name = Path(run_dir).name
        return {
            "run": [
                TrialResult("a", {"n": 1}, {"mse": 1.0}),
                TrialResult("b", {"n": 2}),
                TrialResult("c", {"n": 3}),
                TrialResult("e", {"n": 5}),  # unfinished, never continued: kept, to be resumed
            ],
            "continued_2": [TrialResult("b2", {"n": 2}, {"mse": 2.0}), TrialResult("a2", {"n": 1})],
            "continued_10": [TrialResult("c10", {"n": 3}, {"mse": 3.0}), TrialResult("d", {"n": 4})],
        }[name]

    monkeypatch.setattr(runner, "_read_experiment", experiment_at)
    run_dir = tmp_path / "run"
    for name in ("continued_10", "continued_2"):
        (run_dir / name).mkdir(parents=True)
    expected = ["a", "e", "b2", "a2", "c10", "d"]  # a finished trial stays; later ones follow
    assert [t.name for t in runner.read_tune(run_dir)] == expected
    assert [t.name for t in runner.read_tune(str(run_dir))] == expected
    monkeypatch.setattr(runner, "_read_experiment", lambda at: [TrialResult(Path(at).name, {"at": str(at)})])
    monkeypatch.chdir(tmp_path)
    Path("s3:/bucket/run/continued_1").mkdir(parents=True)  # what the URI would be as a local path
    assert [t.name for t in runner.read_tune("s3://bucket/run")] == ["run"]  # a URI has no continuations


class FakeTrial:
    def __init__(self, name, config, last_result, status="TERMINATED", failures=0, error=None, path="/x/t"):
        self.name, self.config, self.last_result, self.status = name, config, last_result, status
        self.num_failures, self.error, self.path = failures, error, path

    def __str__(self):
        return self.name

    def get_error(self):
        return self.error


def test_each_tune_trial_is_read_with_its_metrics_error_and_retries(tmp_path, monkeypatch):
    trials = [
        FakeTrial("ok", {"n": 1}, {"mse": 1.0, "fit_time_s": 0.1}, failures=1),
        FakeTrial("early", {"n": 2}, {"trial_id": "x"}),  # no result of ours yet
        FakeTrial("bad", {"n": 3}, None, "ERROR", 3, "Traceback\n  line\nValueError: boom\n"),
        FakeTrial("silent", {"n": 4}, None, "ERROR", 1, None),
    ]
    seen = []
    monkeypatch.setattr(runner, "state_trials", lambda path: seen.append(path) or trials)
    rows = runner._read_experiment(tmp_path / "run")
    assert seen == [str((tmp_path / "run").resolve())]
    assert [(r.name, r.config, r.metrics, r.error, r.retries, r.path) for r in rows] == [
        ("ok", {"n": 1}, {"mse": 1.0, "fit_time_s": 0.1}, None, 1, "/x/t"),
        ("early", {"n": 2}, {}, None, 0, "/x/t"),
        ("bad", {"n": 3}, {}, "ValueError: boom", 2, "/x/t"),
        ("silent", {"n": 4}, {}, "trial failed", 0, "/x/t"),
    ]
    remote = runner._read_experiment("s3://bucket/run")
    assert seen[-1] == "s3://bucket/run" and remote[0].name == "ok"  # a URI as it is (`state_trials`)


def test_a_shared_tune_trial_is_read_as_one_row_per_configuration(tmp_path, monkeypatch):
    import json

    (tmp_path / "result.json").write_text(json.dumps({"mse": 0.5, INDEX_KEY: 0}) + "\n")
    shared = FakeTrial("g", {SHARED_KEY: [{"n": 1}, {"n": 2}]}, None, "ERROR", 2, "E: x", path=str(tmp_path))
    before = FakeTrial("first", {"n": 0}, {"mse": 1.0, "fit_time_s": 0.1})
    after = FakeTrial("last", {"n": 3}, {"mse": 1.0, "fit_time_s": 0.1})

    monkeypatch.setattr(runner, "state_trials", lambda path: [before, shared, after])
    rows = runner._read_experiment(tmp_path)
    assert [(r.name, r.config, r.error, r.retries) for r in rows] == [
        ("first", {"n": 0}, None, 0),
        ("g_000", {"n": 1}, None, 1),
        ("g_001", {"n": 2}, "E: x", 1),
        ("last", {"n": 3}, None, 0),
    ]


CHOSEN = {
    "estimator": {
        "choice": {
            "forest": {"class": "sklearn.ensemble.RandomForestRegressor", "space": {"n_estimators": [1, 3]}},
            "grower": {"class": GROWER, "space": {"n_estimators": [2]}},
        }
    },
    "space": {},
}


def test_a_choices_tune_trial_runs_its_branch_from_tunes_nested_configuration(reported, tmp_path):
    from tuning.estimators.models import CHOICE_KEY
    from tuning.trial.fit import run_trial

    spec = TrialSpec.from_experiment(experiment(tmp_path, **CHOSEN))
    runner.trial({CHOICE_KEY: "grower", "grower": {"n_estimators": 2}}, tiny_split(), spec)
    (result,) = reported
    expected = run_trial({CHOICE_KEY: "grower", "grower/n_estimators": 2}, tiny_split(), spec)
    assert result["model"] == "Grower" and result["mse"] == expected["mse"]
    assert expected["mse"] != run_trial({CHOICE_KEY: "grower"}, tiny_split(), spec)["mse"]


def test_a_shared_trial_of_a_branch_grows_its_size_by_the_branch_key(reported, tmp_path):
    from tuning.estimators.models import CHOICE_KEY

    spec = TrialSpec.from_experiment(experiment(tmp_path, **CHOSEN))
    configs = [{CHOICE_KEY: "forest", "forest/n_estimators": n} for n in (1, 3)]
    runner.shared_trial({SHARED_KEY: configs}, tiny_split(), spec)
    assert [(r[INDEX_KEY], r["timesteps_total"]) for r in reported] == [(0, 1), (1, 3)]
    assert reported[0]["mse"] != reported[1]["mse"]  # one forest grown, scored at each size


def test_tune_gets_a_choices_trials_listed_and_nested_with_the_scheduler(tmp_path):
    from tuning.estimators.models import CHOICE_KEY
    from tuning.runners.listed import ListedSearcher

    exp = experiment(tmp_path, **CHOSEN)
    configs = [{CHOICE_KEY: "forest", "forest/n_estimators": 1}, {CHOICE_KEY: "grower"}]
    space, settings = runner.tune_config(exp, (), configs)
    assert space == {} and settings.num_samples == 2 and type(settings.search_alg) is ListedSearcher
    assert settings.search_alg.configs == [
        {CHOICE_KEY: "forest", "forest": {"n_estimators": 1}},
        {CHOICE_KEY: "grower"},
    ]
    assert settings.scheduler is None and (settings.metric, settings.mode) == ("mse", "min")
    asha = {"scheduler": "asha", "budget": {"max": 4, "step": 2}, "grace_period": 2, "reduction_factor": 2}
    budgeted = {name: {**b, "space": {}} for name, b in CHOSEN["estimator"]["choice"].items()}
    grown = experiment(tmp_path, estimator={"choice": budgeted}, space={}, search=asha)
    _, settings = runner.tune_config(grown, (), configs)
    assert type(settings.scheduler).__name__ == "AsyncHyperBandScheduler"
    assert settings.search_alg.configs[0] == {CHOICE_KEY: "forest", "forest": {"n_estimators": 1}}


def test_a_choices_tune_trial_is_read_back_flat(tmp_path, monkeypatch):
    from tuning.estimators.models import CHOICE_KEY

    nested = FakeTrial("t", {CHOICE_KEY: "forest", "forest": {"n_estimators": 2}}, {"mse": 1.0})

    monkeypatch.setattr(runner, "state_trials", lambda path: [nested])
    (row,) = runner._read_experiment(tmp_path)
    assert row.config == {CHOICE_KEY: "forest", "forest/n_estimators": 2}


def test_a_shared_trial_of_one_configuration_quiets_the_checkpoint_logs_and_names_its_folder(monkeypatch):
    import logging

    import ray.tune

    names = ("ray.train._internal.storage", "ray.train.v2._internal.execution.storage")
    for name in names:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    folders: list[str] = []

    def report(metrics, checkpoint=None):
        folders.append(checkpoint and Path(checkpoint.path).name)

    monkeypatch.setattr(ray.tune, "report", report)
    monkeypatch.setattr(runner, "_where", lambda: {})
    spec = TrialSpec("sklearn.ensemble.RandomForestRegressor", {"random_state": 0, "max_depth": 2})
    runner.shared_trial({SHARED_KEY: [{"n_estimators": 2}]}, tiny_split(), spec, keep_fit=True)
    (folder,) = folders
    assert folder.startswith("fit-")
    assert [logging.getLogger(name).level for name in names] == [logging.WARNING, logging.WARNING]
