"""One result per configuration, whatever the chunking of its repeats into trials.

`tuning.planning.plan.group_repeats` may split a configuration's repeats over several trials; the
runners run and save those trials as they are, and `merge_chunks` joins them back: every
split's score in split order, then the mean and std (`tuning.trial.validation.combine`), so both
runners and every chunking give the same numbers.
"""

from __future__ import annotations

from dataclasses import replace

from tuning.estimators.space import config_key
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.validation import REPEAT_CHUNK, combine


def merge_chunks(result: RunnerResult, per_configuration: int) -> RunnerResult:
    """``result`` with one trial per configuration (unchanged if its trials are not chunks)."""
    if not any(REPEAT_CHUNK in t.config for t in result.trials):
        return result
    groups: dict[str, list[TrialResult]] = {}
    for trial in result.trials:
        groups.setdefault(config_key(_base(trial.config)), []).append(trial)
    merged = [
        _merge(sorted(parts, key=lambda t: t.config[REPEAT_CHUNK]), per_configuration)
        for parts in groups.values()
    ]
    return replace(result, trials=merged)


def _base(config: dict) -> dict:
    return {k: v for k, v in config.items() if k != REPEAT_CHUNK}


def _merge(parts: list[TrialResult], expected: int) -> TrialResult:
    """One configuration's chunks as one trial: errored if one did, unfinished if one is missing."""
    first = parts[0]
    merged = TrialResult(
        first.name, _base(first.config), retries=sum(t.retries for t in parts), path=first.path
    )
    errors = [t.error for t in parts if t.error is not None]
    if errors:
        merged.error = errors[0]
    elif len(parts) == expected and all(t.ok for t in parts):
        merged.metrics = {
            **first.metrics,  # where it ran (node, pid), Tune's bookkeeping
            **combine([t.metrics for t in parts]),
            "fit_time_s": sum(t.metrics["fit_time_s"] for t in parts),
            "started_at": min(t.metrics["started_at"] for t in parts),
            "ended_at": max(t.metrics["ended_at"] for t in parts),
            "work_s": sum(t.duration_s for t in parts),  # the chunks' own times, added
            "chunks": len(parts),
        }
    return merged
