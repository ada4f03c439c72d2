"""What the runners are handed: a run's `Session`, and `RunnerSession`, one runner's part of it.

`tuning.runners.dispatch` builds a `Session` per run and, for each runner it starts, a
`RunnerSession`: the rows, the trial, the run directory, the cores the runner keeps busy and
its progress line. Every runner's entry point takes one (`tuning.runners.sequential`,
`tuning.runners.tasks`, `tuning.runners.tune`), with what only that runner needs as keywords;
`tuning.searchcv` and the benchmarks build one without a plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tuning.runners.progress import Progress
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec
from tuning.trial.records import TrialResult

if TYPE_CHECKING:
    from tuning.planning.plan import Plan
    from tuning.runners.tracking import Trackers


@dataclass(frozen=True)
class RunnerSession:
    """What every runner needs to run its trials: the rows (``split``), the trial (``spec``),
    the folder it writes (``run_dir``), the cores it keeps busy (its result's ``cores``) and its
    progress line."""

    split: Split
    spec: TrialSpec
    run_dir: Path
    cores: float
    progress: Progress


@dataclass(frozen=True)
class Session:
    """What every runner of one run shares: the plan, the rows, where and how it reports."""

    plan: Plan
    split: Split
    run_dir: Path
    echo: Callable[[str], None]
    resume: bool = False
    verbose: bool = False  # a line per trial on a terminal too
    trackers: Trackers | None = None  # log both runners' trials (Tune's through its callbacks)
    storage: list[str] = field(default_factory=list)  # why the storage stopped the run, if it did

    def progress(self, runner: str, parallelism: int = 1) -> Progress:
        experiment = self.plan.experiment
        planned = list(self.plan.configs) or None  # an adaptive search proposes as it goes
        return Progress(
            runner,
            self.plan.total,
            experiment.metric,
            experiment.mode,
            self.echo,
            parallelism,
            planned,
            verbose=self.verbose,
            show_best=self.plan.spec.chunk is None,  # a chunk's score is not its configuration's
        )

    def runner(self, name: str, cores: float, parallelism: int = 1) -> RunnerSession:
        """The runner ``name``'s part of the run: its cores and a progress line of its own."""
        return RunnerSession(
            self.split, self.plan.spec, self.run_dir, cores, self.progress(name, parallelism)
        )

    def on_trial(self) -> Callable[[int, TrialResult], None] | None:
        """What the sequential runner calls after each trial: the trackers' log, if any."""
        return self.trackers.log_sequential if self.trackers else None
