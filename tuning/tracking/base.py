"""What every tracker shares: Ray Tune's logger callbacks, guarded, driven by both runners.

Each tracker hands out Ray Tune's own `LoggerCallback` for a runner. The Tune runner passes
it to the Tuner; the sequential runner drives the same callback with `LoggedTrial`, a
stand-in for Tune's ``Trial``, so both runners' trials reach the tracker alike. A logging
call that fails (a server gone mid-run) is recorded and that callback stops logging; the
trials go on, and the run says which logging failed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuning.runners.common import TrialResult


@dataclass(eq=False)  # hashed by identity, as Tune's trials: the callbacks key their runs by trial
class LoggedTrial:
    """A sequential trial as Tune's logger callbacks read one."""

    trial_id: str
    trial_name: str
    config: dict[str, Any]
    local_path: str
    experiment_dir_name: str
    checkpoint: None = None

    def __str__(self) -> str:
        return self.trial_name


def logged_trial(trial: TrialResult, index: int, run_dir: Path) -> LoggedTrial:
    """The stand-in of the ``index``-th sequential trial (an id unique to this run directory)."""
    run_id = re.sub(r"[^A-Za-z0-9_-]", "-", run_dir.name)
    return LoggedTrial(
        f"seq-{run_id}-{index:05d}", trial.name, dict(trial.config), str(trial.path), run_dir.name
    )


def sequential_result(trial: TrialResult) -> dict[str, Any]:
    """A finished sequential trial's metrics as Tune reports them (one step unless budgeted)."""
    return {**trial.metrics, "training_iteration": trial.metrics.get("step", 1)}


class Guarded:
    """Mix in before a Ray logger callback: a failing call is recorded, not raised."""

    tracker = "tracker"
    runner = "tune"
    failure: str | None = None
    spent_s: float = 0.0  # the time its calls took: kept off the runner's trial phase

    def _guard(self, what: str, call, *args: Any, **kwargs: Any) -> None:
        if self.failure is not None:
            return  # one failure (a server gone) would only repeat: stop logging
        started = time.perf_counter()
        try:
            call(*args, **kwargs)
        except Exception as exc:  # whatever the client raises: the trials must go on
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            self.failure = f"{self.tracker} logging of the {self.runner} trials failed at {what} ({reason})"
        finally:
            self.spent_s += time.perf_counter() - started

    def setup(self, *args: Any, **kwargs: Any) -> None:
        self._guard("setup", super().setup, *args, **kwargs)

    def log_trial_start(self, trial) -> None:
        self._guard(f"trial {trial}", super().log_trial_start, trial)

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        self._guard(f"trial {trial}", super().log_trial_result, iteration, trial, result)

    def log_trial_end(self, trial, failed: bool = False) -> None:
        self._guard(f"trial {trial}", super().log_trial_end, trial, failed)

    def on_experiment_end(self, trials, **info: Any) -> None:
        self._guard("the end", super().on_experiment_end, trials, **info)


@dataclass
class SequentialLog:
    """Feeds one tracker's callback the sequential runner's trials, as Tune feeds its own."""

    callback: Any
    run_dir: Path
    trials: list[LoggedTrial] = field(default_factory=list)
    started: bool = False

    def log(self, index: int, trial: TrialResult) -> None:
        if not self.started:
            self.callback.setup()
            self.started = True
        logged = logged_trial(trial, index, self.run_dir)
        self.trials.append(logged)
        self.callback.log_trial_start(logged)
        if trial.ok:
            self.callback.log_trial_result(1, logged, sequential_result(trial))
        self.callback.log_trial_end(logged, failed=not trial.ok)

    def close(self) -> None:
        if self.started:
            self.callback.on_experiment_end(self.trials)


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Environment variables set for a block (MLflow and W&B read settings from the environment)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
