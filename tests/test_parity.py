"""The runners' comparison: every recorded score, NaN equal to NaN, any number of runners; the best
trial is never a NaN."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.units import ok, result_of
from tuning.reports import summary
from tuning.reports.text import check_parity, compare_runners, parity_line, same_value
from tuning.runners.tracking import Trackers
from tuning.runners.tracking.base import Guarded
from tuning.trial.records import TrialResult

NAN = math.nan


@pytest.mark.parametrize(
    ("theirs", "differ"),
    [
        pytest.param({"mse": 0.5, "mse_std": 0.1}, False, id="same"),
        pytest.param({"mse": 0.5, "mse_std": 0.2}, True, id="a-std"),
        pytest.param({"mse": 0.5, "mse_std": 0.1, "r2": 0.3}, True, id="a-metric-only-one-has"),
        pytest.param({"mse": 0.5, "mse_std": 0.1, "fit_time_s": 9.0}, False, id="a-time-is-not-a-score"),
    ],
)
def test_parity_compares_every_recorded_score(theirs, differ):
    mine = {"mse": 0.5, "mse_std": 0.1, "fit_time_s": 1.0}
    first = result_of("sequential", TrialResult("a", {"n": 1}, mine))
    second = result_of("tune", TrialResult("b", {"n": 1}, theirs))
    assert check_parity(first, second) == (['{"n": 1}'] if differ else [])


def test_parity_compares_per_split_scores_and_counts_nan_as_equal():
    repeats = {"mse": 0.5, "mse_std": NAN, "mse_repeats": [0.4, NAN, 0.6]}
    first = result_of("sequential", TrialResult("a", {"n": 1}, repeats))
    assert check_parity(first, result_of("tune", TrialResult("b", {"n": 1}, dict(repeats)))) == []
    shifted = {**repeats, "mse_repeats": [0.4, NAN, 0.6 + 1e-12]}
    assert check_parity(first, result_of("tune", TrialResult("b", {"n": 1}, shifted))) == ['{"n": 1}']
    assert same_value(NAN, NAN) and not same_value(NAN, 0.5) and not same_value([1.0], [1.0, 2.0])


def test_each_runner_is_compared_with_the_baseline():
    base = result_of("sequential", ok(1, 0.5), ok(2, 0.25))
    results = {
        "sequential": base,
        "tune": result_of("tune", ok(2, 0.25), ok(1, 0.5)),
        "tasks": result_of("tasks", ok(1, 0.5), ok(2, 0.3)),
    }
    assert compare_runners(results) == {"tune": [], "tasks": ['{"n": 2}']}
    assert parity_line([], "sequential and tune", 2).endswith(
        "agree on every recorded score of 2 configurations"
    )
    assert parity_line(['{"n": 2}'], "sequential and tasks", 2).startswith(
        "ERROR: sequential and tasks differ on 1 configurations"
    )


@pytest.mark.parametrize("mode", ["min", "max"])
def test_a_nan_never_wins(mode):
    result = result_of("sequential", ok(1, NAN), ok(2, 0.5), ok(3, 0.25), ok(4, NAN))
    assert result.best("mse", mode).name == ("t3" if mode == "min" else "t2")
    assert result_of("sequential", ok(1, NAN)).best("mse", mode) is None


class SlowLogger(Guarded):
    """A tracker's callback whose every call takes ``pause`` seconds."""

    def __init__(self, runner: str, pause: float):
        self.runner, self.pause = runner, pause

    def log_trial_start(self, trial) -> None:
        self._guard("start", time.sleep, self.pause)


def test_time_spent_logging_is_taken_off_the_trial_phase_and_reported_apart():
    trackers = Trackers([])
    trackers.callbacks = [SlowLogger("sequential", 0.05), SlowLogger("tune", 0.0)]
    for callback in trackers.callbacks:
        callback.log_trial_start(None)
    spent = trackers.spent_s("sequential")
    assert spent >= 0.05 and trackers.spent_s("tune") < 0.05 and trackers.spent_s("tasks") == 0
    result = result_of("sequential", ok(1, 0.5)).without_tracking(spent)
    assert (result.tracking_s, result.wall_s) == (spent, 1.0 - spent)  # result_of: 1 s of wall time
    timings = summary.timings({"sequential": result}, None, None)
    assert timings["sequential_tracking_s"] == spent and timings["sequential_s"] == result.wall_s


SCORES = st.one_of(st.floats(allow_infinity=False), st.just(NAN))


@given(st.lists(SCORES, max_size=8), st.sampled_from(["min", "max"]))
def test_best_is_the_plain_reference_best_and_never_nan(scores, mode):
    result = result_of("sequential", *(ok(n, s) for n, s in enumerate(scores)))
    numbers = [(s, n) for n, s in enumerate(scores) if not math.isnan(s)]
    best = result.best("mse", mode)
    if not numbers:
        assert best is None
        return
    value = min(s for s, _ in numbers) if mode == "min" else max(s for s, _ in numbers)
    first = next(n for s, n in numbers if s == value)  # the first of equal scores, as min/max keep
    assert best.name == f"t{first}"


@given(st.lists(st.tuples(SCORES, SCORES), min_size=1, max_size=6))
def test_parity_matches_a_plain_reference(pairs):
    first = result_of("sequential", *(ok(n, a) for n, (a, _) in enumerate(pairs)))
    second = result_of("tune", *(ok(n, b) for n, (_, b) in enumerate(pairs)))
    expected = [
        f'{{"n": {n}}}' for n, (a, b) in enumerate(pairs) if not (a == b or (math.isnan(a) and math.isnan(b)))
    ]
    assert check_parity(first, second) == expected
