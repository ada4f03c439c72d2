"""Trackers (MLflow, W&B) and Optuna's study storage, logged by both runners and read back."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import experiment_dict
from tests.test_cli import assert_rejected, write
from tuning import ExperimentError, run_experiment
from tuning.config import validate
from tuning.runners.tracking import Trackers
from tuning.runners.tracking.base import Guarded, SequentialLog
from tuning.trial.records import TrialResult


def tiny(tmp_path: Path, **changes) -> dict:
    small = {
        "estimator": {"class": "sklearn.ensemble.RandomForestRegressor", "params": {"max_depth": 2}},
        "space": {"n_estimators": [2, 4]},
    }
    return experiment_dict(tmp_path, **{**small, **changes})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_one_run_per_trial(uri: str, summary: dict, name: str = "small") -> None:
    """Each runner's trials are MLflow runs under the experiment's run, with params and metrics."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "FINISHED"
    best = str(summary["best"]["config"]["n_estimators"])
    fixed = {key: str(value) for key, value in summary["estimator"]["fixed_params"].items()}
    assert parent.data.params == {"n_estimators": best, **fixed} and fixed["max_depth"] == "2"
    assert parent.data.metrics["best_mse"] == summary["best"]["mse"]
    kept = {a.path: a.file_size for a in client.list_artifacts(parent.info.run_id)}
    run_dir = Path(summary["run_dir"])
    assert {name: kept.get(name) for name in ("summary.json", "report.html")} == {
        name: (run_dir / name).stat().st_size for name in ("summary.json", "report.html")
    }
    for runner, rows in summary["trials"].items():
        logged = [r for r in runs if r.data.tags.get("runner") == runner]
        assert len(logged) == len(rows) == 2
        by_name = {r.data.tags["trial_name"]: r for r in logged}
        for row in rows:
            run = by_name[row["name"]]
            assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
            assert run.data.params == {"n_estimators": str(row["config"]["n_estimators"])}
            for metric in ("mse", "rmse", "mae", "r2", "fit_time_s"):
                assert run.data.metrics[metric] == row["metrics"][metric]
    model = next(m for m in client.search_logged_models([experiment.experiment_id]) if m.name == "best_model")
    assert model.source_run_id == parent.info.run_id


@pytest.mark.slow
def test_mlflow_file_store_one_run_per_trial_both_runners(tmp_path, ray_session, monkeypatch):
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps file stores behind a flag
    uri = f"file:{tmp_path / 'mlruns'}"
    callers = "http://127.0.0.1:1"
    mlflow.set_tracking_uri(callers)  # the caller's own, which the run must leave as it was
    try:
        result = run_experiment(tiny(tmp_path, runner="both"), tracking={"mlflow": {"tracking_uri": uri}})
        assert mlflow.get_tracking_uri() == callers
    finally:
        mlflow.set_tracking_uri(None)
    logged = {"MLflow": {"tune": 2, "sequential": 2}}
    assert result.summary["tracking"] == {"trackers": ["MLflow"], "failed": [], "logged": logged}
    assert_one_run_per_trial(uri, result.summary)


@pytest.mark.slow
def test_shared_fits_reach_mlflow_and_tensorboard_one_trial_per_configuration(
    tmp_path, ray_session, monkeypatch
):
    """One shared fit of both sizes per runner: one MLflow run and one HParams entry per configuration."""
    from tests.test_api import event_tags

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{tmp_path / 'mlruns'}"
    experiment = tiny(tmp_path, runner="both", search={"share_fits": True})
    result = run_experiment(experiment, tracking={"mlflow": {"tracking_uri": uri}})
    assert all(
        len({row["path"] for row in rows}) == 1 for rows in result.summary["trials"].values()
    )  # one fit
    logged = {"MLflow": {"tune": 2, "sequential": 2}}
    assert result.summary["tracking"] == {"trackers": ["MLflow"], "failed": [], "logged": logged}
    assert_one_run_per_trial(uri, result.summary)
    for rows in result.summary["trials"].values():
        for position, row in enumerate(sorted(rows, key=lambda r: r["config"]["n_estimators"])):
            assert "hparams" in event_tags(Path(row["path"]) / f"config_{position:03d}")["plugins"]


def test_a_file_store_without_the_flag_names_it_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = f"file:{tmp_path / 'mlruns'}"
    with pytest.raises(ExperimentError) as error:
        run_experiment(tiny(tmp_path), tracking={"mlflow": {"tracking_uri": uri}})
    message = str(error.value)
    assert "\n" not in message and message.endswith("(or use sqlite:///mlflow.db or a tracking server)")
    assert f"{uri!r} is a file store, which MLflow 3 opens only with MLFLOW_ALLOW_FILE_STORE=true" in message
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_mlflow_server_one_run_per_trial(tmp_path, ray_session, capsys):
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
         "--default-artifact-root", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "mlflow server did not start"
                time.sleep(1)
        capsys.readouterr()
        result = run_experiment(tiny(tmp_path, runner="both"), tracking={"mlflow": {"tracking_uri": uri}})
        printed = capsys.readouterr().out
        assert result.summary["tracking"]["failed"] == []
        assert_one_run_per_trial(uri, result.summary)
        assert (
            "View run" not in printed and "View experiment" not in printed
        )  # MLflow's, between progress lines
        (line,) = [line for line in printed.splitlines() if line.startswith("MLflow run:")]
        assert re.fullmatch(rf"MLflow run:    {uri}/#/experiments/\d+/runs/[0-9a-f]{{32}}", line), line
    finally:  # the server's process group: mlflow, uvicorn and its worker
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


@pytest.mark.slow
def test_wandb_offline_writes_one_run_per_trial(tmp_path):
    raw = tiny(tmp_path, runner="both", tracking={"wandb": {"project": "tiny", "mode": "offline"}})
    env = {"WANDB_DIR": str(tmp_path / "wandb_dir")}
    (tmp_path / "wandb_dir").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tuning.run", str(write(tmp_path, raw)), "--num-cpus", "2"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted((tmp_path / "wandb_dir" / "wandb").glob("offline-run-*"))
    assert len(runs) == 4  # 2 configurations x 2 runners
    assert all(list(run.glob("run-*.wandb")) for run in runs)
    assert "WARNING" not in result.stdout + result.stderr and "wandb:" not in result.stdout + result.stderr


@pytest.mark.slow
def test_optuna_study_is_kept_in_its_storage(tmp_path, ray_session):
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    search = {"algorithm": "optuna", "num_samples": 2, "storage": url}
    raw = tiny(tmp_path, space={"n_estimators": [2, 3, 4, 5, 6, 7]}, search=search)
    result = run_experiment(raw)
    study = optuna.load_study(study_name="small", storage=url)
    assert len(study.trials) == 2 and study.best_value == result.best_score
    assert study.user_attrs["metric"] == "mse" and study.user_attrs["direction"] == "minimize"
    assert study.user_attrs["run_dir"] == str(result.run_dir.resolve())
    runs = [result.run_dir] + [run_experiment(raw).run_dir for _ in range(2)]  # the same study, twice more
    study = optuna.load_study(study_name="small", storage=url)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(t.params["n_estimators"] for t in done) == [2, 3, 4, 5, 6, 7]  # no configuration twice
    assert study.user_attrs["run_dirs"] == [str(r.resolve()) for r in runs]


BAD_TRACKING = [
    pytest.param(
        {"tracking": {"mlflow": {"tracking_uri": "htp://nowhere"}}},
        "tracking.mlflow.tracking_uri must be an MLflow tracking URI that answers; 'htp://nowhere' does not",
        id="mlflow-bad-scheme",
    ),
    pytest.param(
        {"tracking": {"mlflow": {"tracking_uri": "http://127.0.0.1:9"}}},
        "tracking.mlflow.tracking_uri must be an MLflow tracking URI that answers",
        id="mlflow-unreachable",
    ),
    pytest.param(
        {"tracking": {"wandb": {"project": "p", "mode": "online"}}},
        "tracking.wandb needs a W&B API key for mode online",
        id="wandb-online-without-key",
    ),
    pytest.param(
        {"tracking": {"mlflow": {"tracking_url": "x"}}},
        "tracking.mlflow.tracking_url is not a known key (did you mean 'tracking_uri'?)",
        id="mlflow-typo",
    ),
    pytest.param(
        {"search": {"storage": "sqlite:///x.db"}},
        "search.storage is an Optuna storage: it needs search.algorithm optuna; got 'grid'",
        id="storage-without-optuna",
    ),
    pytest.param(
        {"search": {"algorithm": "optuna", "num_samples": 2, "storage": "nosuchdb://x"}},
        "search.storage must be an Optuna storage URL that opens",
        id="storage-bad-url",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD_TRACKING)
def test_bad_tracking_stops_before_ray(tmp_path, change, message):
    env = {**os.environ, "WANDB_API_KEY": "", "NETRC": str(tmp_path / "no_netrc")}
    path = write(tmp_path, tiny(tmp_path, **change))
    result = subprocess.run(
        [sys.executable, "-m", "tuning.run", str(path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert_rejected(result, message, tmp_path)


def test_a_missing_tracker_package_is_named(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    raw = {"name": "x", "space": {"n_estimators": [2]}, "tracking": {"wandb": {}}}
    with pytest.raises(ExperimentError, match=r"tracking\.wandb needs wandb, an optional extra: pip install"):
        validate(raw)


class _Dropping:
    """A logger callback whose server goes away after the first trial."""

    def __init__(self):
        self.logged: list[str] = []

    def setup(self):
        pass

    def log_trial_start(self, trial):
        if self.logged:
            raise ConnectionError("Connection refused\nmore lines")
        self.logged.append(str(trial))

    def log_trial_result(self, iteration, trial, result):
        pass

    def log_trial_end(self, trial, failed=False):
        pass

    def on_experiment_end(self, trials, **info):
        pass


class _GuardedDropping(Guarded, _Dropping):
    tracker = "MLflow"
    runner = "sequential"


def test_a_tracker_that_drops_mid_run_is_reported_and_the_trials_go_on(tmp_path):
    callback = _GuardedDropping()
    log = SequentialLog(callback, tmp_path)
    trials = [TrialResult(f"sequential_{i:05d}", {"n_estimators": i}, {"mse": 1.0}) for i in range(3)]
    for index, trial in enumerate(trials):
        log.log(index, trial)  # raises nothing
    assert callback.logged == ["sequential_00000"]

    class Tracker:
        name = "MLflow"

        def finish(self, summary, run_dir, example):
            pass

    trackers = Trackers([Tracker()])
    trackers.callbacks, trackers.sequential = [callback], [log]
    echoed: list[str] = []
    record = trackers.finish({}, None, echoed.append)
    expected = "MLflow logging of the sequential trials failed at trial sequential_00001 (Connection refused)"
    assert record == {"trackers": ["MLflow"], "failed": [expected], "logged": {"MLflow": {"sequential": 1}}}
    assert echoed == [f"WARNING: {expected}"]
