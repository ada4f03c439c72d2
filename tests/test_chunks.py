"""Chunks of repeats give one configuration's scores whatever the chunking: repeats with and
without cv, any chunk size, the chunks finishing in any order (real fits of `tests.units.Grower`,
the runners' own `merge_chunks`), checked against scikit-learn's own splitters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import RepeatedKFold, ShuffleSplit, cross_validate

from tests.units import GROWER, Grower, progress_of, result_of, tiny_split
from tuning.runners.chunks import merge_chunks
from tuning.runners.sequential import run_sequential
from tuning.runners.session import RunnerSession
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.records import TrialResult
from tuning.trial.validation import REPEAT_CHUNK, chunks

SPLIT = tiny_split(rows=60)


def sklearn_scores(repeats: int, cv: int | None, seed: int, test_size: float = 0.25) -> list[float]:
    """Each split's MSE of ``Grower(n_estimators=2)`` by scikit-learn alone, in split order."""
    X, y = np.concatenate([SPLIT.X_train, SPLIT.X_test]), np.concatenate([SPLIT.y_train, SPLIT.y_test])
    splits = (
        RepeatedKFold(n_splits=cv, n_repeats=repeats, random_state=seed)
        if cv
        else ShuffleSplit(n_splits=repeats, test_size=test_size, random_state=seed)
    )
    out = cross_validate(Grower(n_estimators=2), X, y, cv=splits, scoring="neg_mean_squared_error")
    return [-s for s in out["test_score"]]


def chunked_trials(spec: TrialSpec, order: list[int]) -> list[TrialResult]:
    """Each chunk of configuration ``n_estimators: 2`` run as its own trial, in ``order``."""
    config = {"n_estimators": 2}
    return [
        TrialResult(f"c{i}", {**config, REPEAT_CHUNK: i}, run_trial({**config, REPEAT_CHUNK: i}, SPLIT, spec))
        for i in order
    ]


@pytest.mark.parametrize("cv", [None, 3], ids=["shuffle", "cv3"])
def test_repeats_in_chunks_score_as_scikit_learn_and_as_one_unchunked_trial(tmp_path, cv):
    """5 repeats (with 3 folds each: 15 splits) in chunks of 2 through the sequential runner: the
    merged row is the unchunked trial's and scikit-learn's ``cross_validate`` on the same splitter."""
    spec = TrialSpec(GROWER, {}, repeats=5, cv=cv, seed=7, test_size=0.25)
    whole = run_trial({"n_estimators": 2}, SPLIT, spec)
    chunked = replace(spec, chunk=2)
    configs = [{"n_estimators": 2, REPEAT_CHUNK: i} for i in range(chunks(chunked))]
    assert len(configs) == 3
    result = run_sequential(RunnerSession(SPLIT, chunked, tmp_path, 1, progress_of(3)), configs)
    (merged,) = merge_chunks(result, chunks(chunked)).trials
    expected = sklearn_scores(5, cv, 7)
    assert len(expected) == 5 * (cv or 1)
    assert merged.metrics["mse_repeats"] == pytest.approx(expected, rel=1e-12)
    assert merged.metrics["mse_repeats"] == whole["mse_repeats"]
    assert (merged.metrics["mse"], merged.metrics["mse_std"]) == (whole["mse"], whole["mse_std"])
    assert merged.metrics["chunks"] == 3 and merged.config == {"n_estimators": 2}


@settings(max_examples=25)
@given(
    repeats=st.integers(1, 5),
    cv=st.sampled_from([None, 2, 3]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_merged_chunks_equal_one_unchunked_trial_for_any_chunking_and_order(repeats, cv, seed, data):
    spec = TrialSpec(GROWER, {}, repeats=repeats, cv=cv, seed=seed, test_size=0.25)
    whole = run_trial({"n_estimators": 2}, SPLIT, spec)
    chunked = replace(spec, chunk=data.draw(st.integers(1, repeats), label="chunk"))
    order = data.draw(st.permutations(range(chunks(chunked))), label="order")
    (merged,) = merge_chunks(result_of("tune", *chunked_trials(chunked, order)), chunks(chunked)).trials
    assert merged.metrics["mse_repeats"] == whole["mse_repeats"]
    assert (merged.metrics["mse"], merged.metrics["mse_std"]) == (whole["mse"], whole["mse_std"])
    assert merged.metrics["chunks"] == len(order) and REPEAT_CHUNK not in merged.config
