"""Random forests and extra trees: ``n_estimators``, the first n trees of a larger forest.

The trees' seeds are drawn in order before they are grown, so the first ``n`` trees of an
84-tree forest are the ``n``-tree forest; its prediction averages them (classifiers: their
``predict_proba``) exactly as scikit-learn's own ``predict`` does on a forest of ``n``.
"""

from __future__ import annotations

from typing import Any

from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from tuning.families._base import first_reason, seed_reason, shallow, subclass_of, warm_start_reason

CLASSES = (RandomForestRegressor, RandomForestClassifier, ExtraTreesRegressor, ExtraTreesClassifier)


class Forest:
    name = "forest"
    size_param = "n_estimators"

    def matches(self, cls: type) -> bool:
        return subclass_of(cls, *CLASSES)

    def why_not(self, params: dict[str, Any]) -> str | None:
        return first_reason(seed_reason(params), warm_start_reason(params))

    def cut(self, model: Any, n: int) -> Any:
        # the same object scikit-learn's predict walks for an n-tree forest: n_estimators sets
        # how the trees are partitioned among predict's jobs
        return shallow(model, estimators_=model.estimators_[:n], n_estimators=n)


FAMILY = Forest()
