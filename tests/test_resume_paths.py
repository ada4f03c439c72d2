"""Resumes that decide results, through the real command line: a chunked run killed hard (SIGKILL),
a ``--runner both`` run interrupted between its runners, a run of shared fits interrupted.

Each keeps what finished, runs only the rest, and ends with the scores an uninterrupted run
gives: checked against scikit-learn (chunks) or against the other runner (both, shared).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import ShuffleSplit, cross_validate, train_test_split

from tests.conftest import ROOT, experiment_dict
from tests.helpers import SleepyRegressor
from tests.test_cli import cli, write
from tests.test_faults import fits, run_dir_of, summary_of, wait_for

pytestmark = pytest.mark.slow


def small_csv(tmp_path: Path, rows: int = 80) -> Path:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(rows, 2)), columns=["a", "b"])
    frame["y"] = frame["a"] - 2 * frame["b"] + rng.normal(scale=0.1, size=rows)
    path = tmp_path / "rows.csv"
    frame.to_csv(path, index=False)
    return path


def start_group(*args: str, out: Path) -> subprocess.Popen:
    """The CLI in the background in its own process group (what a hard kill takes down)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(out, "w") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def sklearn_repeats(csv: Path, n: int, repeats: int) -> list[float]:
    """Each repeat's MSE of configuration ``n`` by scikit-learn alone: the tool's split of the
    file (``train_test_split``, seed 201), all its rows, ``ShuffleSplit(repeats)`` with the same seed."""
    frame = pd.read_csv(csv)
    X_train, X_test, y_train, y_test = train_test_split(
        frame[["a", "b"]].to_numpy(), frame["y"].to_numpy(), test_size=0.2, random_state=201
    )
    X, y = np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test])
    splitter = ShuffleSplit(n_splits=repeats, test_size=0.2, random_state=201)
    out = cross_validate(SleepyRegressor(n_estimators=n), X, y, cv=splitter, scoring="neg_mean_squared_error")
    return [-s for s in out["test_score"]]


def test_a_chunked_run_killed_hard_resumes_with_its_chunk_size(tmp_path):
    """SIGKILL the CLI (no summary written) after 2 of its 6 chunks; the machine is then slower,
    so timing a repeat again would choose chunks of 1. The resume keeps chunks of 2: the two
    finished chunks are not run again and every configuration's 4 repeats are scikit-learn's."""
    marks = tmp_path / "marks"
    marks.mkdir()
    csv = small_csv(tmp_path)
    raw = experiment_dict(
        tmp_path,
        name="faulty",
        data={"source": str(csv), "target": "y"},
        estimator={"class": "tests.helpers.RetimedRegressor", "params": {"sleep": 0.2, "marks": str(marks)}},
        space={"n_estimators": [1, 2, 3]},
        split={"repeats": 4},
        runner="sequential",
        refit=False,
    )
    path = write(tmp_path, raw)
    out = tmp_path / "first.txt"
    proc = start_group("tuning.run", str(path), "--num-cpus", "1", out=out)
    try:
        wait_for(lambda: "[sequential] 2/6 done" in out.read_text(), what="two finished chunks")
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the Ray it started
    assert "Repeats:       4 per configuration in 2 trials of 2" in out.read_text()
    run_dir = run_dir_of(tmp_path)
    assert not (run_dir / "summary.json").exists()  # killed: nothing but the trials it wrote
    ended_before = Counter(n for n, _ in fits(tmp_path, "end"))
    (marks / "sleep").write_text("0.6")  # one repeat now takes longer than a trial's 0.5 s

    resumed = cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "1")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "Repeats:       4 per configuration in 2 trials of 2" in resumed.stdout
    summary = summary_of(run_dir)
    assert summary["status"] == "complete" and summary["validation"]["chunk"] == 2
    trials = {t["config"]["n_estimators"]: t for t in summary["trials"]["sequential"]}
    assert sorted(trials) == [1, 2, 3]
    for n, trial in trials.items():
        assert trial["metrics"]["chunks"] == 2
        assert trial["metrics"]["mse_repeats"] == pytest.approx(sklearn_repeats(csv, n, 4), rel=1e-12)
    # the two chunks that finished first are kept: 12 repeats in all, 8 of them in the resume
    ended = Counter(n for n, _ in fits(tmp_path, "end"))
    assert sum(ended.values()) - sum(ended_before.values()) == 12 - 4


@pytest.mark.parametrize("shared", [False, True], ids=["trials", "shared-fits"])
def test_a_both_run_interrupted_in_tune_resumes_only_tunes_unfinished_trials(tmp_path, shared):
    """``--runner both`` with 8 forests (4 groups of 2 sizes when ``shared``), SIGINT once Tune has
    finished 2: the baseline's 8 trials and Tune's finished ones are kept; the resume fits only
    Tune's unfinished configurations (groups), and both runners then agree on every score."""
    marks = tmp_path / "marks"
    marks.mkdir()
    raw = experiment_dict(
        tmp_path,
        name="faulty",
        data={"source": str(small_csv(tmp_path)), "target": "y"},
        estimator={"class": "tests.helpers.MarkedForest", "params": {"sleep": 0.5, "marks": str(marks)}},
        space={"n_estimators": [2, 4], "max_depth": [1, 2, 3, 4]},
        search={"share_fits": shared},
        runner="both",
        refit=False,
    )
    path = write(tmp_path, raw)
    out = tmp_path / "first.txt"
    proc = start_group("tuning.run", str(path), "--num-cpus", "2", out=out)
    try:
        wait_for(lambda: "[tune] 2/8 done" in out.read_text(), what="two of Tune's trials")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, out.read_text()[-3000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    run_dir = run_dir_of(tmp_path)
    first = summary_of(run_dir)
    assert first["status"] == "interrupted"
    key = lambda t: (t["config"]["max_depth"], t["config"]["n_estimators"])  # noqa: E731
    assert sorted(key(t) for t in first["trials"]["sequential"] if t["status"] == "ok") == [
        (d, n) for d in (1, 2, 3, 4) for n in (2, 4)
    ]
    kept = {key(t): t for t in first["trials"]["tune"] if t["status"] == "ok"}
    assert 2 <= len(kept) < 8
    if shared:  # a group's sizes finish together
        assert all((d, 2) in kept and (d, 4) in kept for d, _ in kept)
    fits_before = len(fits(tmp_path, "end"))

    resumed = cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "2")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = summary_of(run_dir)
    assert summary["status"] == "complete" and summary["resumed"] is True
    assert summary["counts"] == {"trials": 8, "ok": 8, "error": 0, "retries": 0}
    assert summary["parity"] == {"identical": True, "differing": []}
    agree = "Parity:        sequential and tune agree on every recorded score of 8 configurations"
    assert agree in resumed.stdout
    tune = {key(t): t for t in summary["trials"]["tune"]}
    assert len(tune) == 8 and all(t["status"] == "ok" for t in tune.values())
    for k, trial in kept.items():  # finished before the interrupt: kept, not run again
        assert tune[k]["started_at"] == trial["started_at"] and tune[k]["metrics"] == trial["metrics"]
    again = len(fits(tmp_path, "end")) - fits_before
    assert again == ((8 - len(kept)) // 2 if shared else 8 - len(kept))  # Tune's unfinished fits only
