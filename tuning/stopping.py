"""Stopping rules of a search (``search.stop``): the one place both runners ask "stop, and why?".

`StopRule` is fed each finished trial's score and the elapsed time; it answers with the
reason to stop (``time budget 20m reached after 143 trials``) or None. The sequential runner
asks it between trials; Ray Tune through `tuning.runners.tune.stop_hooks` (a `Stopper` whose
``stop_all`` asks it) and, for time, its own ``TuneConfig(time_budget_s=...)``. No Ray here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from time import monotonic
from typing import Any

from tuning.metrics import better
from tuning.summary_types import Stopped

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_HINT = "a duration like 90s, 20m, 1h, or seconds as a number"


def parse_duration(value: Any) -> float:
    """Seconds of ``20m``, ``1h``, ``90s``, ``1.5h`` or a number of seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"must be {DURATION_HINT}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value)) if isinstance(value, str) else None
        if match is None:
            raise ValueError(f"must be {DURATION_HINT}")
        seconds = float(match[1]) * _UNIT_S[match[2] or "s"]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("must be greater than 0 (a duration like 90s, 20m, 1h)")
    return seconds


def duration_text(seconds: float) -> str:
    """``20m``, ``1h``, ``90s``, ``1.5h``: the shortest unit that reads as a whole or a half."""
    for unit in ("d", "h", "m"):
        count = seconds / _UNIT_S[unit]
        if count >= 1 and (count * 2).is_integer():
            return f"{count:g}{unit}"
    return f"{seconds:g}s"


def _trials(n: int) -> str:
    return f"{n} trial{'s' if n != 1 else ''}"


@dataclass
class StopRule:
    """``search.stop`` at run time: fed finished trials, it says when and why to stop.

    ``time`` seconds from `start`; ``trials`` finished trials; ``plateau``: that many finished
    trials in a row without a better score; ``target``: a score at least as good (``mode``).
    A failed trial counts as finished. The first rule reached wins and is kept.
    """

    metric: str
    mode: str
    time: float | None = None
    trials: int | None = None
    plateau: int | None = None
    target: float | None = None
    finished: int = 0
    best: float | None = None
    since_best: int = 0
    reason: str | None = None
    started: float = field(default_factory=monotonic)

    @classmethod
    def from_experiment(cls, experiment: Any) -> StopRule | None:
        """The rule of an experiment's ``search.stop`` (None: no rule set), its clock started now."""
        stop = experiment.search.stop
        if not stop.active:
            return None
        return cls(experiment.metric, experiment.mode, stop.time, stop.trials, stop.plateau, stop.target)

    def better(self, score: float, than: float | None) -> bool:
        return than is None or better(score, than, self.mode)

    def add(self, score: float | None) -> str | None:
        """Count one finished trial (``score`` None: it failed; NaN is no score either); the
        reason to stop, or None."""
        self.finished += 1
        if score is not None and not math.isnan(score) and self.better(score, self.best):
            self.best, self.since_best = score, 0
        else:
            self.since_best += 1
        return self.check()

    def check(self) -> str | None:
        """The reason to stop now (kept once given), or None."""
        if self.reason is None:
            self.reason = self._reached()
        return self.reason

    def _reached(self) -> str | None:
        done = _trials(self.finished)
        if self.target is not None and self.best is not None and not self.better(self.target, self.best):
            return f"target {self.target:g} reached after {done} (best {self.best:.4g})"
        if self.trials is not None and self.finished >= self.trials:
            return f"trial cap {self.trials} reached"
        if self.plateau is not None and self.best is not None and self.since_best >= self.plateau:
            return f"no improvement in {_trials(self.plateau)} (plateau) after {done}"
        if self.time is not None and monotonic() - self.started >= self.time:
            return f"time budget {duration_text(self.time)} reached after {done}"
        return None

    def timed_out(self) -> str:
        """The reason when Tune's own ``time_budget_s`` ended the run."""
        done = _trials(self.finished)
        self.reason = self.reason or f"time budget {duration_text(self.time or 0)} reached after {done}"
        return self.reason


def stopped_text(stopped: Stopped) -> str:
    """``time budget 20m reached after 143 trials; 57 configurations never ran`` (a summary's ``stopped``)."""
    count = stopped.get("unrun_count", len(stopped.get("unrun") or []))
    return f"{stopped['reason']}; {count} configuration{'s' if count != 1 else ''} never ran"
