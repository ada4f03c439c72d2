"""A trial is the same trial wherever it runs: every thread pool has the trial's CPUs."""

from __future__ import annotations

import os

import pytest

from tests.conftest import experiment_dict
from tests.probes import seen_threads
from tuning.config import validate
from tuning.run import run_experiment


def probe_experiment(tmp_path, share_fits: str | bool) -> dict:
    """Two forest sizes, 2-fold cv (the refit fits), both runners, 1 CPU a trial."""
    marks = tmp_path / f"marks-{share_fits}"
    marks.mkdir()
    estimator = {"class": "tests.probes.ThreadProbeForest", "params": {"max_depth": 3, "marks": str(marks)}}
    raw = experiment_dict(
        tmp_path,
        estimator=estimator,
        space={"n_estimators": [2, 3]},
        split={"cv": 2, "test_size": 0.2},
        runner="both",
    )
    raw["search"] = {"share_fits": share_fits}
    return raw


@pytest.mark.slow
@pytest.mark.parametrize("share_fits", [False, True], ids=["trials", "shared-groups"])
def test_every_pool_has_the_trials_cpus_in_both_runners_and_the_refit(ray_session, tmp_path, share_fits):
    raw = probe_experiment(tmp_path, share_fits)
    summary = run_experiment(validate(raw), echo=lambda line: None)
    assert summary["status"] == "complete"
    seen = seen_threads(tmp_path / f"marks-{share_fits}")
    here = [s for s in seen if s["pid"] == os.getpid()]
    workers = [s for s in seen if s["pid"] != os.getpid()]
    fits = 2 if share_fits else 4  # per runner: one fit per fold of each group, or of each configuration
    assert (len(here), len(workers)) == (fits + 1, fits)  # the baseline's fits and the refit's; Tune's
    assert all(s["pools"] for s in seen)  # numpy's BLAS at least
    for s in seen:
        assert set(s["pools"].values()) == {1}, s  # OpenMP, BLAS: the trial's 1 CPU
        assert (s["n_jobs"], s["joblib_default"]) == (1, 1), s
