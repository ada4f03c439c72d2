"""Small value helpers every layer shares: what counts as a number, and how one is shown."""

from __future__ import annotations

import math
from typing import Any

from tuning.summary_types import Evaluation


def is_number(value: Any) -> bool:
    """A finite int or float (``True`` and ``False`` are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any) -> str:
    """A parameter value as tables show it: floats to 4 significant digits, the rest as ``str``."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def params_text(config: dict[str, Any]) -> str:
    """``n_estimators=84, max_depth=8``: a configuration in one line."""
    return ", ".join(f"{k}={fmt(v)}" for k, v in config.items())


def score_text(value: float) -> str:
    """A score as every table and line shows it: ``0.5310`` (4 decimals)."""
    return f"{value:.4f}"


def mean_std(metrics: dict[str, Any], name: str) -> str:
    """``0.5310 ± 0.0412`` when the metric has a spread over splits, else ``0.5310``."""
    if f"{name}_std" in metrics:
        return f"{score_text(metrics[name])} ± {score_text(metrics[f'{name}_std'])}"
    return score_text(metrics[name])


def evaluation_line(evaluation: Evaluation, metric: str) -> str:
    """``LinearRegression, Monte Carlo CV over 100 splits: r2 0.6012 ± 0.0123 (mse ..., ...)``."""
    means, stds = evaluation["metrics"], evaluation["std"]
    others = ", ".join(f"{m} {score_text(means[m])} ± {score_text(stds[m])}" for m in means if m != metric)
    return (
        f"{evaluation['estimator']}, {evaluation['strategy']}: {metric} {score_text(means[metric])} ± "
        f"{score_text(stds[metric])}" + (f"  ({others})" if others else "")
    )
