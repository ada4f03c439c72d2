"""LightGBM's scikit-learn models: ``n_estimators``, the first n boosting iterations.

The cut model holds a booster of the first ``n`` iterations (``model_to_string(num_iteration=n)``,
what ``predict(num_iteration=n)`` uses). Only ``gbdt`` and ``goss`` grow by prefixes:
``dart`` rescales earlier trees, ``rf`` averages over all of them. LightGBM is optional:
it is imported only for a class of its own.
"""

from __future__ import annotations

from typing import Any

from tuning.estimators.families._base import first_reason, seed_reason, shallow, subclass_of

STOPPING = ("early_stopping_round", "early_stopping_rounds", "early_stopping", "n_iter_no_change")


class LightGBM:
    name = "lightgbm"
    size_param = "n_estimators"

    def matches(self, cls: type) -> bool:
        if not getattr(cls, "__module__", "").startswith("lightgbm"):
            return False
        from lightgbm import LGBMModel  # optional: only for one of its own classes

        return subclass_of(cls, LGBMModel)

    def why_not(self, params: dict[str, Any]) -> str | None:
        boosting = params.get("boosting_type") or "gbdt"
        stopping = next((k for k in STOPPING if params.get(k)), None)
        return first_reason(
            f"boosting_type is {boosting!r} (only gbdt and goss grow by prefixes)"
            if boosting not in ("gbdt", "goss")
            else None,
            f"{stopping} is set (early stopping)" if stopping else None,
            seed_reason(params),
        )

    def cut(self, model: Any, n: int) -> Any:
        from lightgbm import Booster  # optional: only for one of its own models

        booster = Booster(model_str=model.booster_.model_to_string(num_iteration=n))
        return shallow(model, _Booster=booster, n_estimators=n)


FAMILY = LightGBM()
