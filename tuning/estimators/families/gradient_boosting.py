"""Gradient boosting: ``n_estimators``, the first n stages (without early stopping).

Stage ``i`` is fitted to the residuals of stages ``< i`` with random draws taken in order,
so a larger fit's first ``n`` stages are the ``n``-stage fit. The cut model predicts as
``staged_predict``/``staged_predict_proba`` at stage ``n``: the stages are added in order
from the same initial prediction.
"""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

from tuning.estimators.families._base import (
    first_reason,
    seed_reason,
    shallow,
    subclass_of,
    warm_start_reason,
)


class GradientBoosting:
    name = "gradient boosting"
    size_param = "n_estimators"

    def matches(self, cls: type) -> bool:
        return subclass_of(cls, GradientBoostingRegressor, GradientBoostingClassifier)

    def why_not(self, params: dict[str, Any]) -> str | None:
        stops = params.get("n_iter_no_change") is not None
        early = f"n_iter_no_change is {params.get('n_iter_no_change')} (early stopping)" if stops else None
        return first_reason(early, seed_reason(params), warm_start_reason(params))

    def cut(self, model: Any, n: int) -> Any:
        return shallow(model, estimators_=model.estimators_[:n], n_estimators=n, n_estimators_=n)


FAMILY = GradientBoosting()
