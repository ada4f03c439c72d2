"""summary.json's `TypedDict`s (`tuning.summary_types`) hold exactly the keys a run writes."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_units_plan import both_results
from tests.units import cluster, experiment, tiny_split
from tuning.phases import Phases
from tuning.run_files import read_summary
from tuning.summary_types import (
    Cluster,
    Counts,
    Estimator,
    Parity,
    Phase,
    Search,
    SplitRecord,
    Summary,
    Timings,
    TrialRow,
    Validation,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "run_before_move"


def every_key(typed: type) -> frozenset[str]:
    return typed.__required_keys__ | typed.__optional_keys__


def built_summary(tmp_path: Path) -> Summary:
    from tuning.planning.plan import make_plan
    from tuning.reports.summary import build_summary

    plan = make_plan(experiment(tmp_path, space={"n_estimators": [1, 2]}), "both", cluster())
    return build_summary(
        plan,
        both_results(),
        tiny_split(),
        tmp_path,
        status="complete",
        resumed=False,
        mismatched=[],
        fixed_costs={"ray_start_s": 1.0, "data_load_s": 0.5},
        search={"algorithm": "grid", "num_samples": 1},
    )


def test_the_builder_writes_exactly_the_required_keys(tmp_path):
    summary = built_summary(tmp_path)
    assert set(summary) == Summary.__required_keys__
    nested = {"counts": Counts, "parity": Parity, "cluster": Cluster, "split": SplitRecord}
    for key, typed in nested.items():
        assert set(summary[key]) == every_key(typed), key
    assert Estimator.__required_keys__ <= set(summary["estimator"]) <= every_key(Estimator)
    rows = [row for runner in summary["trials"].values() for row in runner]
    assert rows and all(set(row) == every_key(TrialRow) for row in rows)
    assert {"ray_start_s", "tune_s", "sequential_s", "speedup"} <= set(summary["timings"])
    assert set(summary["timings"]) <= every_key(Timings)
    phases = Phases(None)
    phases.begin("report")
    record = phases.record()
    assert set(record) <= every_key(Timings) and set(record["phases"][0]) == every_key(Phase)


def test_the_keys_the_run_adds_are_the_optional_ones():
    """What `tuning._experiment` sets on a built summary is declared, and only that is optional."""
    code = (ROOT / "tuning" / "_experiment.py").read_text()
    added = set(re.findall(r'summary\["(\w+)"\]\s*(?:,|=)', code))
    assert "best_model" in added and "tracking" in added
    assert added - Summary.__required_keys__ == Summary.__optional_keys__


def test_a_run_directorys_summary_reads_back_with_the_declared_keys():
    summary = read_summary(FIXTURE)
    assert summary is not None
    assert Summary.__required_keys__ <= set(summary) <= every_key(Summary)
    assert set(summary["timings"]) <= every_key(Timings)
    assert set(summary["search"]) <= every_key(Search)
    assert set(summary["counts"]) == every_key(Counts)
    assert summary["validation"] is None or set(summary["validation"]) <= every_key(Validation)
