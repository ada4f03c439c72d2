"""Estimator families whose size parameter grows by exact prefixes (shared fits).

`family_of` finds the family of an estimator class; `why_not_shared` says why a set of
parameters cannot share fits (None: it can). One module per family; XGBoost and LightGBM
are looked at only for their own classes (they are optional).
"""

from __future__ import annotations

from typing import Any

from tuning.estimators.families import forest, gradient_boosting, hist_gradient_boosting, lightgbm, xgboost
from tuning.estimators.families._base import Family

FAMILIES: tuple[Family, ...] = (
    forest.FAMILY,
    gradient_boosting.FAMILY,
    hist_gradient_boosting.FAMILY,
    xgboost.FAMILY,
    lightgbm.FAMILY,
)


def family_of(cls: type) -> Family | None:
    """The family of estimator class ``cls``, or None."""
    return next((f for f in FAMILIES if f.matches(cls)), None)


def why_not_shared(cls: type, params: dict[str, Any]) -> str | None:
    """Why ``cls(**params)`` (every parameter, defaults included) cannot share fits; None: it can."""
    family = family_of(cls)
    if family is None:
        return f"{cls.__name__} has no size parameter that grows by exact prefixes (forests, boosting)"
    return family.why_not(params)


__all__ = ["FAMILIES", "Family", "family_of", "why_not_shared"]
