"""MLflow: one run per trial, nested under one run for the experiment that keeps the best model.

The trials go through Ray Tune's own `MLflowLoggerCallback` (both runners: see
`tuning.runners.tracking.base`); the tag ``mlflow.parentRunId`` nests them under the experiment's
run, which gets the estimator's fixed parameters, the best configuration, its scores, the
refitted model (an MLflow sklearn model, ``mlflow.sklearn.load_model("runs:/<id>/best_model")``)
and, once written, summary.json and report.html as artifacts.

MLflow's own "View run ... at" lines (one per run ended) are silenced
(``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT`` around each call): they would interleave with the
progress lines. The experiment's run is named once, at the end, by `MlflowTracker.close`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import joblib
from ray.air.integrations.mlflow import MLflowLoggerCallback

from tuning.config import Experiment
from tuning.errors import ExperimentError
from tuning.run_files import REPORT_FILE, SUMMARY_FILE
from tuning.runners.tracking.base import Guarded, environment
from tuning.summary_types import Summary

KEY = "tracking.mlflow"
CHECK_TIMEOUT_S = 5  # how long the tracking server may take to answer before the run stops
FILE_STORE_FLAG = "MLFLOW_ALLOW_FILE_STORE"  # MLflow 3 opens a file: store only with it set to true
QUIET = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}  # no "View run ... at" line per run ended
ARTIFACTS = (SUMMARY_FILE, REPORT_FILE)  # the run's files the experiment's run keeps
STATUS = {"complete": "FINISHED", "interrupted": "KILLED"}  # the run's status as MLflow's (else FAILED)


class GuardedMLflowCallback(Guarded, MLflowLoggerCallback):
    tracker = "MLflow"

    def _guard(self, what: str, call, *args: Any, **kwargs: Any) -> None:
        with environment(**QUIET):
            super()._guard(what, call, *args, **kwargs)


class MlflowTracker:
    """The experiment's MLflow run and the callbacks that nest the trials' runs under it."""

    name = "MLflow"

    def __init__(self, experiment: Experiment):
        import mlflow  # optional: tuning[mlflow]

        config = experiment.tracking.mlflow
        self.uri = config.tracking_uri or mlflow.get_tracking_uri()
        self.experiment_name = config.experiment_name or experiment.name
        self.metric = experiment.metric
        self.parent: str | None = None
        self.callers_uri: str | None = None
        self.experiment_id = self._check()

    def _check(self) -> str:
        """Reach the tracking store now, with no retries: bad input stops the run before any trial."""
        from mlflow import MlflowClient  # optional: tuning[mlflow]

        try:
            with environment(
                MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=str(CHECK_TIMEOUT_S)
            ):
                client = MlflowClient(tracking_uri=self.uri)
                found = client.get_experiment_by_name(self.experiment_name)
                return found.experiment_id if found else client.create_experiment(self.experiment_name)
        except Exception as exc:  # MlflowException, connection errors, an unknown scheme
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            if FILE_STORE_FLAG in str(exc) and os.environ.get(FILE_STORE_FLAG, "").lower() != "true":
                raise ExperimentError(file_store_line(self.uri), key=f"{KEY}.tracking_uri") from None
            raise ExperimentError(
                f"must be an MLflow tracking URI that answers; {self.uri!r} does not ({reason[:300]})",
                key=f"{KEY}.tracking_uri",
            ) from None

    def start(self, run_dir: Path) -> None:
        import mlflow  # optional: tuning[mlflow]
        from mlflow import MlflowClient  # optional: tuning[mlflow]

        self.callers_uri = mlflow.get_tracking_uri()  # Ray's callbacks set theirs: `finish` restores it

        run = MlflowClient(tracking_uri=self.uri).create_run(
            self.experiment_id, run_name=run_dir.name, tags={"tuning.run_dir": str(run_dir)}
        )
        self.parent = run.info.run_id

    def callback(self, runner: str) -> GuardedMLflowCallback:
        tags = {"mlflow.parentRunId": self.parent, "runner": runner} if self.parent else {"runner": runner}
        callback = GuardedMLflowCallback(
            tracking_uri=self.uri, experiment_name=self.experiment_name, tags=tags
        )
        callback.runner = runner
        return callback

    def finish(self, summary: Summary, run_dir: Path, example: Any) -> None:
        """Log the fixed parameters, the best configuration, its scores and model in the
        experiment's run (`close` ends it, once summary.json is written)."""
        import mlflow  # optional: tuning[mlflow]

        if self.parent is None:
            return
        try:
            with environment(**QUIET):
                self._finish(summary, example)
        finally:
            mlflow.set_tracking_uri(self.callers_uri)

    def close(self, summary: Summary, run_dir: Path) -> str | None:
        """Keep summary.json and report.html in the experiment's run and end it; the line that
        names the run (a tracking server's page of it, else its id)."""
        from mlflow import MlflowClient  # optional: tuning[mlflow]

        if self.parent is None:
            return None
        client = MlflowClient(tracking_uri=self.uri)
        with environment(**QUIET):
            try:
                for name in ARTIFACTS:
                    if (run_dir / name).is_file():
                        client.log_artifact(self.parent, str(run_dir / name))
            finally:
                status = {"complete": "FINISHED", "interrupted": "KILLED"}.get(
                    summary.get("status"), "FAILED"
                )
                client.set_terminated(self.parent, status)
        where = f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.parent}"
        return f"MLflow run:    {where if self.uri.startswith(('http://', 'https://')) else self.parent}"

    def _finish(self, summary: Summary, example: Any) -> None:
        import mlflow  # optional: tuning[mlflow]

        client = mlflow.MlflowClient(tracking_uri=self.uri)
        best, model = summary.get("best") or {}, summary.get("best_model") or {}
        config = best.get("config") or {}
        fixed = (summary.get("estimator") or {}).get("fixed_params") or {}
        for key, value in {**fixed, **config}.items():  # a searched value over a fixed one
            client.log_param(self.parent, key, value)
        if self.metric in best:
            client.log_metric(self.parent, f"best_{self.metric}", best[self.metric])
        for key, value in (model.get("test_metrics") or {}).items():
            client.log_metric(self.parent, f"test_{key}", value)
        if model.get("path"):
            self._log_model(model["path"], example)

    def _log_model(self, path: str, example: Any) -> None:
        """Log the refitted model in the experiment's run (`finish` restores the caller's tracking URI)."""
        import mlflow  # optional: tuning[mlflow]
        import mlflow.sklearn

        mlflow.set_tracking_uri(self.uri)
        quiet = logging.getLogger("mlflow")
        level, quiet.level = quiet.level, logging.ERROR  # its notes on environments are not the user's
        fitted = joblib.load(path)
        try:
            with mlflow.start_run(run_id=self.parent):
                mlflow.sklearn.log_model(
                    fitted, name="best_model", input_example=example, skops_trusted_types=_types(fitted)
                )
        finally:
            quiet.setLevel(level)


def file_store_line(uri: str) -> str:
    """The one line that says how to open a ``file:`` store (MLflow's own message is a paragraph)."""
    return (
        f"must be an MLflow tracking URI that answers; {uri!r} is a file store, which MLflow 3 opens "
        f"only with {FILE_STORE_FLAG}=true set (or use sqlite:///mlflow.db or a tracking server)"
    )


def _types(model: Any) -> list[str]:
    """The classes in ``model`` that skops (MLflow's safe format) asks to trust: this run fitted it."""
    import skops.io  # optional: tuning[mlflow]

    return skops.io.get_untrusted_types(data=skops.io.dumps(model))
