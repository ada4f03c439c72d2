"""Trackers: the trials logged to MLflow or Weights & Biases as well, by both runners alike.

`open_trackers` reaches every configured tracker before any trial runs (bad input: one
line, exit 2); `Trackers` hands the Tune runner its callbacks, logs the sequential and tasks runners'
trials through the same callbacks (shared fits: one trial per configuration from both
runners), and at the end logs the best model and says which logging failed, if any, and how
many trials each tracker logged per runner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuning.config import Experiment
from tuning.runner_names import SEQUENTIAL, TASKS, TUNE
from tuning.runners.tracking.base import SequentialLog, shared_callback
from tuning.summary_types import Summary, Tracking
from tuning.trial.records import TrialResult


class Trackers:
    """The configured trackers of one run (none: every method does nothing)."""

    def __init__(self, trackers: list[Any]):
        self.trackers = trackers
        self.callbacks: list[Any] = []
        self.sequential: list[SequentialLog] = []
        self.tasks: list[SequentialLog] = []  # the tasks runner's trials, fed alike by this process
        self.shared: list[SequentialLog] = []  # Tune's shared fits, one trial per configuration
        self.run_dir: Path | None = None

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def start(self, run_dir: Path) -> None:
        """Open the experiment's own record (MLflow's parent run, W&B's group)."""
        self.run_dir = run_dir
        for tracker in self.trackers:
            tracker.start(run_dir)

    def tune_callbacks(self, shared: bool = False) -> list[Any]:
        """Ray Tune's logger callbacks for the Tune runner; ``shared`` (a trial per group of shared
        fits): one callback that logs each configuration of a group as its own trial."""
        made = [tracker.callback(TUNE) for tracker in self.trackers]
        self.callbacks += made
        if not shared:
            return made
        logs = [SequentialLog(callback, self.run_dir, prefix=TUNE) for callback in made]
        self.shared += logs
        return [shared_callback(logs)]

    def spent_s(self, runner: str) -> float:
        """The time the trackers' calls for ``runner``'s trials took, in this process."""
        return sum(getattr(c, "spent_s", 0.0) for c in self.callbacks if getattr(c, "runner", None) == runner)

    def log_sequential(self, index: int, trial: TrialResult, runner: str = SEQUENTIAL) -> None:
        """Log one finished trial of the sequential (or tasks) runner through each tracker's callback."""
        logs = self.tasks if runner == TASKS else self.sequential
        if not logs:
            for tracker in self.trackers:
                callback = tracker.callback(runner)
                self.callbacks.append(callback)
                logs.append(SequentialLog(callback, self.run_dir))
        for log in logs:
            log.log(index, trial)

    def finish(self, summary: Summary, example: Any, echo: Callable[[str], None]) -> Tracking:
        """Close the trials' logs, log the best model; the record of what was logged and what failed."""
        # Tune's are closed at its end, unless interrupted
        for log in [*self.sequential, *self.tasks, *self.shared]:
            log.close()
        failed = [c.failure for c in self.callbacks if c.failure] + unlogged(self.callbacks, summary)
        logged: dict[str, dict[str, int]] = {t.name: {} for t in self.trackers}
        for callback in self.callbacks:
            logged.setdefault(callback.tracker, {})[callback.runner] = callback.trials_logged
        for tracker in self.trackers:
            try:
                tracker.finish(summary, self.run_dir, example)
            except Exception as exc:  # the run's results stand whatever a tracker says
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                failed.append(f"{tracker.name} logging of the best model failed ({reason})")
        for line in failed:
            echo(f"WARNING: {line}")
        return {"trackers": [t.name for t in self.trackers], "failed": failed, "logged": logged}

    def close(self, summary: Summary, echo: Callable[[str], None]) -> None:
        """After summary.json and report.html are written: each tracker keeps them and ends its
        run (MLflow's experiment run); the line naming the run, or what failed."""
        for tracker in self.trackers:
            try:
                line = tracker.close(summary, self.run_dir)
            except Exception as exc:  # the run's results stand whatever a tracker says
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                line = f"WARNING: {tracker.name} did not keep summary.json and report.html ({reason})"
            if line:
                echo(line)


def unlogged(callbacks: list[Any], summary: Summary) -> list[str]:
    """A line for each callback that logged fewer trials than its runner has rows, and no failure
    says why (e.g. an interrupted run's unfinished trials)."""
    lines = []
    for callback in callbacks:
        rows = len((summary.get("trials") or {}).get(callback.runner) or [])
        if callback.failure is None and callback.trials_logged < rows:
            lines.append(
                f"{callback.tracker} logged {callback.trials_logged} of the {rows} {callback.runner} trials"
            )
    return lines


def open_trackers(experiment: Experiment) -> Trackers:
    """The experiment's trackers, each reached now (`ExperimentError` if one cannot be)."""
    config = experiment.tracking
    trackers: list[Any] = []
    if config.mlflow is not None:
        from tuning.runners.tracking.mlflow import MlflowTracker  # optional: imports MLflow and Ray

        trackers.append(MlflowTracker(experiment))
    if config.wandb is not None:
        from tuning.runners.tracking.wandb import WandbTracker  # optional: imports W&B and Ray

        trackers.append(WandbTracker(experiment))
    return Trackers(trackers)
