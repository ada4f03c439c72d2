"""Random forests and extra trees: ``n_estimators``, the first n trees of a larger forest.

The trees' seeds are drawn in order before they are grown, so the first ``n`` trees of an
84-tree forest are the ``n``-tree forest; its prediction averages them (classifiers: their
``predict_proba``) exactly as scikit-learn's own ``predict`` does on a forest of ``n``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.base import is_classifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.utils import check_array

from tuning.estimators.families._base import (
    first_reason,
    seed_reason,
    shallow,
    subclass_of,
    warm_start_reason,
)

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

    def staged(self, model: Any, X: Any, sizes: Sequence[int]) -> dict[int, dict[str, Any]] | None:
        """``{n: {method: the first n trees' answer on X}}`` in one pass over the trees.

        scikit-learn's one-thread ``predict`` (classifiers: ``predict_proba``) adds its trees'
        answers in order to zeros and divides by their number; the running sum is that sum for
        every n at once, so each answer is the cut forest's to the last bit (a classifier's
        ``predict``: the most probable class, as its own). None where the forest would not
        answer so (sparse rows, gaps, several outputs): score each cut instead.
        """
        if issparse(X) or getattr(model, "n_outputs_", 1) != 1:
            return None
        classifier = is_classifier(model)
        method = "predict_proba" if classifier else "predict"
        rows = check_array(X, dtype=np.float32, ensure_all_finite=False)  # what the forest hands its trees
        if not np.isfinite(rows).all():  # gaps: the forest checks whether its trees take them
            return None
        wanted, answers, total = set(sizes), {}, None
        for n, tree in enumerate(model.estimators_[: max(sizes)], start=1):
            answer = getattr(tree, method)(rows, check_input=False)
            total = np.zeros_like(answer, dtype=np.float64) if total is None else total
            total += answer
            if n in wanted:
                answers[n] = {method: total / n}
                if classifier:
                    answers[n]["predict"] = model.classes_.take(np.argmax(answers[n][method], axis=1), axis=0)
        return answers


FAMILY = Forest()
