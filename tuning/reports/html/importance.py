"""What a search over two or more parameters learned: each parameter's importance, and the
trials as points in the space (for the parallel-coordinates plot and the heat map).

Importances are Optuna's (`optuna.importance.get_param_importances`, fANOVA, seeded) on an
in-memory study of the finished trials; Optuna is an optional extra (``tuning[optuna]``):
without it the data says so in ``note``. Plain data, no matplotlib.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from typing import Any

from tuning.runner_names import SHOWN_FIRST
from tuning.summary_types import Summary
from tuning.values import fmt, is_number

NO_OPTUNA = "Parameter importances need Optuna, an optional extra: pip install 'tuning[optuna]'"


def space_data(summary: Summary) -> dict[str, Any] | None:
    """The finished trials of the shown runner (Tune's if it ran) over the parameters that vary.

    ``{params, axes, scores, importances, note}``: ``axes[p]`` is each trial's value as a
    number (a category's index in ``labels[p]``, its values as
    ``tuning.values.fmt`` shows them); None for fewer than two varying parameters.
    """
    trials = summary.get("trials") or {}
    shown = next((trials[name] for name in SHOWN_FIRST if trials.get(name)), [])
    metric = summary["metric"]
    done = [t for t in shown if t.get("status") == "ok" and metric in (t.get("metrics") or {})]
    named = dict.fromkeys(k for t in done for k in t["config"])
    # a parameter of every trial (a choice's branch parameters are not) that varies
    params = [p for p in named if all(p in t["config"] for t in done) and _varies(done, p)]
    if len(params) < 2:
        return None
    axes, labels = {}, {}
    for param in params:
        values = [t["config"].get(param) for t in done]
        if all(is_number(v) for v in values):
            axes[param] = [float(v) for v in values]
        else:
            keys = _categories(values)
            labels[param] = [fmt(_value(values, k)) for k in keys]  # as the tables show them
            axes[param] = [float(keys.index(_key(v))) for v in values]
    scores = [t["metrics"][metric] for t in done]
    importances, note = param_importances(done, params, summary)
    return {
        "params": params,
        "axes": axes,
        "labels": labels,
        "scores": scores,
        "importances": importances,
        "note": note,
    }


def _categories(values: list[Any]) -> list[str]:
    """The distinct values as text, numbers first in numeric order (``4, 8, 12, null``)."""
    distinct = {_key(v): v for v in values}
    return sorted(
        distinct, key=lambda k: (not is_number(distinct[k]), distinct[k] if is_number(distinct[k]) else 0, k)
    )


def _value(values: list[Any], key: str) -> Any:
    return next(v for v in values if _key(v) == key)


def _key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _varies(trials: list[dict[str, Any]], param: str) -> bool:
    return len({_key(t["config"].get(param)) for t in trials}) > 1


def param_importances(
    trials: list[dict[str, Any]], params: list[str], summary: Summary
) -> tuple[dict[str, float] | None, str | None]:
    """Optuna's importance of each parameter, most important first, or None and why not."""
    if importlib.util.find_spec("optuna") is None:
        return None, NO_OPTUNA
    if len(trials) < 3:
        return None, "Parameter importances need at least 3 finished trials"
    import optuna  # optional, and heavy: only for a report of two or more parameters

    optuna.logging.set_verbosity(logging.WARNING)
    distributions = {p: _distribution(optuna, [t["config"].get(p) for t in trials]) for p in params}
    direction = "minimize" if summary["mode"] == "min" else "maximize"
    study = optuna.create_study(direction=direction)
    for t in trials:
        chosen = {p: _param_value(t["config"].get(p), distributions[p]) for p in params}
        study.add_trial(
            optuna.trial.create_trial(
                params=chosen, distributions=distributions, value=t["metrics"][summary["metric"]]
            )
        )
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator, params=params)
    return {p: float(v) for p, v in found.items()}, None


def _distribution(optuna, values: list[Any]):
    """An int or float range for numbers, else the categories (as text: Optuna needs plain choices)."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return optuna.distributions.IntDistribution(min(values), max(values))
    if all(is_number(v) for v in values):
        return optuna.distributions.FloatDistribution(float(min(values)), float(max(values)))
    return optuna.distributions.CategoricalDistribution(_categories(values))


def _param_value(value: Any, distribution) -> Any:
    return _key(value) if type(distribution).__name__ == "CategoricalDistribution" else value


def most_important_line(summary: Summary) -> str | None:
    """``Importance:    max_depth matters most (71% of the variance of mse, Optuna fANOVA)``, or
    why importances are missing, or None (fewer than two parameters vary)."""
    data = space_data(summary)
    if data is None:
        return None
    if not data["importances"]:
        return f"Importance:    {data['note']}"
    name, share = next(iter(data["importances"].items()))
    variance = f"{share:.0%} of the variance of {summary['metric']}"
    return f"Importance:    {name} matters most ({variance}, Optuna fANOVA)"
