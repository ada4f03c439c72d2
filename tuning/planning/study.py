"""An Optuna study that Tune continues: Ray Tune's `OptunaSearch`, which spends no trial on a
configuration the study has already run, and which labels the study with what it optimises.

Imports Optuna and Ray Tune: `tuning.planning.search.search_alg` imports it only for ``search.algorithm:
optuna``.
"""

from __future__ import annotations

import logging
from typing import Any

from optuna.trial import TrialState
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

log = logging.getLogger(__name__)

MOST_DRAWS = 200  # proposals of configurations already run, in a row, before the search ends


class UnrepeatedSearch(OptunaSearch):
    """`OptunaSearch` that tells a proposal of a configuration the study has run (a completed
    trial, or one running now) as pruned, marked ``duplicate_of``, and asks again.

    ``labels`` become the study's user attributes (``metric``, ``run_dir``), with its
    ``direction`` and every run directory that added trials (``run_dirs``).
    """

    def __init__(self, *args: Any, labels: dict[str, str], **kwargs: Any) -> None:
        self._labels = labels  # before super().__init__: a define-by-run space sets up the study there
        super().__init__(*args, **kwargs)

    def _setup_study(self, mode: str | list) -> None:
        super()._setup_study(mode)
        study = self._ot_study
        runs = list(study.user_attrs.get("run_dirs", []))
        run_dir = self._labels.get("run_dir")
        labels = {**self._labels, "direction": study.direction.name.lower()}
        for key, value in {**labels, "run_dirs": runs + [run_dir] * (run_dir not in runs)}.items():
            study.set_user_attr(key, value)

    def suggest(self, trial_id: str) -> dict | str | None:
        for _ in range(MOST_DRAWS):
            config = super().suggest(trial_id)
            trial = self._ot_trials[trial_id]
            earlier = self._run_before(trial)
            if earlier is None:
                return config
            trial.set_user_attr("duplicate_of", earlier)
            self._ot_study.tell(trial, state=TrialState.PRUNED)
            del self._ot_trials[trial_id]  # the next super().suggest asks the study anew
        log.warning(
            "The Optuna study proposed only configurations it has run %d times: search ended", MOST_DRAWS
        )
        return Searcher.FINISHED

    def _run_before(self, trial) -> int | None:
        """The number of a trial of the study with ``trial``'s parameters, or None."""
        done = self._ot_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        running = [t for key, t in self._ot_trials.items() if key not in self._completed_trials]
        return next(
            (t.number for t in [*done, *running] if t is not trial and t.params == trial.params), None
        )
