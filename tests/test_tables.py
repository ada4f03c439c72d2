"""One builder for the trial and per-class tables (`tuning.reports.tables`); the text report and
the HTML page only lay its cells out."""

from __future__ import annotations

import re

from tuning.reports.html import page
from tuning.reports.tables import class_tables, trials_table
from tuning.reports.text import class_lines, trial_table
from tuning.trial.records import RunnerResult, TrialResult


def rows():
    return [
        {
            "name": "a",
            "config": {"n": 1},
            "status": "ok",
            "metrics": {"mse": 0.5, "mse_std": 0.1},
            "duration_s": 2.0,
        },
        {"name": "b", "config": {"n": 2}, "status": "ok", "metrics": {"mse": 0.25}, "duration_s": 1.0},
        {"name": "c", "config": {"n": 3}, "status": "error", "metrics": {}, "duration_s": None, "error": "E"},
    ]


def test_the_trials_table_ranks_and_formats_each_cell():
    table = trials_table(
        rows(), {"x": rows()}, "mse", "min", ["mse"], ["n"], models=False, error=str.lower, tied=["a"]
    )
    assert table.header == ["trial", "n", "mse", "tied with best", "x s"]
    assert table.rows == [
        ["b", "2", "0.2500", "", "1.00"],
        ["a", "1", "0.5000 ± 0.1000", "yes", "2.00"],
        ["c", "3", "e", "", "-"],
    ]


def test_the_text_and_html_tables_lay_out_the_same_cells():
    trials = [TrialResult("a", {"n": 1}, {"mse": 0.5}), TrialResult("b", {"n": 2}, {"mse": 0.25})]
    text, left = trial_table({"tune": RunnerResult("tune", trials, 1.0, 1)}, "mse", "min", ["mse"])
    assert left == 0 and [line.split() for line in text.splitlines()] == [
        ["trial", "n", "mse", "tune", "s"],
        ["b", "2", "0.2500", "0.00"],
        ["a", "1", "0.5000", "0.00"],
    ]
    summary = {"metric": "mse", "mode": "min", "metrics": ["mse"], "trials": {"tune": rows()}}
    cells = re.findall(r"<t[dh]>(.*?)</t[dh]>", page._table_html(summary))
    expected = trials_table(
        rows(),
        {"Ray Tune": rows()},
        "mse",
        "min",
        ["mse"],
        ["n"],
        models=False,
        error=lambda e: f"error: {e}",
    )
    assert cells == [*expected.header, *(c for row in expected.rows for c in row)]


def test_the_class_tables_are_one_builders():
    best_model = {
        "classes": ["x", "y"],
        "confusion_matrix": [[3, 1], [0, 4]],
        "per_class": {
            "x": {"precision": 1.0, "recall": 0.75, "f1-score": 0.8571, "support": 4.0},
            "y": {"precision": 0.8, "recall": 1.0, "f1-score": 0.8889, "support": 4.0},
        },
    }
    matrix, scores = class_tables(best_model)
    assert matrix.rows == [["x", "3", "1"], ["y", "0", "4"]]
    assert scores.header == ["class", "precision", "recall", "f1-score", "support"]
    assert scores.rows[0] == ["x", "1.0000", "0.7500", "0.8571", "4"]
    lines = class_lines(best_model)
    assert lines[0] == "Best model on the test rows:" and lines[4].split() == scores.header
    cells = re.findall(r"<t[dh]>(.*?)</t[dh]>", page._classes_html(best_model))
    assert cells == [c for table in (matrix, scores) for row in (table.header, *table.rows) for c in row]
    assert class_tables({"test_metrics": {}}) is None
