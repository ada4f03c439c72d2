"""Shared clusters and shared storage: file modes, autoscaling clusters, TLS, versions, node loss.

The clusters are `tests.test_cluster.RayCluster`: ``ray start`` nodes on this machine in
private temp dirs, each node its own process group, stopped by this test.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import write
from tuning.results import write_atomic, write_json

# --------------------------------------------------------------------------- file modes


def _modes(run_dir: Path) -> dict[str, str]:
    """``relative path -> octal mode`` of every file and folder under ``run_dir``."""
    return {
        str(p.relative_to(run_dir)): oct(stat.S_IMODE(p.stat().st_mode)) for p in sorted(run_dir.rglob("*"))
    }


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_atomic_writes_respect_the_umask(tmp_path, umask):
    """summary.json, experiment.yaml... were 0600 (mkstemp's mode): unreadable to a teammate."""
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "experiment.yaml", "a: 1\n")
        write_json(tmp_path / "summary.json", {"a": 1})
        write_json(tmp_path / "summary.json", {"a": 2})  # replacing keeps the mode
    finally:
        os.umask(old)
    expected = oct(0o666 & ~umask)
    assert _modes(tmp_path) == {"experiment.yaml": expected, "summary.json": expected}


@pytest.mark.slow
def test_every_file_of_a_run_respects_the_umask(tmp_path):
    """A whole run (both runners, refit, report) under umask 002: group-writable, world-readable."""
    raw = experiment_dict(
        tmp_path,
        name="modes",
        estimator={"class": "tests.helpers.SleepyRegressor", "params": {"sleep": 0.0}},
        space={"n_estimators": [1, 2]},
        runner="both",
    )
    path = write(tmp_path, raw)
    done = subprocess.run(
        [sys.executable, "-m", "tuning.run", str(path), "--num-cpus", "2"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        capture_output=True,
        text=True,
        timeout=240,
        umask=0o002,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "results" / "modes").iterdir()
    modes = _modes(run_dir)
    for name in ("summary.json", "experiment.yaml", "environment.json", "best_model.joblib"):
        assert name in modes, sorted(modes)
    for name in ("best_model.json", "report.html", "sequential/trials.jsonl"):
        assert name in modes, sorted(modes)
    wrong = {
        name: mode
        for name, mode in modes.items()
        if mode != ("0o775" if (run_dir / name).is_dir() else "0o664")
    }
    assert not wrong, wrong
