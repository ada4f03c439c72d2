"""A run directory written before the package was laid out by role (issue 26) still inspects
and resumes.

``tests/fixtures/run_before_move`` was written by the flat layout: a Tune run of six
`tests.helpers.SleepyRegressor` trials (1.5 s each, ``n_estimators`` 1 to 6, the California
housing rows), interrupted with SIGINT after two finished; its report.html was left out. Its
``tuner.pkl`` names the old module paths (``tuning.progress``, ``tuning.models``), which
`tuning.runners.moved` maps to their new homes while Tune unpickles it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.test_cli import cli

FIXTURE = Path(__file__).parent / "fixtures" / "run_before_move"


def trials_of(run_dir: Path) -> dict[int, dict]:
    """n_estimators -> the Tune trial's row in summary.json."""
    summary = json.loads((run_dir / "summary.json").read_text())
    return {t["config"]["n_estimators"]: t for t in summary["trials"]["tune"]}


def test_the_fixture_names_the_old_module_paths():
    pickled = (FIXTURE / "tuner.pkl").read_bytes()
    assert b"tuning.progress" in pickled and b"tuning.models" in pickled
    assert json.loads((FIXTURE / "summary.json").read_text())["counts"]["ok"] == 2


@pytest.mark.slow
def test_a_run_directory_from_before_the_move_inspects_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    first = trials_of(run_dir)

    shown = cli("tuning.inspect", str(run_dir))
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-3000:]
    assert "Trials:        2 ok, 0 errored, 0 retried" in shown.stdout

    resumed = cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "2", timeout=900)  # Ray and 4 trials
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["counts"]["ok"] == 6
    kept = {n for n, t in first.items() if t["status"] == "ok"}
    assert kept == {1, 2}
    assert all(trials_of(run_dir)[n]["started_at"] == first[n]["started_at"] for n in kept)

    shown = cli("tuning.inspect", str(run_dir))
    assert shown.returncode == 0 and "Trials:        6 ok, 0 errored, 0 retried" in shown.stdout
