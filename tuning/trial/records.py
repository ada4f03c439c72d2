"""What a runner hands back, whichever way it scheduled the trials."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from tuning.metrics import best_of


@dataclass
class TrialResult:
    """One configuration's outcome: its metrics, or the error that stopped it."""

    name: str
    config: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retries: int = 0
    path: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.metrics)

    @property
    def finished(self) -> bool:
        """Ran to its end, with metrics or an error (False: interrupted, to be resumed)."""
        return self.ok or self.error is not None

    @property
    def duration_s(self) -> float:
        """Wall time of the trial function: build, fit, predict and score (its chunks' times, added)."""
        if "work_s" in self.metrics:
            return self.metrics["work_s"]
        return self.metrics.get("ended_at", 0.0) - self.metrics.get("started_at", 0.0)


@dataclass
class RunnerResult:
    """A runner's trials and the wall time of its trial phase (fixed costs apart)."""

    runner: str
    trials: list[TrialResult]
    wall_s: float
    cores: float
    stopped: str | None = None  # why a `search.stop` rule ended the search (the rest never ran)
    kept: tuple[str, Any] | None = None  # the best trial's name and fitted model (the baseline's, in memory)
    tracking_s: float = 0.0  # the trackers' logging, taken out of ``wall_s`` (`without_tracking`)

    def without_tracking(self, spent_s: float) -> RunnerResult:
        """This result with the ``spent_s`` seconds its trackers took off the trial phase, apart."""
        return replace(self, wall_s=max(self.wall_s - spent_s, 0.0), tracking_s=spent_s)

    @property
    def trial_time_s(self) -> float:
        """Sum of the trials' own wall times."""
        return sum(t.duration_s for t in self.trials if t.ok)

    def best(self, metric: str, mode: str) -> TrialResult | None:
        """The finished trial with the best ``metric`` in direction ``mode``; a NaN score never
        wins (None: no trial has a number)."""
        done = [t for t in self.trials if t.ok and not math.isnan(t.metrics.get(metric, math.nan))]
        if not done:
            return None
        pick = best_of(mode)
        return pick(done, key=lambda t: t.metrics[metric])
