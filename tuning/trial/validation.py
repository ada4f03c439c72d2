"""How a configuration is validated: which rows each fit sees, and the mean over the splits.

- the hold-out split (default): fit on the training rows, score on the test rows (then a
  *validation* score: selection sees those rows);
- ``split.validation_size: f``: fit on the training rows less ``f`` of them, score on that
  ``f`` (``train_test_split``, seeded): the test rows stay untouched until the saved model;
- ``split.cv: k``: scikit-learn's ``KFold(k, shuffle=True)`` over the training rows;
  a classifier's splitters are the stratified ones (``StratifiedKFold``...) unless
  ``split.stratify: false``;
- ``split.repeats: N``: repeated validation (Monte Carlo cross-validation) over ALL the rows:
  ``ShuffleSplit(N, test_size=split.test_size)``, or ``RepeatedKFold(k, N)`` with ``cv: k``.

Every splitter is scikit-learn's own, seeded with the split seed (the experiment's ``seed``
unless ``split.seed`` is set), so a configuration's splits are the same in every trial,
runner and run. The repeats of one configuration may run as chunks, one Tune trial each
(``REPEAT_CHUNK`` in the trial's configuration); `combine` puts the chunks' per-split
scores back in split order, so the mean and std do not depend on the chunking.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    train_test_split,
)

if TYPE_CHECKING:
    from tuning.trial.data import Split


class TrialSpec(Protocol):
    """What the splits depend on (`tuning.trial.fit.TrialSpec` has it)."""

    cv: int | None
    repeats: int | None
    test_size: float
    seed: int
    chunk: int | None
    validation_size: float | None
    splits: tuple[tuple[Any, Any], ...] | None


REPEAT_CHUNK = "repeat_chunk"  # a trial's key: which chunk of a configuration's repeats it runs
TRIAL_SECONDS = 0.5  # a chunk of repeats should take at least this long (Tune adds ~50 ms a trial)
Fold = tuple[Any, Any, Any, Any]  # X_fit, y_fit, X_score, y_score


def splitter(spec: TrialSpec, stratified: bool = False):
    """The experiment's scikit-learn splitter (None: the one hold-out split); ``stratified``
    (a classifier's split): each fold keeps each class's share of the rows."""
    if spec.repeats and spec.cv:
        kind = RepeatedStratifiedKFold if stratified else RepeatedKFold
        return kind(n_splits=spec.cv, n_repeats=spec.repeats, random_state=spec.seed)
    if spec.repeats:
        kind = StratifiedShuffleSplit if stratified else ShuffleSplit
        return kind(n_splits=spec.repeats, test_size=spec.test_size, random_state=spec.seed)
    if spec.cv:
        kind = StratifiedKFold if stratified else KFold
        return kind(n_splits=spec.cv, shuffle=True, random_state=spec.seed)
    return None


def rows(split: Split, spec: TrialSpec) -> tuple[Any, np.ndarray]:
    """The rows the splitter divides: all of them for repeats (train then test), else the training rows."""
    if not spec.repeats:
        return split.X_train, split.y_train
    if isinstance(split.X_train, pd.DataFrame):
        X = pd.concat([split.X_train, split.X_test], ignore_index=True)
    else:
        X = np.concatenate([split.X_train, split.X_test])
    return X, np.concatenate([split.y_train, split.y_test])


def splits_per_repeat(spec: TrialSpec) -> int:
    return (spec.cv or 1) if spec.repeats else 1


def chunk_splits(spec: TrialSpec, chunk: int | None) -> tuple[int, int]:
    """``[start, stop)`` of the splits a chunk of repeats runs (all of them without chunks)."""
    if not spec.repeats:
        return 0, spec.cv or 1  # k folds, or the one hold-out split
    per = splits_per_repeat(spec)
    if chunk is None or not spec.chunk:
        return 0, spec.repeats * per
    first = chunk * spec.chunk
    return first * per, min(first + spec.chunk, spec.repeats) * per


def chunks(spec: TrialSpec) -> int:
    """How many trials each configuration's repeats take."""
    return math.ceil(spec.repeats / spec.chunk) if spec.repeats and spec.chunk else 1


def folds(split: Split, spec: TrialSpec, chunk: int | None = None) -> Iterator[Fold]:
    """``(X_fit, y_fit, X_score, y_score)`` of each split the trial scores, in split order.

    A generator: one split's rows at a time (1000 copies of the rows would not fit).
    """
    if spec.splits is not None:  # the caller's folds over the training rows (`tuning.searchcv`)
        X, y = split.X_train, split.y_train
        for fit, held in spec.splits:
            yield _take(X, fit), y[fit], _take(X, held), y[held]
        return
    cv = splitter(spec, split.stratified)
    if cv is None and spec.validation_size:
        yield validation_rows(split, spec)
        return
    if cv is None:
        yield split.X_train, split.y_train, split.X_test, split.y_test
        return
    X, y = rows(split, spec)
    start, stop = chunk_splits(spec, chunk)
    for fit, held in islice(cv.split(X, y), start, stop):
        yield _take(X, fit), y[fit], _take(X, held), y[held]


def validation_rows(split: Split, spec: TrialSpec) -> Fold:
    """The training rows less ``spec.validation_size`` of them, and those: the selection's rows."""
    stratify = split.y_train if split.stratified else None
    X_fit, X_val, y_fit, y_val = train_test_split(
        split.X_train,
        split.y_train,
        test_size=spec.validation_size,
        random_state=spec.seed,
        stratify=stratify,
    )
    return X_fit, y_fit, X_val, y_val


def _take(X, index: np.ndarray):
    return X.iloc[index] if hasattr(X, "iloc") else X[index]


def aggregate(scores: list[dict[str, float]], keep: bool = False) -> dict[str, Any]:
    """One split: its metrics. Several: each metric's mean and std (``mse_std``) over them, and
    every split's score in split order (``mse_repeats``: what `tuning.reports.selection` compares).

    ``keep``: every split's score even for one split (a chunk of one repeat). The mean
    is numpy's over the scores in split order, as ``cross_validate(...)["test_score"].mean()``.
    """
    if len(scores) == 1 and not keep:
        return scores[0]
    out: dict[str, Any] = {}
    for key in scores[0]:
        values = np.array([s[key] for s in scores])
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std())
        out[f"{key}_repeats"] = values.tolist()
    return out


def combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The chunks' results (in chunk order) as one configuration's: every split's score, then the mean."""
    names = [key.removesuffix("_repeats") for key in parts[0] if key.endswith("_repeats")]
    per_split = [
        {name: value for name, value in zip(names, values, strict=True)}
        for part in parts
        for values in zip(*(part[f"{name}_repeats"] for name in names), strict=True)
    ]
    return aggregate(per_split, keep=True)


def chunk_size(one_repeat_s: float, repeats: int, target_s: float = TRIAL_SECONDS) -> int:
    """Repeats per trial so that a trial takes at least ``target_s``, evened out over the chunks.

    e.g. 8 ms a repeat, 1000 repeats: 63 would do; 16 chunks of 63 are evened to 16 of 63
    (the last 55); 2 s a repeat: one repeat per trial.
    """
    wanted = max(1, min(repeats, math.ceil(target_s / max(one_repeat_s, 1e-6))))
    count = math.ceil(repeats / wanted)
    return math.ceil(repeats / count)
