"""The per-parameter plot's mean line and category order, as plain data.

A parameter with many distinct values (a continuous range) gets its mean per quantile bin,
not per value (which zig-zags with one noisy point each); categories are shown sorted.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from tuning.values import is_number

MOST_VALUES = 8  # more distinct values than this: bin them


def category_order(values: list[Any]) -> list[Any]:
    """The distinct values, sorted: numbers by value first, then the others by their text."""
    distinct = {json.dumps(v, default=str): v for v in values}
    return sorted(
        distinct.values(),
        key=lambda v: (0, float(v), "") if is_number(v) else (1, 0.0, json.dumps(v, default=str)),
    )


def mean_line(points: list[tuple[float, float]], bins: int = MOST_VALUES) -> dict[str, list[float]]:
    """The mean metric at each value, or per quantile bin (at the bin's mean value) when many."""
    xs = np.array([x for x, _ in points], dtype=float)
    ys = np.array([y for _, y in points], dtype=float)
    if len(np.unique(xs)) <= bins:
        groups = [xs == value for value in np.unique(xs)]
    else:
        edges = np.unique(np.quantile(xs, np.linspace(0, 1, bins + 1)))
        which = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, len(edges) - 2)
        groups = [which == k for k in range(len(edges) - 1) if (which == k).any()]
    return {"x": [float(xs[g].mean()) for g in groups], "y": [float(ys[g].mean()) for g in groups]}


def param_lines(params: dict[str, dict[str, list]]) -> dict[str, dict[str, Any]]:
    """For each parameter over all runners' points: its ``mean`` line (numbers) or ``categories``."""
    out: dict[str, dict[str, Any]] = {}
    for param, series in params.items():
        points = [(x, y) for runner_points in series.values() for x, y in runner_points]
        if not points:
            continue
        if all(is_number(x) for x, _ in points):
            out[param] = {"mean": mean_line(points)}
        else:
            out[param] = {"categories": category_order([x for x, _ in points])}
    return out
