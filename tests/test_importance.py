"""What a search over several parameters learned: importances, parallel coordinates, heat map
(browser-free, from a hand-made summary)."""

from __future__ import annotations

import html
import importlib.util
import json

from tests.test_report_html import fake_summary, parse
from tuning.reports.html import importance as importance_module
from tuning.reports.html import report_data, write_report
from tuning.reports.html.figures import heatmap_figure, parallel_figure, params_figure
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


def with_four_categories(summary: dict) -> dict:
    """max_features over four categories, None among them: sqrt, log2, None, 1.0 in turn."""
    choices = ["sqrt", "log2", None, 1.0]
    for rows in summary["trials"].values():
        for i, row in enumerate(rows):
            row["config"] = {**row["config"], "max_features": choices[i % 4]}
    return summary


def test_parallel_coordinates_label_every_category_of_an_axis(tmp_path):
    space = space_data(with_four_categories(fake_summary(tmp_path)))
    ax = parallel_figure(space, "mse", "min").axes[0]
    texts = [(t.get_text(), t.xy) for t in ax.texts]
    shown = sorted(text for text, (x, _) in texts if x == 1)  # max_features is the second axis
    assert shown == ["1", "None", "log2", "sqrt"], texts  # every category, not only the two ends
    heights = sorted(y for _, (x, y) in texts if x == 1)
    assert heights == [0.0, 1 / 3, 2 / 3, 1.0]  # each at its line's height


def test_none_reads_the_same_in_the_plots_and_the_table(tmp_path):
    summary = with_four_categories(fake_summary(tmp_path))
    data = report_data(summary)
    features_ax = params_figure(data).axes[1]
    ticks = [t.get_text() for t in features_ax.get_xticklabels()]
    assert "None" in ticks and "null" not in ticks, ticks
    heat = heatmap_figure(data["space"], "mse", "min").axes[0]
    rows = [t.get_text() for t in heat.get_yticklabels()]
    assert "None" in rows and "null" not in rows, rows
    text = write_report(tmp_path, summary).read_text()
    assert "<td>None</td>" in text and "<td>null</td>" not in text
