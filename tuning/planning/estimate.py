"""Whether a time budget (``search.stop.time``) can finish a plan: the dry run's rough estimate.

Two configurations of the run are timed at the smallest size (each twice, the warm time
kept) on the built-in data set, read with scikit-learn (no Ray); every trial's time is their
mean scaled by its size parameter. Rough: the other parameters change the time too.
Files are read by Ray Data, and an adaptive search has no configurations yet: those are
not estimated.
"""

from __future__ import annotations

from typing import Any

from sklearn.datasets import fetch_california_housing
from sklearn.model_selection import train_test_split

from tuning.planning.plan import Plan
from tuning.stopping import duration_text
from tuning.trial.data import Split
from tuning.trial.fit import run_trial
from tuning.values import is_number


def budget_line(plan: Plan) -> str | None:
    """``Time budget: ...``: whether the budget finishes the trials, or why it cannot say; None: no budget."""
    experiment = plan.experiment
    budget = experiment.search.stop.time
    if budget is None:
        return None
    head = f"Time budget: {duration_text(budget)}; "
    if plan.adaptive or not plan.configs:
        return head + f"cannot estimate: {experiment.search.algorithm} proposes its trials as it runs"
    if not experiment.data.builtin:
        return head + "cannot estimate: the data is read by Ray Data, which a dry run does not start"
    fits = [g.largest for g in plan.groups] or list(plan.configs)  # a shared fit costs its largest
    size = experiment.search.size_param
    sized = all(is_number(c.get(size)) and c.get(size) > 0 for c in fits)
    smallest = min(c[size] for c in fits) if sized else None
    timed = [fits[0], fits[len(fits) // 2]][: min(len(fits), 2)]  # two configurations of the run
    if sized:
        timed = [{**c, size: smallest} for c in timed]  # at the smallest size: cheap
    seconds = sum(_timed_fit(plan, c) for c in timed) / len(timed)
    times = [seconds * (c[size] / smallest if sized else 1.0) for c in fits]
    slots = plan.slots if plan.runs_tune or plan.runs_tasks else 1
    need = sum(times) / slots
    how = f"{len(timed)} timed fits{f' at {size}={smallest}' if sized else ''}: {seconds:.2f} s each"
    how += f", scaled by {size}" if sized else ""
    verdict = (
        f"likely to finish all {len(fits)}"
        if need <= budget
        else f"likely stops after about {_reached(times, slots, budget)} of {len(fits)}"
    )
    took = duration_text(max(round(need), 1))
    pace = f"{slots} trial{'s' if slots != 1 else ''} at a time"
    return f"{head}{len(fits)} fits take about {took} at {pace} (rough: {how}): {verdict}"


def _reached(times: list[float], slots: int, budget: float) -> int:
    """How many fits, in run order, end within the budget at ``slots`` at a time."""
    spent, count = 0.0, 0
    for t in times:
        spent += t / slots
        if spent > budget:
            break
        count += 1
    return count


def _timed_fit(plan: Plan, config: dict[str, Any]) -> float:
    """Seconds of one trial of ``config`` on the built-in data (the faster of a cold and a warm run)."""
    experiment = plan.experiment
    X, y = fetch_california_housing(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=experiment.split.test_size, random_state=experiment.split.seed, shuffle=True
    )
    names = tuple(f"x{i}" for i in range(X.shape[1]))
    split = Split(X_train, X_test, y_train, y_test, names, experiment.data.target_column, (), False)
    times = []
    for _ in range(2):
        timed = run_trial(config, split, plan.spec)
        times.append(timed["ended_at"] - timed["started_at"])
    return min(times)
