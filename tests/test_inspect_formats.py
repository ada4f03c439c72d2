"""``tuning inspect --format csv|json``: a finished run's trials as a table, one row per trial and runner."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tuning.reports.inspection import main

ROWS = [
    {
        "name": "t_0",
        "config": {"n_estimators": 2, "max_depth": None},
        "metrics": {"mse": 0.5},
        "duration_s": 0.1,
    },
    {
        "name": "t_1",
        "config": {"n_estimators": 4, "max_depth": 3},
        "metrics": {"mse": 0.25},
        "duration_s": 0.2,
    },
]


def run_dir(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"trials": {"tune": ROWS, "sequential": ROWS[:1]}}))
    return tmp_path


def test_json_has_one_record_per_trial_and_runner(tmp_path, capsys):
    assert main([str(run_dir(tmp_path)), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["runner"], r["name"], r["n_estimators"], r["mse"]) for r in records] == [
        ("tune", "t_0", 2, 0.5),
        ("tune", "t_1", 4, 0.25),
        ("sequential", "t_0", 2, 0.5),
    ]
    assert records[0]["max_depth"] is None


def test_csv_starts_with_the_runner_column(tmp_path, capsys):
    assert main([str(run_dir(tmp_path)), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert next(iter(rows[0])) == "runner" and len(rows) == 3
    assert rows[1]["n_estimators"] == "4" and rows[1]["mse"] == "0.25"


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_a_run_without_a_summary_is_refused_in_one_line(tmp_path, capsys, kind):
    assert main([str(tmp_path), "--format", kind]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("has no summary.json: the run did not finish (--format text reads it)")
    )
