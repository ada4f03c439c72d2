"""What every tracker shares: Ray Tune's logger callbacks, guarded, driven by both runners.

Each tracker hands out Ray Tune's own `LoggerCallback` for a runner. The Tune runner passes
it to the Tuner; the sequential runner drives the same callback with `LoggedTrial`, a
stand-in for Tune's ``Trial``, so both runners' trials reach the tracker alike; a shared fit's
Tune trial (one per group) is logged the same way, one trial per configuration it scores
(`shared_callback`). A logging
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

from tuning.runner_names import TUNE
from tuning.trial.records import TrialResult
from tuning.trial.shared_fits import INDEX_KEY, SHARED_KEY


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


def logged_trial(trial: TrialResult, index: int, run_dir: Path, prefix: str = "seq") -> LoggedTrial:
    """The stand-in of the ``index``-th trial a `SequentialLog` logs (an id unique to this run
    directory and ``prefix``: ``seq`` for the sequential runner, ``tune`` for Tune's shared fits)."""
    run_id = re.sub(r"[^A-Za-z0-9_-]", "-", run_dir.name)
    return LoggedTrial(
        f"{prefix}-{run_id}-{index:05d}", trial.name, dict(trial.config), str(trial.path), run_dir.name
    )


def sequential_result(trial: TrialResult) -> dict[str, Any]:
    """A finished sequential trial's metrics as Tune reports them (one step unless budgeted)."""
    return {**trial.metrics, "training_iteration": trial.metrics.get("step", 1)}


class Guarded:
    """Mix in before a Ray logger callback: a failing call is recorded, not raised."""

    tracker = "tracker"
    runner = TUNE
    failure: str | None = None
    spent_s: float = 0.0  # the time its calls took: kept off the runner's trial phase
    trials_logged = 0  # the trials it logged to their end

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
        if self.failure is None:
            self.trials_logged += 1

    def on_experiment_end(self, trials, **info: Any) -> None:
        self._guard("the end", super().on_experiment_end, trials, **info)


@dataclass
class SequentialLog:
    """Feeds one tracker's callback the sequential runner's trials, as Tune feeds its own."""

    callback: Any
    run_dir: Path
    prefix: str = "seq"
    trials: list[LoggedTrial] = field(default_factory=list)
    started: bool = False

    def log(self, index: int, trial: TrialResult) -> None:
        if not self.started:
            self.callback.setup()
            self.started = True
        logged = logged_trial(trial, index, self.run_dir, self.prefix)
        self.trials.append(logged)
        self.callback.log_trial_start(logged)
        if trial.ok:
            self.callback.log_trial_result(1, logged, sequential_result(trial))
        self.callback.log_trial_end(logged, failed=not trial.ok)

    def close(self) -> None:
        """End the logging (once: a second call does nothing)."""
        if self.started:
            self.callback.on_experiment_end(self.trials)
            self.started = False


def shared_callback(logs: list[SequentialLog]):
    """Ray Tune's `Callback` that logs each configuration a shared fit's trial scores as a trial of
    its own, through ``logs`` (one per tracker), as the sequential runner's are: its name is the
    trial's row name (`tuning.runners.tune.shared_rows`), its parameters the configuration's."""
    from ray.tune import Callback  # imports Ray: the Tune runner's trackers only

    class SharedTrials(Callback):
        def __init__(self) -> None:
            self.count = 0
            self.reported: dict[str, set[int]] = {}

        def _log(self, trial, index: int, metrics: dict[str, Any], error: str | None = None) -> None:
            config = dict(trial.config[SHARED_KEY][index])
            row = TrialResult(f"{trial}_{index:03d}", config, metrics, error, path=str(trial.local_path))
            self.reported.setdefault(str(trial), set()).add(index)
            for log in logs:
                log.log(self.count, row)
            self.count += 1

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            if INDEX_KEY in result:
                metrics = {k: v for k, v in result.items() if k != "config"}
                self._log(trial, result[INDEX_KEY], {**metrics, "training_iteration": 1})

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            for index in range(len(trial.config.get(SHARED_KEY, ()))):
                if index not in self.reported.get(str(trial), ()):
                    self._log(trial, index, {}, "the shared fit failed")

        def on_experiment_end(self, trials, **info) -> None:
            for log in logs:
                log.close()

    return SharedTrials()


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
