"""The report's tables as rows of cells: the trials, and a classifier's confusion matrix and
per-class scores. The text report (`tuning.reports.text`) and the HTML page
(`tuning.reports.html.page`) build them here and only lay them out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tuning.estimators.space import config_key
from tuning.metrics import sort_sign
from tuning.summary_types import BestModel, TrialRow
from tuning.values import fmt, mean_std, score_text


@dataclass(frozen=True)
class Table:
    """A header and rows of cells, every value formatted already."""

    header: list[str]
    rows: list[list[str]]


def trials_table(
    listed: Sequence[TrialRow],
    times: Mapping[str, Sequence[TrialRow]],
    metric: str,
    mode: str,
    metrics: Sequence[str],
    params: Sequence[str],
    *,
    models: bool,
    error: Callable[[str | None], str],
    tied: Sequence[str] | None = None,
) -> Table:
    """One row per trial of ``listed``, best ``metric`` first and errors last: its name, model
    (``models``), parameters, a cell per recorded metric (``0.5310 ± 0.0412`` where it has a
    spread over splits), whether it is tied with the best (``tied``: the selection's ties), and
    a time column per runner of ``times`` (keyed by each one's column label) for the same
    configuration. ``error`` reads an errored trial's error in its first metric cell."""
    sign = sort_sign(mode)
    seconds = {
        label: {config_key(t["config"]): t.get("duration_s") for t in rows} for label, rows in times.items()
    }
    header = [
        "trial",
        *(["model"] if models else []),
        *params,
        *metrics,
        *(["tied with best"] if tied else []),
    ]
    header += [f"{label} s" for label in times]
    ranked = sorted(
        listed, key=lambda t: (t.get("status") != "ok", sign * (t.get("metrics") or {}).get(metric, 0.0))
    )
    rows = []
    for t in ranked:
        m, key = t.get("metrics") or {}, config_key(t["config"])
        cells = [t["name"], *([t.get("model") or ""] if models else [])]
        cells += [fmt(t["config"][p]) if p in t["config"] else "" for p in params]
        if t.get("status") == "ok":
            cells += [
                (mean_std(m, k) if k == metric else score_text(m[k])) if k in m else "" for k in metrics
            ]
        else:
            cells += [error(t.get("error")), *[""] * (len(metrics) - 1)]
        cells += ["yes" if t["name"] in tied else ""] if tied else []
        cells += [f"{s[key]:.2f}" if s.get(key) is not None else "-" for s in seconds.values()]
        rows.append(cells)
    return Table(header, rows)


def scored_rows(best_model: BestModel) -> str:
    """The rows the best model's tables are scored on: ``validation`` or ``test``."""
    return "validation" if best_model.get("scored_on") == "validation" else "test"


def class_tables(best_model: BestModel) -> tuple[Table, Table] | None:
    """A classifier's confusion matrix and per-class scores (precision, recall, f1-score,
    support); None for a regressor's model."""
    if "confusion_matrix" not in best_model:
        return None
    names = [str(c) for c in best_model["classes"]]
    matrix = [
        [name, *map(str, counts)] for name, counts in zip(names, best_model["confusion_matrix"], strict=True)
    ]
    keys = ("precision", "recall", "f1-score")
    per_class = best_model["per_class"]
    scores = [
        [name, *(score_text(per_class[name][k]) for k in keys), f"{per_class[name]['support']:g}"]
        for name in names
    ]
    return Table(["true \\ predicted", *names], matrix), Table(["class", *keys, "support"], scores)
