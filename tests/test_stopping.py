"""``search.stop``: the rule (fast), bad input through the CLI, and each rule stopping a run."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from decimal import Decimal
from time import monotonic

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import assert_rejected, cli, write
from tests.test_dry_run import NO_RAY_INIT
from tuning import stopping
from tuning._experiment import run_experiment
from tuning.config import validate
from tuning.run import main
from tuning.stopping import StopRule, duration_text, parse_duration, stopped_text


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("20m", 1200), ("1h", 3600), ("1.5h", 5400), (45, 45), ("30", 30)]
)
def test_durations_parse_to_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "20 minutes", "-5m", 0, -1, True, "0s"])
def test_bad_durations_are_refused(bad):
    with pytest.raises(ValueError, match="must be"):
        parse_duration(bad)


def test_durations_read_back_in_their_unit():
    assert [duration_text(s) for s in (1200, 3600, 90, 5400, 2)] == ["20m", "1h", "1.5m", "1.5h", "2s"]


def test_the_trial_cap_counts_failed_trials_too():
    rule = StopRule("mse", "min", trials=3)
    assert rule.add(1.0) is None and rule.add(None) is None
    assert rule.add(2.0) == "trial cap 3 reached"


def test_a_plateau_counts_trials_since_the_best():
    rule = StopRule("r2", "max", plateau=2)
    assert [rule.add(s) for s in (0.5, 0.7, 0.6)] == [None, None, None]
    assert rule.add(0.7) == "no improvement in 2 trials (plateau) after 4 trials"


@pytest.mark.parametrize(("mode", "scores"), [("min", [0.9, 0.4]), ("max", [0.1, 0.9])])
def test_a_target_is_reached_in_the_metric_direction(mode, scores):
    rule = StopRule("m", mode, target=0.5)
    assert rule.add(scores[0]) is None
    assert rule.add(scores[1]).startswith("target 0.5 reached after 2 trials")


@pytest.mark.parametrize("mode", ["min", "max"])
def test_a_score_exactly_at_the_target_stops_and_one_just_short_does_not(mode):
    short = 0.5 + 1e-9 if mode == "min" else 0.5 - 1e-9
    rule = StopRule("m", mode, target=0.5)
    assert rule.add(short) is None
    assert rule.add(0.5) == "target 0.5 reached after 2 trials (best 0.5)"


@pytest.mark.parametrize("mode", ["min", "max"])
def test_a_nan_score_reaches_no_target(mode):
    rule = StopRule("m", mode, target=0.5)
    assert rule.add(float("nan")) is None and rule.best is None
    assert rule.add(0.5).startswith("target 0.5 reached after 2 trials")


def test_the_time_budget_and_the_first_reason_is_kept():
    rule = StopRule("mse", "min", time=60, trials=5, started=monotonic() - 61)
    assert rule.check() == "time budget 1m reached after 0 trials"
    rule.add(1.0)
    assert rule.check() == "time budget 1m reached after 0 trials"


def test_only_strings_and_numbers_are_durations_and_any_positive_one_counts():
    with pytest.raises(ValueError, match="must be a duration like"):
        parse_duration(Decimal("5"))  # reads as "5", but is neither a string nor a number
    assert (parse_duration(1), parse_duration("0.5s"), parse_duration(0.25)) == (1.0, 0.5, 0.25)
    with pytest.raises(ValueError) as refused:
        parse_duration("0m")
    assert str(refused.value) == "must be greater than 0 (a duration like 90s, 20m, 1h)"


def test_a_duration_under_one_unit_reads_in_the_next_smaller_one():
    assert [duration_text(s) for s in (1800, 43200, 30, 0.5)] == ["30m", "12h", "30s", "0.5s"]


def test_one_trial_is_one_trial_in_every_reason():
    assert StopRule("m", "min", target=1.0).add(0.5) == "target 1 reached after 1 trial (best 0.5)"
    rule = StopRule("m", "min", plateau=1)
    assert rule.add(0.5) is None and rule.add(0.7) == "no improvement in 1 trial (plateau) after 2 trials"


def test_the_rule_of_an_experiment_has_each_of_its_settings(tmp_path):
    stop = {"time": "20m", "trials": 5, "plateau": 3, "target": 0.5}
    raw = experiment_dict(
        tmp_path, metric="r2", search={"stop": stop}, space={"n_estimators": list(range(1, 7))}
    )
    rule = StopRule.from_experiment(validate(raw))
    assert (rule.metric, rule.mode, rule.time, rule.trials, rule.plateau, rule.target) == (
        "r2",
        "max",
        1200.0,
        5,
        3,
        0.5,
    )
    assert StopRule.from_experiment(validate(experiment_dict(tmp_path))) is None


def test_the_time_budget_is_reached_at_its_exact_second(monkeypatch):
    monkeypatch.setattr(stopping, "monotonic", lambda: 100.0)
    assert StopRule("m", "min", time=10.0, started=90.0).check() == "time budget 10s reached after 0 trials"
    assert StopRule("m", "min", time=10.5, started=90.0).check() is None


def test_a_stopped_summary_reads_as_one_line():
    assert stopped_text({"reason": "trial cap 3 reached", "unrun_count": 1, "unrun": [{}, {}]}) == (
        "trial cap 3 reached; 1 configuration never ran"
    )
    assert stopped_text({"reason": "r", "unrun": [{"n": 1}, {"n": 2}]}) == "r; 2 configurations never ran"
    assert stopped_text({"reason": "r", "unrun": None}) == "r; 0 configurations never ran"


STOP_BAD = [
    ({"time": "soon"}, "search.stop.time must be a duration like 90s, 20m, 1h, or seconds as a number"),
    ({"time": 0}, "search.stop.time must be greater than 0"),
    ({"time": "-5m"}, "search.stop.time must be a duration"),
    ({"trials": 0}, "search.stop.trials must be greater than 0; got 0"),
    ({"target": -1}, "search.stop.target must be a mse the search can reach (at least 0"),
    ({"plateau": 3}, "search.stop.plateau must be less than the search's 3 trials"),
    ({"plateau": -2}, "search.stop.plateau must be greater than 0"),
]


@pytest.mark.parametrize(("stop", "message"), STOP_BAD, ids=[m[12:50] for _, m in STOP_BAD])
def test_bad_stop_rules_are_refused(tmp_path, stop, message):
    path = write(tmp_path, experiment_dict(tmp_path, search={"stop": stop}))
    assert_rejected(cli("tuning.run", str(path)), message, tmp_path)


def test_an_r2_target_above_one_is_refused(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path, metric="r2", search={"stop": {"target": 1.2}}))
    assert_rejected(
        cli("tuning.run", str(path)),
        "search.stop.target must be a r2 the search can reach (at most 1",
        tmp_path,
    )


def sleepy(tmp_path, stop: dict, sleep: float = 0.05, **changes) -> dict:
    """Six tiny trials (mse about 1.3, growing with n_estimators: the first is best), stopped by ``stop``."""
    return experiment_dict(
        tmp_path,
        estimator={"class": "tests.helpers.SleepyRegressor", "params": {"sleep": sleep}},
        space={"n_estimators": [1, 2, 3, 4, 5, 6]},
        search={"stop": stop},
        refit=False,
        **changes,
    )


def stopped_run(tmp_path, raw: dict, runner: str) -> tuple[dict, str]:
    lines: list[str] = []
    summary = run_experiment(validate(raw), runner, echo=lines.append)
    saved = json.loads((tmp_path / "results").glob("*/*/summary.json").__next__().read_text())
    assert saved["status"] == "complete" and saved["unfinished"] == 0
    assert saved["stopped"] == summary["stopped"]
    assert not any(t["status"] != "ok" for r in saved["trials"].values() for t in r), (
        "unrun trials are not errors"
    )
    return saved, "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["sequential", "tune"])
def test_a_trial_cap_stops_each_runner(ray_session, tmp_path, runner):
    raw = sleepy(tmp_path, {"trials": 2}, sleep=0.5, resources={"num_cpus": 2})  # two at a time in Tune
    summary, text = stopped_run(tmp_path, raw, runner)
    assert summary["stopped"]["reason"] == "trial cap 2 reached"
    ran = len(summary["trials"][runner])
    assert 2 <= ran < 6 and summary["stopped"]["unrun_count"] == 6 - ran
    assert f"Stopped:       trial cap 2 reached; {6 - ran} configurations never ran" in text


@pytest.mark.slow
def test_a_target_reached_by_the_first_trial_stops_both_runners(ray_session, tmp_path):
    raw = sleepy(tmp_path, {"target": 5}, sleep=0.3, resources={"num_cpus": 4})  # one at a time
    summary, text = stopped_run(tmp_path, raw, "both")
    reasons = summary["stopped"]["runners"]
    assert set(reasons) == {"sequential", "tune"}
    assert all(r.startswith("target 5 reached after") for r in reasons.values())
    assert len(summary["trials"]["sequential"]) == 1, "the baseline checks between trials"
    assert summary["parity"] == {"identical": True, "differing": []}
    assert "Stopped:       target 5 reached after" in text


@pytest.mark.slow
def test_a_plateau_stops_the_baseline(ray_session, tmp_path):
    summary, text = stopped_run(tmp_path, sleepy(tmp_path, {"plateau": 2}), "sequential")
    assert summary["stopped"]["reason"] == "no improvement in 2 trials (plateau) after 3 trials"
    assert summary["stopped"]["unrun"] == [{"n_estimators": n} for n in (4, 5, 6)]
    assert "3 configurations never ran" in text


@pytest.mark.slow
def test_a_time_budget_stops_both_runners(ray_session, tmp_path):
    """Six trials of 0.8 s, one at a time, cannot finish in 2 s: some never run (on any machine)."""
    raw = sleepy(tmp_path, {"time": "2s"}, sleep=0.8, resources={"num_cpus": 4})
    summary, text = stopped_run(tmp_path, raw, "both")
    for runner, reason in summary["stopped"]["runners"].items():
        assert reason.startswith("time budget 2s reached after"), reason
        assert len(summary["trials"][runner]) < 6
    assert summary["stopped"]["unrun_count"] >= 1
    assert "Stopped:       time budget 2s reached" in text


@pytest.mark.slow
def test_a_stopped_run_resumes_only_with_a_new_budget(ray_session, tmp_path, capsys):
    """Both runners stop after 2 of 6; --resume says the run is complete; a new cap runs 2 more
    of the unrun ones; a large time budget runs the rest, and the runners agree on all six."""
    raw = sleepy(tmp_path, {"trials": 2}, sleep=0.3, resources={"num_cpus": 4}, runner="both")
    assert main([str(write(tmp_path, raw))]) == 0
    (run_dir,) = (tmp_path / "results").glob("*/*")
    capsys.readouterr()
    assert main(["--resume", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "has nothing to resume: the run is complete, stopped by search.stop (trial cap 2 reached" in err
    assert "--set search.stop.time=10m" in err and len(err.strip().splitlines()) == 1

    assert main(["--resume", str(run_dir), "--set", "search.stop.trials=2"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["resumed"] and summary["stopped"]["runners"]["sequential"] == "trial cap 2 reached"
    assert len(summary["trials"]["sequential"]) == 4, "2 kept, then 2 more under the new cap"
    assert 4 <= len(summary["trials"]["tune"]) < 6
    assert "Stopped:       trial cap 2 reached; " in capsys.readouterr().out

    assert main(["--resume", str(run_dir), "--set", "search.stop.time=1h"]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and "stopped" not in summary
    assert [len(rows) for rows in summary["trials"].values()] == [6, 6]
    assert summary["parity"] == {"identical": True, "differing": []}
    assert "Stopped:" not in capsys.readouterr().out


def test_a_new_budget_is_refused_for_a_run_that_was_not_stopped(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "experiment.yaml").write_text(
        yaml.safe_dump({**experiment_dict(tmp_path), "runner": "tune", "metric": "mse", "mode": "min"})
    )
    result = cli("tuning.run", "--resume", str(run_dir), "--set", "search.stop.time=10m")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "--set search.stop.* continues only a run that search.stop ended" in result.stderr


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        (
            {"stop": {"time": "1h"}},
            "Time budget: 1h; 3 fits take about 1s at 1 trial at a time (rough: 2 timed fits",
        ),
        (
            {"algorithm": "optuna", "num_samples": 3, "stop": {"time": 90}},
            "Time budget: 1.5m; cannot estimate: optuna proposes its trials as it runs",
        ),
    ],
    ids=["estimated", "adaptive"],
)
def test_the_dry_run_estimates_a_time_budget_without_ray(tmp_path, search, expected):
    path = write(tmp_path, experiment_dict(tmp_path, search=search))
    result = subprocess.run(
        [sys.executable, "-c", NO_RAY_INIT, str(path), "--dry-run", "--num-cpus", "1"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stdout
    if "stop" in search and "algorithm" not in search:  # three forests of <= 12 trees fit in an hour
        assert "Time budget: 1h; 3 fits take about" in result.stdout
        assert result.stdout.count("likely to finish all 3") == 1
    assert not (tmp_path / "results").exists()


@given(
    st.lists(st.one_of(st.none(), st.floats(0, 1), st.just(float("nan"))), max_size=10),
    st.sampled_from(["min", "max"]),
    st.floats(0, 1),
)
def test_a_target_stops_where_a_plain_reference_does(scores, mode, target):
    rule = StopRule("m", mode, target=target)
    reasons = [rule.add(s) for s in scores]
    reached = [
        s is not None and not math.isnan(s) and (s <= target if mode == "min" else s >= target)
        for s in scores
    ]
    expected = reached.index(True) if True in reached else None
    stopped = next((i for i, r in enumerate(reasons) if r is not None), None)
    assert stopped == expected
