"""Which configuration becomes the saved model, and which are as good as the best within noise.

Selection runs after the runners, on their finished trials, so every runner selects alike.

- **Ties.** With ``split.cv`` or ``split.repeats`` every configuration is scored on the same
  splits. A configuration is *tied* with the best when Nadeau and Bengio's corrected
  resampled t-test (2003) on the per-split differences does not tell them apart: one-sided,
  level `ALPHA`, the variance of the mean difference corrected for the overlapping training
  sets, ``var(d) * (1/J + n_test/n_train)`` over ``J`` splits (as scikit-learn's example
  "Statistical comparison of models using grid search"). The best's interval is the 95%
  t-interval of its mean with the same corrected variance.
- **Rules** (``select.rule``): ``best``, the best mean; ``one_se``, the simplest
  configuration whose mean is within one standard error of the best's (caret's ``oneSE``,
  glmnet's ``lambda.1se``: the standard error is ``sd / sqrt(J)``, uncorrected, as theirs);
  ``tolerance``, the simplest within ``tolerance * |best|`` of the best (caret's ``tolerance``).
  ``select.simplest`` orders the configurations from the simplest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy import stats

from tuning.metrics import sort_sign
from tuning.runner_names import SEQUENTIAL, TUNE
from tuning.summary_types import BestRecord, Selection, Summary
from tuning.trial.records import RunnerResult, TrialResult
from tuning.values import is_number, params_text, score_text

if TYPE_CHECKING:
    from tuning.config import Experiment
    from tuning.trial.fit import TrialSpec

ALPHA = 0.05  # the level of the one-sided test: p >= ALPHA is a tie
TEST_NAME = "Nadeau-Bengio corrected resampled t-test, one-sided, level 0.05"


class Rule(NamedTuple):
    """What `tuning.config.schema.SelectConfig` says: the rule, its tolerance, the simplicity order."""

    rule: str = "best"
    tolerance: float | None = None
    simplest: dict[str, str] | None = None


def corrected_ttest(differences: Sequence[float], test_train_ratio: float) -> tuple[float, float]:
    """``(t, p)`` of Nadeau and Bengio's corrected resampled t-test on per-split differences.

    ``differences`` are ``other - best`` oriented so that positive means worse; ``p`` is the
    right tail of Student's t with ``J - 1`` degrees of freedom. Identical scores: ``(0, 1)``.
    """
    d = np.asarray(differences, dtype=float)
    mean = float(d.mean())
    corrected = float(d.var(ddof=1)) * (1 / len(d) + test_train_ratio)
    if corrected == 0:
        return (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0 if mean > 0 else 1.0)
    t = mean / math.sqrt(corrected)
    return t, float(stats.t.sf(t, len(d) - 1))


def corrected_interval(scores: Sequence[float], test_train_ratio: float) -> tuple[float, float]:
    """The 95% interval of the mean of ``scores`` with the corrected variance (see `corrected_ttest`)."""
    s = np.asarray(scores, dtype=float)
    half = float(stats.t.ppf(0.975, len(s) - 1)) * math.sqrt(
        float(s.var(ddof=1)) * (1 / len(s) + test_train_ratio)
    )
    return float(s.mean()) - half, float(s.mean()) + half


def standard_error(scores: Sequence[float]) -> float:
    """``sd / sqrt(J)`` of the per-split scores (caret's, glmnet's)."""
    s = np.asarray(scores, dtype=float)
    return float(s.std(ddof=1) / math.sqrt(len(s)))


def overlap_ratio(cv: int | None, test_size: float) -> float:
    """``n_test / n_train`` of one split: ``1 / (k - 1)`` for k folds, else the shuffle split's."""
    return 1 / (cv - 1) if cv else test_size / (1 - test_size)


def simplicity_key(config: dict[str, Any], simplest: dict[str, str]) -> tuple:
    """Sorts configurations simplest first: each listed parameter's smallest (or largest) value
    first, in the order listed; a configuration without the parameter (another branch) after."""
    key = []
    for param, direction in simplest.items():
        value = config.get(param)
        if not is_number(value):
            key.append((1, 0.0, repr(value)))
            continue
        key.append((0, value if direction == "smallest" else -value, ""))
    return tuple(key)


def per_split(trial: TrialResult, metric: str) -> list[float] | None:
    """A trial's per-split scores (cv or repeats), None on one hold-out split."""
    return trial.metrics.get(f"{metric}_repeats")


def ties(
    trials: list[TrialResult], best: TrialResult, metric: str, mode: str, ratio: float
) -> dict[str, float] | None:
    """Each configuration's p-value against the best (the best's own: 1.0); None without per-split scores."""
    reference = per_split(best, metric)
    if not reference or len(reference) < 2:
        return None
    sign = sort_sign(mode)
    p_values = {}
    for trial in trials:
        scores = per_split(trial, metric)
        if trial is best or scores is None or len(scores) != len(reference):
            continue
        differences = sign * (np.asarray(scores) - np.asarray(reference))
        p_values[trial.name] = corrected_ttest(differences, ratio)[1]
    return {best.name: 1.0, **p_values}


def within(
    trials: list[TrialResult], best: TrialResult, rule: Rule, metric: str, mode: str
) -> tuple[list, float]:
    """The trials the rule may pick (within its distance of the best) and that distance."""
    best_score = best.metrics[metric]
    if rule.rule == "one_se":
        distance = standard_error(per_split(best, metric))
    elif rule.rule == "tolerance":
        distance = rule.tolerance * abs(best_score)
    else:
        return [best], 0.0
    sign = sort_sign(mode)
    close = [t for t in trials if sign * (t.metrics[metric] - best_score) <= distance]
    return close, distance


def choose(trials: list[TrialResult], rule: Rule, metric: str, mode: str, ratio: float) -> Selection | None:
    """The selection record of a run's trials: the rule, the best by score, the selected one,
    the tie set (with per-split scores), the best's interval and the smallest tied model."""
    done = [t for t in trials if t.ok and metric in t.metrics]
    if not done:
        return None
    sign = sort_sign(mode)
    best = min(done, key=lambda t: sign * t.metrics[metric])  # the first of equals, as RunnerResult.best
    close, distance = within(done, best, rule, metric, mode)
    simplest = rule.simplest or {}
    chosen = min(close, key=lambda t: (simplicity_key(t.config, simplest), sign * t.metrics[metric]))
    if rule.rule == "best":
        chosen = best
    p_values = ties(done, best, metric, mode, ratio)
    tied = [t for t in done if p_values and p_values.get(t.name, 0.0) >= ALPHA]
    scores = per_split(best, metric)
    return {
        "rule": rule.rule,
        "tolerance": rule.tolerance,
        "simplest": rule.simplest,
        "distance": distance if rule.rule != "best" else None,
        "best": _entry(best, metric),
        "selected": _entry(chosen, metric),
        "test": TEST_NAME if p_values else None,
        "test_train_ratio": ratio if p_values else None,
        "interval": list(corrected_interval(scores, ratio)) if p_values else None,
        "p_values": p_values,
        "tied": [t.name for t in tied] if p_values else None,
        "smallest_tied": _smallest(tied, metric),
    }


def _entry(trial: TrialResult, metric: str) -> BestRecord:
    return {"trial": trial.name, "config": trial.config, metric: trial.metrics[metric]}


def _smallest(tied: list[TrialResult], metric: str) -> BestRecord | None:
    """The tied trial whose fitted model is smallest in bytes (None: no ties or no sizes)."""
    sized = [t for t in tied if "model_bytes" in t.metrics]
    if not sized:
        return None
    smallest = min(sized, key=lambda t: t.metrics["model_bytes"])
    return {**_entry(smallest, metric), "model_bytes": smallest.metrics["model_bytes"]}


def selection_record(
    experiment: Experiment, spec: TrialSpec, results: dict[str, RunnerResult]
) -> Selection | None:
    """The run's selection (`choose`) from Tune's trials if it ran, else the baseline's; with
    both, ``agree`` says whether the baseline's own trials select the same configuration."""
    if experiment.evaluation:
        return None
    select = experiment.select
    rule = Rule(select.rule, select.tolerance, select.simplest)
    ratio = overlap_ratio(spec.cv, spec.test_size)
    chosen = {
        name: choose(result.trials, rule, experiment.metric, experiment.mode, ratio)
        for name, result in results.items()
    }
    record = chosen.get(TUNE) or chosen.get(SEQUENTIAL)
    if record is not None:
        record["rows"] = selection_rows(spec)
        record["test_rows_seen"] = spec.selects_on_test
    if record is not None and len(chosen) == 2:
        configs = [(c or {}).get("selected", {}).get("config") for c in chosen.values()]
        record["agree"] = configs[0] == configs[1]
    return record


def selection_rows(spec: TrialSpec) -> str:
    """The rows the trials were scored on, as the reports say it."""
    if spec.repeats:
        return f"the mean over the same {spec.repeats * (spec.cv or 1)} random splits of all the rows"
    if spec.cv:
        return f"{spec.cv}-fold CV on the training rows (the test rows stay untouched)"
    if spec.validation_size:
        return (
            f"validation rows, {spec.validation_size:g} of the training rows (the test rows stay untouched)"
        )
    return (
        "the held-out rows: their scores are validation scores, and no untouched test score is left "
        "(split.validation_size keeps one)"
    )


def size_text(size: int) -> str:
    """``3.1 MB``, ``220 kB``, ``512 B``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} B"


def selection_lines(summary: Summary) -> list[tuple[str, str]]:
    """What the reports say about the selection: ``(label, text)`` pairs, terminal and HTML alike."""
    record, metric = summary.get("selection"), summary["metric"]
    if not record:
        return []
    lines = [("Selected on", record["rows"])]
    if record.get("tied"):
        low, high = record["interval"]
        lines.append(
            (
                "Ties",
                f"{len(record['tied'])} of {len(record['p_values'])} configurations within noise of the "
                f"best, itself included ({record['test']}); the best's {metric} "
                f"{score_text(record['best'][metric])}, 95% interval {score_text(low)} to {score_text(high)}",
            )
        )
    if smallest := record.get("smallest_tied"):
        lines.append(
            (
                "Smallest tied",
                f"{params_text(smallest['config'])}  ({size_text(smallest['model_bytes'])}, "
                f"{metric} {score_text(smallest[metric])})",
            )
        )
    if record["rule"] != "best":
        lines.append(
            ("Selected", f"{params_text(record['selected']['config'])}  ({rule_text(record, metric)})")
        )
    return lines


def rule_text(record: Selection, metric: str) -> str:
    """``one_se: the simplest within one standard error (0.0136) of the best mse; simplest: ...``."""
    within_ = "one standard error" if record["rule"] == "one_se" else f"tolerance {record['tolerance']:g}"
    order = ", ".join(f"{param} {way}" for param, way in (record["simplest"] or {}).items())
    return (
        f"{metric} {score_text(record['selected'][metric])}; {record['rule']}: the simplest within {within_} "
        f"({record['distance']:.4g}) of the best {metric}, simplest first: {order}"
    )
