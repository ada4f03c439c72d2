"""What a search over several parameters learned: importances, parallel coordinates, heat map
(browser-free, from a hand-made summary)."""

from __future__ import annotations

import html
import importlib.util
import json

from tests.test_report_html import fake_summary, parse
from tuning.reports.html import importance as importance_module
from tuning.reports.html import report_data, write_report
from tuning.reports.html.figures import heatmap_figure, parallel_figure
from tuning.reports.html.importance import NO_OPTUNA, most_important_line, space_data


def test_the_report_holds_the_importances_and_the_plots(tmp_path):
    text = write_report(tmp_path, fake_summary(tmp_path)).read_text()
    page = parse(text)
    assert len(page.images) == 6
    for title in ("Parameter importances", "Parallel coordinates", "The two most important parameters"):
        assert f"<h2>{title}</h2>" in text
    importances = json.loads(page.data_blocks[0])["space"]["importances"]
    assert list(importances) == ["n_estimators", "max_features"], (
        "mse moves 0.12 with size, 0.02 with features"
    )
    assert abs(sum(importances.values()) - 1) < 1e-6


def test_parallel_coordinates_draw_one_line_per_finished_trial(tmp_path):
    data = report_data(fake_summary(tmp_path))
    figure = parallel_figure(data["space"], "mse", "min")
    (ax, _colorbar) = figure.axes
    assert len(ax.lines) == 5, "Tune's 5 finished trials (its 6th errored)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["n_estimators", "max_features"]
    assert all(0 <= y <= 1 for line in ax.lines for y in line.get_ydata())


def test_the_heat_map_holds_the_best_score_of_each_pair(tmp_path):
    space = space_data(fake_summary(tmp_path))
    ax = heatmap_figure(space, "mse", "min").axes[0]
    grid = ax.images[0].get_array()
    assert grid.shape == (2, 3)  # max_features (rows) x n_estimators (columns)
    assert grid.min() == min(space["scores"])
    assert ax.get_xlabel() == "n_estimators" and ax.get_ylabel() == "max_features"


def test_the_text_report_names_the_most_important_parameter(tmp_path):
    line = most_important_line(fake_summary(tmp_path))
    assert line.startswith("Importance:    n_estimators matters most (")


def test_without_optuna_the_report_says_so_in_one_line(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importance_module.importlib.util, "find_spec", lambda n: None if n == "optuna" else real(n)
    )
    text = write_report(tmp_path, fake_summary(tmp_path)).read_text()
    assert text.count(f'<p class="note">{html.escape(NO_OPTUNA)}.</p>') == 1
    assert "<h2>Parameter importances</h2>" not in text and "<h2>Parallel coordinates</h2>" in text
    assert most_important_line(fake_summary(tmp_path)) == f"Importance:    {NO_OPTUNA}"


def test_one_searched_parameter_has_no_importances(tmp_path):
    summary = fake_summary(tmp_path)
    for rows in summary["trials"].values():
        for row in rows:
            row["config"] = {"n_estimators": row["config"]["n_estimators"]}
    assert space_data(summary) is None and most_important_line(summary) is None
