"""`Result`: a finished run as Python objects, built from ``summary.json`` and the best model.

`tuning.api.run_experiment` returns one; `tuning.api.load_result` reads the same from a run
directory. The tables are the summary's own trial rows (`tuning.reports.summary.trial_record`),
one row per configuration.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from tuning.estimators.space import config_key
from tuning.reports.best_model import MODEL_FILE
from tuning.runner_names import SEQUENTIAL, SHOWN_FIRST, TASKS, TUNE
from tuning.summary_types import Summary, TrialRow
from tuning.values import params_text, score_text

TRIAL_COLUMNS = ("duration_s", "status", "error", "retries", "name")


class Figures(list):
    """The report's figures (matplotlib ``Figure``s, report.html's order): a notebook shows
    them inline, each under its title (``titles``)."""

    def __init__(self, drawn: list[tuple[str, Any, str]]):
        super().__init__(figure for _, figure, _ in drawn)
        self.drawn = drawn
        self.titles = [title for title, _, _ in drawn]

    def _repr_html_(self) -> str:
        from tuning.reports.html.page import figure_html  # matplotlib: only when shown

        return "".join(figure_html(*drawn, heading="h4") for drawn in self.drawn)


@dataclass(eq=False)
class Result:
    """A finished run: the best configuration and model, every trial, and the summary.

    ``trials`` has one row per configuration (Tune's trials when Tune ran): the parameters,
    the metrics, ``fit_time_s`` and ``duration_s``. ``compare`` (runner ``both``) has the two
    runners side by side: each one's metric and trial time, and whether the metrics are
    identical.
    """

    run_dir: Path
    summary: Summary
    best_model: Any = None
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    compare: pd.DataFrame | None = None

    @property
    def metric(self) -> str:
        """The metric the trials are ranked by (``mse``, ``roc_auc``, ...)."""
        return self.summary["metric"]

    @property
    def status(self) -> str:
        """``complete``, ``incomplete`` (a trial errored, or the runners disagree) or ``interrupted``."""
        return self.summary["status"]

    @property
    def best_params(self) -> dict[str, Any] | None:
        """The best trial's configuration (with the budget it reached, when budgeted)."""
        model = self.summary.get("best_model") or {}
        best = self.summary.get("best") or {}
        return model.get("config") or best.get("config")

    @property
    def best_score(self) -> float | None:
        """The best trial's ``metric``: a validation score (the rows selection was made on: the
        held-out rows, the validation rows, or the mean over the CV folds or repeats)."""
        return (self.summary.get("best") or {}).get(self.metric)

    @property
    def test_score(self) -> float | None:
        """The saved model's ``metric`` on test rows selection never saw (None: there are none)."""
        test = (self.summary.get("best_model") or {}).get("test_metrics") or {}
        return test.get(self.metric)

    @property
    def selection(self) -> dict[str, Any] | None:
        """The rule, the best by score, the selected configuration, the ties (`tuning.reports.selection`)."""
        return self.summary.get("selection")

    @property
    def selected_params(self) -> dict[str, Any] | None:
        """The configuration the rule selected (the saved model's; the best's under ``select: best``)."""
        return ((self.selection or {}).get("selected") or {}).get("config")

    def __repr__(self) -> str:
        return (
            f"Result({self.summary['experiment']!r}, status={self.status!r}, "
            f"best validation {self.metric}={self.best_score}, best_params={self.best_params}, "
            f"run_dir='{self.run_dir}')"
        )

    def plot(self) -> Figures:
        """The figures of report.html (`tuning.reports.html.page.report_figures`), drawn from the summary:
        the last line of a notebook cell shows them inline; each is a matplotlib ``Figure``."""
        from tuning.reports.html.data import report_data  # the report's modules: matplotlib, only when asked
        from tuning.reports.html.page import report_figures

        data = report_data(self.summary)
        return Figures(report_figures(data, self.metric, self.summary["mode"]))

    def _repr_html_(self) -> str:
        """A short summary for a notebook: status, best score and parameters, the top trials."""
        e = html.escape
        score = "-" if self.best_score is None else score_text(self.best_score)
        head = (
            f"<p><b>{e(self.summary['experiment'])}</b>: {e(self.status)}, "
            f"{self.summary['counts']['ok']}/{self.summary['counts']['trials']} trials ok, "
            f"runner {e(self.summary['runner'])}<br>best {e(self.metric)} <b>{score}</b> "
            f"({e(params_text(self.best_params or {}))})<br><code>{e(str(self.run_dir))}</code></p>"
        )
        ascending = self.summary["mode"] == "min"
        table = self.trials.sort_values(self.metric, ascending=ascending) if len(self.trials) else self.trials
        return head + table.head(10).to_html(index=False, float_format=lambda v: f"{v:.4g}")


def trials_frame(rows: list[TrialRow]) -> pd.DataFrame:
    """One row per trial: its parameters, metrics, times and status (summary rows flattened)."""
    flat = [
        {
            **row["config"],
            **row.get("metrics", {}),
            **{k: row.get(k) for k in TRIAL_COLUMNS},
        }
        for row in rows
    ]
    return pd.DataFrame(flat)


def compare_frame(summary: Summary) -> pd.DataFrame | None:
    """The runners side by side, one row per configuration (None unless both ran)."""
    runs = summary.get("trials") or {}
    other = TUNE if TUNE in runs else TASKS  # beside the baseline: Tune, else the tasks runner
    if SEQUENTIAL not in runs or other not in runs:
        return None
    metric = summary["metric"]
    sequential = {config_key(r["config"]): r for r in runs[SEQUENTIAL]}
    rows = []
    for tune in runs[other]:
        seq = sequential.get(config_key(tune["config"]), {})
        t_score, s_score = (tune.get("metrics") or {}).get(metric), (seq.get("metrics") or {}).get(metric)
        rows.append(
            {
                **tune["config"],
                f"{other}_{metric}": t_score,
                f"sequential_{metric}": s_score,
                "identical": t_score is not None and t_score == s_score,
                f"{other}_duration_s": tune.get("duration_s"),
                "sequential_duration_s": seq.get("duration_s"),
            }
        )
    return pd.DataFrame(rows)


def result_of(run_dir: Path, summary: Summary, model: Any = None) -> Result:
    """The `Result` of a summary; the best model is ``model`` or read from the run directory."""
    if model is None and (Path(run_dir) / MODEL_FILE).is_file():
        model = joblib.load(Path(run_dir) / MODEL_FILE)
    runs = summary.get("trials") or {}
    shown = next((runs[name] for name in SHOWN_FIRST if runs.get(name)), [])
    return Result(Path(run_dir), summary, model, trials_frame(shown), compare_frame(summary))
