"""A Ray Tune searcher that proposes a given list of configurations, in order (imports Ray).

A choice between estimators has a conditional space: a trial has only its own branch's
parameters. Tune's variant generator fills every key of its space into each trial, so a
grid or random search of a choice is expanded in the plan (`tuning.estimators.space.expand_choice`) and
handed to Tune through this searcher, as nested configurations (`tuning.estimators.models.nested_choice`).
"""

from __future__ import annotations

import copy
import pickle
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher


class ListedSearcher(Searcher):
    """Proposes ``configs`` one per trial, in order, then says the search is finished."""

    def __init__(self, configs: list[dict[str, Any]]):
        super().__init__()
        self.configs = [copy.deepcopy(c) for c in configs]
        self.position = 0

    def suggest(self, trial_id: str) -> dict[str, Any] | str:
        if self.position >= len(self.configs):
            return Searcher.FINISHED
        self.position += 1
        return copy.deepcopy(self.configs[self.position - 1])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Nothing to learn: the list is fixed."""

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_bytes(pickle.dumps((self.configs, self.position)))

    def restore(self, checkpoint_path: str) -> None:
        self.configs, self.position = pickle.loads(Path(checkpoint_path).read_bytes())
