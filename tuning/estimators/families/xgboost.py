"""XGBoost's scikit-learn models: ``n_estimators``, the first n boosting rounds.

The cut model holds ``booster[:n]`` (XGBoost's own slice of the first ``n`` rounds, what
``predict(iteration_range=(0, n))`` uses). Only the tree boosters ``gbtree`` grow by
prefixes: ``dart`` rescales earlier trees as it adds new ones, ``gblinear`` has no rounds
to cut. XGBoost is optional: it is imported only for a class of its own.
"""

from __future__ import annotations

from typing import Any

from tuning.estimators.families._base import first_reason, seed_reason, shallow, subclass_of


class XGBoost:
    name = "xgboost"
    size_param = "n_estimators"

    def matches(self, cls: type) -> bool:
        if not getattr(cls, "__module__", "").startswith("xgboost"):
            return False
        from xgboost.sklearn import XGBModel  # optional: only for one of its own classes

        return subclass_of(cls, XGBModel)

    def why_not(self, params: dict[str, Any]) -> str | None:
        booster = params.get("booster") or "gbtree"
        return first_reason(
            f"booster is {booster!r} (only gbtree grows by prefixes)" if booster != "gbtree" else None,
            "early_stopping_rounds is set (early stopping)" if params.get("early_stopping_rounds") else None,
            "callbacks are set (they may stop early)" if params.get("callbacks") else None,
            seed_reason(params),
        )

    def cut(self, model: Any, n: int) -> Any:
        return shallow(model, _Booster=model.get_booster()[:n], n_estimators=n)


FAMILY = XGBoost()
