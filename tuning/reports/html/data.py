"""What the report's plots show, as plain data read from ``summary.json`` (no matplotlib)."""

from __future__ import annotations

from typing import Any

from tuning.estimators.classes import size_params_first
from tuning.estimators.models import CHOICE_KEY
from tuning.metrics import sort_sign
from tuning.reports.html.bins import param_lines
from tuning.reports.html.importance import space_data
from tuning.reports.html.timeline import timeline_data
from tuning.runner_names import IN_ORDER, LABELS, TUNE
from tuning.summary_types import Summary
from tuning.values import is_number, params_text

RUNNER_LABELS = LABELS  # the report's words for each runner (`tuning.runner_names`)


def runners(summary: Summary) -> list[str]:
    """Runners present in the summary, the baseline first (it is the reference)."""
    trials = summary.get("trials") or {}
    known = IN_ORDER
    return [name for name in known if trials.get(name)] + [
        name for name in trials if name not in known and trials[name]
    ]


def searched_params(summary: Summary) -> list[str]:
    """The parameters that appear in the trials' configurations, in first-seen order (a
    choice's `estimator` first)."""
    seen: dict[str, None] = {}
    for name in runners(summary):
        for trial in summary["trials"][name]:
            seen.update(dict.fromkeys(trial.get("config") or {}))
    return sorted(seen, key=lambda p: p != CHOICE_KEY)


def models_shown(summary: Summary) -> bool:
    """Whether the tables name each trial's model: a pipeline's steps, or a choice's classes."""
    estimator = summary.get("estimator") or {}
    return bool(estimator.get("steps") or estimator.get("choice"))


def report_data(summary: Summary) -> dict[str, Any]:
    """What the plots show, as plain data (embedded in the page; the tests read it).

    A parameter's points are the trials that have it (a choice's branch parameters: that branch's).
    """
    metric = summary["metric"]
    data: dict[str, Any] = {"metric": metric, "mode": summary["mode"], "params": {}, "timeline": {}}
    for param in searched_params(summary):
        data["params"][param] = {
            name: [
                [t["config"][param], t["metrics"][metric]]
                for t in summary["trials"][name]
                if t.get("status") == "ok" and metric in (t.get("metrics") or {}) and param in t["config"]
            ]
            for name in runners(summary)
        }
    data["spread"] = spread(summary)
    data["repeats"] = repeats(summary)
    data["timeline"], data["phases"] = timeline_data(summary, runners(summary))
    data["lines"] = param_lines(data["params"])
    data["timings"] = summary.get("timings") or {}
    data["space"] = space_data(summary)  # two or more parameters: importances, parallel coordinates
    data["costs"] = costs(summary)
    return data


COSTS = ("model_bytes", "predict_s_per_1k")  # what a model costs (`tuning.trial.fit.model_costs`)


def costs(summary: Summary) -> list[dict[str, Any]]:
    """Each configuration's score and costs (Tune's trials, else the baseline's), whether it is
    tied with the best or selected, and on which cost's Pareto front it lies; empty without costs."""
    names = runners(summary)
    if not names:
        return []
    shown = TUNE if TUNE in names else names[0]
    record = summary.get("selection") or {}
    tied, selected = set(record.get("tied") or ()), (record.get("selected") or {}).get("trial")
    metric, sign = summary["metric"], sort_sign(summary["mode"])
    points = [
        {
            "label": params_text(t["config"]) or t["name"],
            "trial": t["name"],
            "score": t["metrics"][metric],
            **{cost: t["metrics"][cost] for cost in COSTS},
            "tied": t["name"] in tied,
            "selected": t["name"] == selected,
        }
        for t in _scored(summary, shown)
        if all(cost in t["metrics"] for cost in COSTS)
    ]
    for cost in COSTS:
        front = pareto_front([(p[cost], sign * p["score"]) for p in points])
        for point, on in zip(points, front, strict=True):
            point[f"pareto_{cost}"] = on
    return points


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """Whether each ``(cost, loss)`` point is on the Pareto front: no other point is at most as
    costly and at most as lossy, and strictly better in one of the two (both minimised)."""
    return [
        not any(
            (c <= cost and loss_ <= loss) and (c < cost or loss_ < loss)
            for j, (c, loss_) in enumerate(points)
            if j != i
        )
        for i, (cost, loss) in enumerate(points)
    ]


def _scored(summary: Summary, name: str) -> list[dict[str, Any]]:
    metric = summary["metric"]
    return [
        t for t in summary["trials"][name] if t.get("status") == "ok" and metric in (t.get("metrics") or {})
    ]


def spread(summary: Summary) -> dict[str, dict[str, list[float | None]]]:
    """Each runner's std over the splits, point for point with ``params`` (error bars); empty without."""
    metric = summary["metric"]
    out: dict[str, dict[str, list[float | None]]] = {}
    for name in runners(summary):
        stds = [(t.get("metrics") or {}).get(f"{metric}_std") for t in _scored(summary, name)]
        if any(s is not None for s in stds):
            out[name] = stds
    return out


def repeats(summary: Summary, most: int = 20) -> list[dict[str, Any]]:
    """Every split's score of each configuration (a repeated run), best mean first, at most ``most``."""
    metric, sign = summary["metric"], sort_sign(summary["mode"])
    names = runners(summary)
    if not names:
        return []
    shown = TUNE if TUNE in names else names[0]
    trials = [t for t in _scored(summary, shown) if t["metrics"].get(f"{metric}_repeats")]
    trials.sort(key=lambda t: sign * t["metrics"][metric])
    estimator = ((summary.get("estimator") or {}).get("class") or "").rsplit(".", 1)[-1]
    return [
        {
            "label": params_text(t["config"]) or estimator or t["name"],
            "scores": t["metrics"][f"{metric}_repeats"],
            "mean": t["metrics"][metric],
            "std": t["metrics"].get(f"{metric}_std"),
        }
        for t in trials[:most]
    ]


def size_param(data: dict[str, Any]) -> str | None:
    """The numeric searched parameter to colour the timeline's bars by (a size parameter first)."""
    numeric = [
        p
        for p, series in data["params"].items()
        if all(is_number(x) for points in series.values() for x, _ in points)
        and any(points for points in series.values())
    ]
    if not numeric:
        return None
    size = size_params_first(numeric)[0]
    bars = [bar for t in data["timeline"].values() for bar in t["bars"]]
    return size if all(is_number(bar["config"].get(size)) for bar in bars) else None
