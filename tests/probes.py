"""Estimators that look inside a trial: importable by Ray workers as ``tests.probes.<name>``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from joblib import effective_n_jobs
from sklearn.ensemble import RandomForestRegressor
from threadpoolctl import threadpool_info

THREADS_FILE = "threads.jsonl"


class ThreadProbeForest(RandomForestRegressor):
    """A random forest (a family: its fits can be shared) whose `fit` appends the thread pools
    it sees to ``<marks>/threads.jsonl``: its process, each OpenMP/BLAS pool's threads
    (threadpoolctl) and joblib's effective ``n_jobs``, its own and the default."""

    def __init__(
        self,
        n_estimators: int = 100,
        *,
        max_depth: int | None = None,
        random_state: int | None = None,
        n_jobs: int | None = None,
        marks: str = "",
    ):
        super().__init__(
            n_estimators=n_estimators, max_depth=max_depth, random_state=random_state, n_jobs=n_jobs
        )
        self.marks = marks

    def fit(self, X, y, sample_weight=None):
        seen = {
            "pid": os.getpid(),
            "pools": {f"{p['internal_api']}:{p['filepath']}": p["num_threads"] for p in threadpool_info()},
            "n_jobs": effective_n_jobs(self.n_jobs),
            "joblib_default": effective_n_jobs(None),
        }
        with open(Path(self.marks) / THREADS_FILE, "a") as log:
            log.write(json.dumps(seen) + "\n")
        return super().fit(X, y, sample_weight=sample_weight)


def seen_threads(marks: Path) -> list[dict]:
    """What each `ThreadProbeForest` fit saw, in the order they wrote it."""
    return [json.loads(line) for line in (marks / THREADS_FILE).read_text().splitlines()]
