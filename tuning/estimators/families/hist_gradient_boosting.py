"""Histogram gradient boosting: ``max_iter``, the first n iterations (without early stopping).

``early_stopping='auto'`` (the default) turns early stopping on above 10,000 rows, so only
``early_stopping: false`` shares. The cut model keeps the first ``n`` iterations' predictors
(``n_iter_`` is their count); its ``predict`` adds them in order from the same baseline, as
``staged_predict`` does.
"""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from tuning.estimators.families._base import (
    first_reason,
    seed_reason,
    shallow,
    subclass_of,
    warm_start_reason,
)


class HistGradientBoosting:
    name = "histogram gradient boosting"
    size_param = "max_iter"

    def matches(self, cls: type) -> bool:
        return subclass_of(cls, HistGradientBoostingRegressor, HistGradientBoostingClassifier)

    def why_not(self, params: dict[str, Any]) -> str | None:
        stopping = params.get("early_stopping", "auto")
        early = (
            f"early_stopping is {stopping!r} (it stops early; set early_stopping: false to share)"
            if stopping is not False
            else None
        )
        return first_reason(early, seed_reason(params), warm_start_reason(params))

    def cut(self, model: Any, n: int) -> Any:
        return shallow(model, _predictors=model._predictors[:n], max_iter=n)


FAMILY = HistGradientBoosting()
