"""The two ways to run the same trials: Ray Tune in parallel, or one after another."""

from tuning.runners.common import RunnerResult, TrialResult

__all__ = ["RunnerResult", "TrialResult"]
