"""Shared fits: one fit at the largest size per combination of the other parameters, every
requested size scored from it.

A group is the configurations that differ only in the family's size parameter (e.g. the
tutorial's 20 forests of 8..84 trees: one group). `run_group` fits the group's largest
configuration once (per fold) and scores each size with the model cut to its first ``n``
members (`tuning.estimators.families`), which predicts to the last bit as a separate fit of that size
would: one score per configuration, as if each had run alone.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from joblib import effective_n_jobs

from tuning.estimators.classes import resolve_estimator
from tuning.estimators.families import family_of
from tuning.estimators.models import CHOICE_KEY, SEP, choice_key
from tuning.estimators.space import config_key
from tuning.metrics import scorer
from tuning.trial.data import Split
from tuning.trial.fit import (
    MODEL_KEY,
    Report,
    TrialSpec,
    build_estimator,
    final_estimator,
    model_costs,
    trial_threads,
)
from tuning.trial.validation import aggregate, folds

SHARED_KEY = "shared"  # a group's Tune config: {"shared": [config, ...]}, smallest size first
INDEX_KEY = "shared_index"  # which of the group's configurations a result is
FIT_FILE = "fit.joblib"  # a group's one fit on the training rows, in its trial's checkpoint


@dataclass(frozen=True)
class Group:
    """Configurations that differ only in ``size_param``, smallest first, with their places in the plan."""

    size_param: str
    configs: tuple[dict[str, Any], ...]
    indices: tuple[int, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(c[self.size_param] for c in self.configs)

    @property
    def largest(self) -> dict[str, Any]:
        """The configuration that is fitted."""
        return self.configs[-1]

    def tune_config(self) -> dict[str, Any]:
        return {SHARED_KEY: [dict(c) for c in self.configs]}


def size_param_of(estimator: str) -> str | None:
    """The size parameter of the estimator's family (None: it has none)."""
    family = family_of(resolve_estimator(estimator))
    return family.size_param if family else None


def size_key(spec: TrialSpec, config: dict[str, Any]) -> str:
    """The key of a configuration's size parameter: ``n_estimators``, a pipeline's
    ``model__n_estimators``, a choice's ``forest/n_estimators`` ("" if its model has none)."""
    model, _ = spec.model_for(config)
    size = size_param_of(model.final.path)
    if size is None:
        return ""
    return choice_key(config[CHOICE_KEY], model.key(size)) if spec.choice else model.key(size)


def group_configs(configs: list[dict[str, Any]], size: str | Callable[[dict[str, Any]], str]) -> list[Group]:
    """The groups of ``configs`` (in the order of their first configuration in the plan);
    ``size`` is the size parameter's key, or what gives it for a configuration (`size_key`)."""
    key_of = size if callable(size) else lambda config: size
    members: dict[str, list[int]] = {}
    for index, config in enumerate(configs):
        key = key_of(config)
        others = {k: v for k, v in config.items() if k != key}
        members.setdefault(config_key([key, others]), []).append(index)
    groups = []
    for indices in members.values():
        key = key_of(configs[indices[0]])
        ordered = sorted(indices, key=lambda i: configs[i][key])
        groups.append(Group(key, tuple(configs[i] for i in ordered), tuple(ordered)))
    return groups


def fitted_sizes(groups: list[Group]) -> tuple[int, int]:
    """``(separate, shared)``: the members fitted (trees, stages) without and with sharing."""
    return sum(sum(g.sizes) for g in groups), sum(max(g.sizes) for g in groups)


def score_model(model, X, y, metrics: tuple[str, ...]) -> dict[str, float]:
    """The trial's scoring step (`tuning.trial.fit.run_trial` scores the same way)."""
    return scorer(metrics)(model, X, y)


def cut_model(model, n: int, size_param: str):
    """``model`` (behind its pipeline, if any) cut to its first ``n`` members."""
    estimator = final_estimator(model)
    family = family_of(type(estimator))
    if family is None or family.size_param != size_param.split(SEP)[-1].split("__")[-1]:
        raise ValueError(f"{type(estimator).__name__} cannot be cut to {size_param}={n}")
    cut = family.cut(estimator, n)
    if not hasattr(model, "steps"):
        return cut
    pipeline = copy.copy(model)  # the fitted preprocessing steps, shared
    pipeline.steps = [*model.steps[:-1], (model.steps[-1][0], cut)]
    return pipeline


def fit_largest(group: Group, split: Split, spec: TrialSpec) -> tuple[list[tuple[Any, tuple]], float, int]:
    """The group's largest configuration fitted on each fold: ``[(model, fold)]``, the fit time
    and the threads it fitted with (each model is left to predict with one)."""
    config = dict(group.largest)
    fitted, fit_time, threads = [], 0.0, 1
    for fold in folds(split, spec):
        model = build_estimator(config, split, spec)
        threads = effective_n_jobs(final_estimator(model).get_params(deep=False).get("n_jobs"))
        started = time.perf_counter()
        model.fit(fold[0], fold[1])
        fit_time += time.perf_counter() - started
        if threads != 1:
            final_estimator(model).set_params(n_jobs=1)  # score with one thread, as run_trial does
        fitted.append((model, fold))
    return fitted, fit_time, threads


def scored_sizes(
    group: Group, fitted: list[tuple[Any, tuple]], spec: TrialSpec, threads: int
) -> Iterator[list]:
    """Each size's scores on every fold, smallest size first.

    A family that answers every size's predictions in one pass (`Forest.staged`) is scored
    from them; otherwise each cut model predicts, ``threads`` sizes at a time. Either way each
    prediction has the bits of a one-thread predict of that size (the cut model's ``n_jobs``
    is 1), so nothing depends on how the sizes are scored. Each of the ``threads`` scoring
    threads has one thread in every pool (`trial_threads`): the trial's threads in all.
    """
    staged = [staged_answers(model, f[2], group.sizes) for model, f in fitted]

    def score(size: int) -> list[dict[str, float]]:
        with trial_threads(1):  # a new thread: OpenMP's own default, not the trial's limit
            return score_size(size)

    def score_size(size: int) -> list[dict[str, float]]:
        scores = []
        for (model, f), answers in zip(fitted, staged, strict=True):
            cut = cut_model(model, size, group.size_param)
            if answers is not None:
                cut = answering(cut, f[2], answers[size])
            scores.append(score_model(cut, f[2], f[3], spec.metrics))
        return scores

    if threads <= 1 or all(a is not None for a in staged):
        yield from map(score_size, group.sizes)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="score") as pool:
        yield from pool.map(score, group.sizes)


def staged_answers(model, X, sizes: tuple[int, ...]) -> dict[int, dict[str, Any]] | None:
    """``model``'s answers on ``X`` for every size in one pass (behind its pipeline's fitted
    steps), if its family can give them (`Forest.staged`); else None."""
    estimator = final_estimator(model)
    staged = getattr(family_of(type(estimator)), "staged", None)
    if staged is None:
        return None
    rows = model[:-1].transform(X) if hasattr(model, "steps") else X
    return staged(estimator, rows, sizes)


def answering(model, X, answers: dict[str, Any]) -> Any:
    """``model`` whose methods named in ``answers`` return them (computed ahead) for the rows
    ``X``; any other rows go to the model's own methods. The scorers call these methods."""
    own = {name: getattr(model, name) for name in answers}

    def method_of(name: str) -> Callable[..., Any]:
        def method(rows, **params):
            return answers[name] if rows is X else own[name](rows, **params)

        method.__name__ = name  # scikit-learn's scorers tell the methods apart by name
        return method

    copy_ = copy.copy(model)
    for name in answers:
        setattr(copy_, name, method_of(name))  # instance attributes: found before the class's methods
    return copy_


def run_group(
    group: Group,
    split: Split,
    spec: TrialSpec,
    report: Report | None = None,
    keep: Callable[[Any], None] | None = None,
) -> list[dict]:
    """Fit the group once and score each of its configurations; ``report`` gets each in turn.

    Each result is what `run_trial` returns for that configuration, plus ``shared_index``
    (its place in the group), ``timesteps_total`` (its size: TensorBoard's x axis),
    ``shared_fit_s`` (the one fit's time) and ``fit_time_s``, its share of that fit by size
    (sizes 8, 12, 16: 8/16, 4/16, 4/16). The ``started_at``..``ended_at`` spans follow one
    another: the first holds the fit. ``keep`` gets the one fitted model before any result is
    reported when it was fitted on the training rows (no cv, no repeats): the fit a refit of
    the group's largest configuration repeats (`tuning.reports.best_model.kept_fit`). Every thread pool has
    the trial's CPUs (`trial_threads`), as in `run_trial`.
    """
    with trial_threads(spec.threads):
        return _run_group(group, split, spec, report, keep)


def _run_group(
    group: Group, split: Split, spec: TrialSpec, report: Report | None, keep: Callable | None
) -> list[dict]:
    """`run_group` inside its thread limits."""
    began = time.time()
    fitted, fit_time, threads = fit_largest(group, split, spec)
    if keep is not None and spec.one_fit:
        keep(fitted[0][0])
    results, previous, clock = [], 0, began
    for index, (size, scores) in enumerate(
        zip(group.sizes, scored_sizes(group, fitted, spec, threads), strict=True)
    ):
        costs = model_costs(cut_model(fitted[-1][0], size, group.size_param), fitted[-1][1][2])
        ended = time.time()
        result = {
            **aggregate(scores),
            "fit_time_s": fit_time * (size - previous) / max(group.sizes),
            "shared_fit_s": fit_time,
            **costs,
            "started_at": clock,
            "ended_at": ended,
            "pid": os.getpid(),
            MODEL_KEY: spec.describe(group.largest),
            INDEX_KEY: index,
            "timesteps_total": size,
        }
        previous, clock = size, ended
        results.append(result)
        if report is not None:
            report(result)
    return results
