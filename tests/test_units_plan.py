"""The plan and the summary: trials in run order, slots, shared fits, repeats; summary.json's records.

Unit tests of the modules that decide results, without Ray: each builds its `TrialSpec`,
`Plan` or results directly on a few hundred rows (`tests.units`); the mutation run
(docs/testing.md, "Mutation testing") selects them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.units import (
    GROWER,
    cluster,
    experiment,
    ok,
    result_of,
    tiny_split,
)
from tuning.errors import ExperimentError
from tuning.estimators.space import expand
from tuning.trial.fit import TrialSpec
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.validation import REPEAT_CHUNK


def test_a_random_plan_draws_with_the_experiments_seed(tmp_path):
    from tuning.planning.plan import make_plan, trials_in_run_order

    space = {"max_features": {"uniform": [0.1, 1.0]}}
    exp = experiment(tmp_path, space=space, search={"algorithm": "random", "num_samples": 3})
    configs = make_plan(exp, "tune", cluster()).configs
    assert list(configs) == expand(exp.space, 3, 201, "random") == trials_in_run_order(exp)


def test_a_cluster_that_names_no_node_gives_auto_one_cpu(tmp_path):
    from tuning.planning.cluster import Cluster
    from tuning.planning.plan import make_plan

    bare = Cluster("joined", 0, 8.0, 0.0, (), (), started_here=False)
    exp = experiment(tmp_path, space={"max_depth": [1, 2]}, resources={"num_cpus": "auto"})
    assert make_plan(exp, "sequential", bare).experiment.resources.num_cpus == 1.0


def test_a_plan_expands_the_trials_in_run_order_and_counts_them(tmp_path):
    from tuning.planning.plan import make_plan

    exp = experiment(tmp_path, space={"n_estimators": [4, 12, 8]}, search={"order": "largest_first"})
    plan = make_plan(exp, None, cluster())
    assert plan.runner == "tune" and plan.configs == (
        {"n_estimators": 12},
        {"n_estimators": 8},
        {"n_estimators": 4},
    )
    assert (plan.total, plan.configurations, plan.tune_trials, plan.groups) == (3, 3, 3, ())
    assert plan.runs_tune and not plan.runs_sequential and not plan.adaptive
    assert plan.spec == TrialSpec.from_experiment(exp) and plan.warnings == ()
    both = make_plan(exp, "both", cluster())
    assert both.runner == "both" and both.runs_tune and both.runs_sequential
    seq = make_plan(exp, "sequential", cluster())
    assert seq.runs_sequential and not seq.runs_tune


def test_an_adaptive_plan_has_no_configurations_but_its_count(tmp_path):
    from tuning.planning.plan import make_plan

    plan = make_plan(
        experiment(tmp_path, search={"algorithm": "optuna", "num_samples": 5}), "both", cluster()
    )
    assert plan.configs == () and plan.total == plan.configurations == plan.tune_trials == 5 and plan.adaptive
    with pytest.raises(ExperimentError, match=r"^runner must be tune or both"):
        make_plan(
            experiment(tmp_path, search={"algorithm": "optuna", "num_samples": 5}), "sequential", cluster()
        )


def test_slots_cores_waves_and_what_limits_them(tmp_path):
    from tuning.planning.plan import make_plan

    exp = experiment(tmp_path, space={"n_estimators": [1, 2, 3, 4, 5]}, resources={"num_cpus": 2})
    plan = make_plan(exp, "tune", cluster((5.0, 3.0)))
    assert (plan.slots, plan.tune_cores, plan.waves, plan.sequential_cores) == (3, 6.0, 2, 2)
    assert plan.limit() == "limited by CPUs: 8 CPUs, 2 per trial"
    few = make_plan(experiment(tmp_path, space={"n_estimators": [1, 2]}), "tune", cluster((4.0,)))
    assert (few.slots, few.waves, few.tune_cores) == (2, 1, 2.0) and few.limit() == "all of them"
    capped = experiment(
        tmp_path, space={"n_estimators": [1, 2, 3]}, resources={"num_cpus": 1, "max_concurrent_trials": 2}
    )
    plan = make_plan(capped, "tune", cluster((4.0,)))
    assert plan.slots == 2 and plan.limit() == "limited by resources.max_concurrent_trials=2"
    gpu = experiment(tmp_path, space={"n_estimators": [1, 2, 3]}, resources={"num_cpus": 1, "num_gpus": 0.5})
    plan = make_plan(gpu, "tune", cluster((4.0,), (1.0,)))
    assert plan.slots == 2 and plan.limit() == "limited by GPUs: 1 GPUs, 0.5 per trial"
    assert plan.warnings and plan.warnings[0].startswith("warning: resources.num_gpus is 0.5")
    assert make_plan(gpu, "sequential", cluster((4.0,), (1.0,))).warnings == ()
    cpu_bound = make_plan(gpu, "tune", cluster((1.0,), (1.0,)))  # 2 trials fit the GPU, 1 the CPUs
    assert cpu_bound.limit() == "limited by CPUs: 1 CPUs, 1 per trial"
    even = make_plan(gpu, "tune", cluster((2.0,), (1.0,)))  # 2 fit either way: the GPU is named
    assert even.limit() == "limited by GPUs: 1 GPUs, 0.5 per trial"
    loose = experiment(
        tmp_path, space={"n_estimators": [1, 2, 3]}, resources={"num_cpus": 1, "max_concurrent_trials": 8}
    )
    assert make_plan(loose, "tune", cluster((2.0,))).limit() == "limited by CPUs: 2 CPUs, 1 per trial"
    empty = replace(plan, cluster=cluster((0.5,)))
    assert empty.slots == 0 and empty.waves == 0


def test_a_trial_that_no_node_holds_is_refused_unless_the_run_is_sequential(tmp_path):
    from tuning.planning.plan import make_plan

    big = experiment(tmp_path, resources={"num_cpus": 8})
    with pytest.raises(ExperimentError, match=r"^resources\.num_cpus must be at most 4"):
        make_plan(big, "tune", cluster((4.0,)))
    # the sequential runner fits in this process: this machine's CPUs bound it, not a cluster's
    one = experiment(tmp_path, resources={"num_cpus": 1})
    joined = cluster((0.5,), here=False)
    assert make_plan(one, "sequential", joined).cluster == joined
    with pytest.raises(ExperimentError, match=r"at most 4, the CPUs of this machine, where the sequential"):
        make_plan(big, "sequential", cluster((4.0,)))


def test_auto_cpus_give_the_largest_trial_its_share_of_the_cores(tmp_path):
    from tuning.planning.plan import auto_cpus, make_plan

    sizes = [{"n_estimators": n} for n in range(8, 85, 4)]
    assert auto_cpus(sizes, 2, "n_estimators", 2) == 1 and auto_cpus(sizes, 16, "n_estimators", 16) == 2
    assert auto_cpus([{}] * 4, 16, "n_estimators", 16) == 4
    assert auto_cpus([{}] * 4, 16, "n_estimators", 3) == 3  # no more than a node has
    assert auto_cpus([{}] * 4, 16, "n_estimators", 0.5) == 1
    assert auto_cpus([{"n_estimators": 3}, {"n_estimators": 1}], 8, "n_estimators", 8) == 6
    assert auto_cpus([{"n_estimators": "x"}, {"n_estimators": -2}], 4, "n_estimators", 4) == 2
    assert auto_cpus([], 4, "n_estimators", 4) == 4 and auto_cpus([], 4, "n_estimators", 16) == 4
    assert auto_cpus([{"n_estimators": 3}, {}], 8, "n_estimators", 8) == 6  # no size: counts as 1
    assert auto_cpus([{"n_estimators": 3}, {"n_estimators": 0}], 8, "n_estimators", 8) == 6  # 0: as 1
    assert auto_cpus([{"n_estimators": 1.5}, {"n_estimators": 0.5}], 8, "n_estimators", 8) == 6
    assert auto_cpus([{"n_estimators": 3}, {"n_estimators": "x"}], 8, "n_estimators", 8) == 6
    exp = experiment(tmp_path, space={"max_depth": [1, 2]}, resources={"num_cpus": "auto"})
    plan = make_plan(exp, "tune", cluster((6.0,)))
    assert plan.experiment.resources.num_cpus == 3.0 and plan.spec.params["n_jobs"] == 3
    assert exp.resources.num_cpus == "auto"  # the experiment itself is left as it was
    optuna = experiment(
        tmp_path, search={"algorithm": "optuna", "num_samples": 2}, resources={"num_cpus": "auto"}
    )
    assert make_plan(optuna, "tune", cluster((6.0,))).experiment.resources.num_cpus == 3.0


def forests(tmp_path, share, **changes):
    space = {"n_estimators": [4, 8], "max_depth": [2, 3]}
    return experiment(tmp_path, space=space, search={"share_fits": share}, **changes)


def test_shared_fits_group_the_sizes_and_say_what_they_save(tmp_path):
    from tuning.planning.plan import make_plan

    plan = make_plan(forests(tmp_path, "auto"), "tune", cluster())
    assert [g.configs for g in plan.groups] == [
        ({"n_estimators": 4, "max_depth": 2}, {"n_estimators": 8, "max_depth": 2}),
        ({"n_estimators": 4, "max_depth": 3}, {"n_estimators": 8, "max_depth": 3}),
    ]
    assert [g.indices for g in plan.groups] == [(0, 2), (1, 3)]
    assert plan.share_note == "4 configurations from 2 fits: n_estimators 16 fitted instead of 24 (1.5x less)"
    assert plan.tune_trials == 2 and plan.total == 4
    off = make_plan(forests(tmp_path, False), "tune", cluster())
    assert off.groups == () and off.share_note == (
        "off (search.share_fits: false); with auto: 4 configurations from 2 fits: "
        "n_estimators 16 fitted instead of 24 (1.5x less)"
    )
    single = experiment(tmp_path, space={"n_estimators": [4, 8]}, search={"share_fits": True})
    assert make_plan(single, "tune", cluster()).share_note == (
        "2 configurations from 1 fit: n_estimators 8 fitted instead of 12 (1.5x less)"
    )
    one = experiment(tmp_path, space={"n_estimators": [1]}, search={"share_fits": True})
    assert make_plan(one, "tune", cluster()).share_note == (
        "1 configurations from 1 fit: n_estimators 1 fitted instead of 1 (1.0x less)"
    )


def test_why_fits_are_not_shared_is_a_note_unless_sharing_is_off(tmp_path):
    from tuning.planning.plan import make_plan

    lone = experiment(tmp_path, space={"max_depth": [2, 3]}, search={"share_fits": "auto"})
    assert make_plan(lone, "tune", cluster()).share_note == (
        "not shared: the space does not vary n_estimators, the forest size parameter"
    )
    off = experiment(tmp_path, space={"max_depth": [2, 3]})
    assert make_plan(off, "tune", cluster()).share_note is None
    distinct = experiment(
        tmp_path,
        space={"n_estimators": [4, 8]},
        search={"share_fits": "auto", "algorithm": "random", "num_samples": 1},
    )
    assert make_plan(distinct, "tune", cluster()).share_note == (
        "not shared: no two configurations differ only in n_estimators"
    )
    distinct_off = experiment(
        tmp_path, space={"n_estimators": [4, 8]}, search={"algorithm": "random", "num_samples": 1}
    )
    assert make_plan(distinct_off, "tune", cluster()).share_note is None


def repeated(tmp_path, sleep: float, repeats: int = 8, **changes):
    return experiment(
        tmp_path,
        estimator={"class": GROWER, "params": {"sleep": sleep}},
        space={"n_estimators": [1, 2]},
        split={"repeats": repeats},
        **changes,
    )


def test_repeats_are_grouped_into_chunks_of_every_configuration_in_order(tmp_path, grower_log):
    from tuning.planning.plan import group_repeats, make_plan

    plan = make_plan(repeated(tmp_path, 0.0, repeats=4), "tune", cluster())
    grouped, record = group_repeats(plan, tiny_split(), chunk=3)
    assert grouped.configs == (
        {"n_estimators": 1, REPEAT_CHUNK: 0},
        {"n_estimators": 1, REPEAT_CHUNK: 1},
        {"n_estimators": 2, REPEAT_CHUNK: 0},
        {"n_estimators": 2, REPEAT_CHUNK: 1},
    )
    assert grouped.total == 4 and grouped.configurations == 2 and grouped.spec.chunk == 3
    assert record == {
        "repeats": 4,
        "cv": None,
        "test_size": 0.2,
        "rows": "all",
        "chunk": 3,
        "trials_per_configuration": 2,
        "first_repeat_s": None,
    }
    assert grower_log == []  # a given chunk is not timed
    plain = make_plan(experiment(tmp_path), "tune", cluster())
    assert group_repeats(plain, tiny_split()) == (plain, None)


def test_one_repeat_is_timed_warm_when_it_is_fast(tmp_path, monkeypatch, grower_log):
    from tuning.planning import plan as planning

    plan = planning.make_plan(repeated(tmp_path, 0.02), "tune", cluster())
    grouped, record = planning.group_repeats(plan, tiny_split())
    assert [e[:2] for e in grower_log if e[0] == "fit"] == [("fit", 1), ("fit", 1)]  # timed twice
    assert 0.02 <= record["first_repeat_s"] < 0.5 and record["chunk"] == 8
    assert record["trials_per_configuration"] == 1 and len(grouped.configs) == 2
    grower_log.clear()
    monkeypatch.setattr(planning, "TRIAL_SECONDS", 0.01)  # now one repeat is a long one
    grouped, record = planning.group_repeats(plan, tiny_split())
    assert len([e for e in grower_log if e[0] == "fit"]) == 1 and record["first_repeat_s"] >= 0.02


def test_an_adaptive_search_runs_every_repeat_of_a_configuration_in_one_trial(tmp_path):
    from tuning.planning.plan import group_repeats, make_plan

    exp = repeated(tmp_path, 0.0, repeats=3, search={"algorithm": "optuna", "num_samples": 2})
    plan = make_plan(exp, "tune", cluster())
    assert group_repeats(plan, tiny_split()) == (
        plan,
        {
            "repeats": 3,
            "cv": None,
            "test_size": 0.2,
            "rows": "all",
            "chunk": 3,
            "trials_per_configuration": 1,
        },
    )


def test_the_grouping_line_says_how_the_repeats_run():
    from tuning.planning.plan import grouping_line

    record = {"repeats": 100, "trials_per_configuration": 2, "chunk": 50, "first_repeat_s": 0.009}
    assert grouping_line(record) == (
        "Repeats:       100 per configuration in 2 trials of 50 (one repeat took 9 ms; >= 0.5 s a trial)"
    )
    slow = {"repeats": 4, "trials_per_configuration": 4, "chunk": 1, "first_repeat_s": 0.9}
    assert grouping_line(slow).endswith("of 1 (one repeat took 900 ms; >= 0.5 s a trial)")
    one = {"repeats": 3, "trials_per_configuration": 1, "chunk": 3, "first_repeat_s": None}
    assert grouping_line(one) == "Repeats:       3 per configuration in 1 trial"


def both_results():
    seq = result_of(
        "sequential",
        ok(1, 0.5, started_at=0.0, ended_at=2.0),
        ok(2, 0.25, started_at=0.0, ended_at=4.0),
        wall=8.0,
    )
    tune = RunnerResult(
        "tune",
        [
            TrialResult(
                "t1", {"n": 1}, {"mse": 0.5, "started_at": 0.0, "ended_at": 3.0}, retries=1, path="/r/t1"
            ),
            TrialResult("t2", {"n": 2}, {"mse": 0.25, "started_at": 0.0, "ended_at": 3.0}, path="/r/t2"),
        ],
        2.0,
        4.0,
    )
    return {"sequential": seq, "tune": tune}


def test_timings_give_speedup_and_efficiency_from_the_baselines_trial_times():
    from tuning.reports.summary import timings

    out = timings(both_results(), 1.5, 0.25)
    assert out == {
        "ray_start_s": 1.5,
        "data_load_s": 0.25,
        "sequential_s": 8.0,
        "tune_s": 2.0,
        "cores": 4.0,
        "ideal_s": 1.5,  # the baseline's 6 s of trials on 4 cores
        "efficiency": 0.75,
        "speedup": 4.0,
    }
    alone = timings({"tune": both_results()["tune"]}, None, None)
    assert alone["ideal_s"] == 1.5 and alone["efficiency"] == 0.75 and "speedup" not in alone
    assert timings({"sequential": both_results()["sequential"]}, None, 0.5) == {
        "ray_start_s": None,
        "data_load_s": 0.5,
        "sequential_s": 8.0,
    }
    no_cores = {"sequential": both_results()["sequential"], "tune": result_of("tune", wall=2.0, cores=0.0)}
    assert timings(no_cores, None, None)["efficiency"] is None
    idle = {"sequential": both_results()["sequential"], "tune": result_of("tune", wall=0.0, cores=0.0)}
    out = timings(idle, None, None)
    assert out["ideal_s"] is None and out["efficiency"] is None and "speedup" not in out


def test_counts_and_best_record_follow_the_metrics_direction():
    from tuning.reports.summary import best_record, counts

    results = both_results()
    errored = TrialResult("e", {"n": 3}, error="E", retries=2)
    assert counts([*results["tune"].trials, errored]) == {"trials": 3, "ok": 2, "error": 1, "retries": 3}
    assert counts(results["tune"].trials, 5)["trials"] == 5
    assert best_record(results, "mse", "min") == {
        "runner": "tune",
        "trial": "t2",
        "config": {"n": 2},
        "mse": 0.25,
    }
    assert best_record(results, "mse", "max")["trial"] == "t1"
    only_seq = {"sequential": results["sequential"], "tune": result_of("tune", errored)}
    assert best_record(only_seq, "mse", "min")["runner"] == "sequential"
    assert best_record({"tune": result_of("tune", errored)}, "mse", "min") is None


def test_a_trial_record_keeps_its_metrics_spreads_and_where_it_ran():
    from tuning.reports.summary import trial_record

    metrics = {
        "mse": 0.5,
        "mse_std": 0.1,
        "mse_repeats": [0.4, 0.6],
        "r2": 0.9,
        "fit_time_s": 0.2,
        "budget": 8,
        "step": 2,
        "chunks": 1,
        "training_iteration": 3,
        "started_at": 1.0,
        "ended_at": 2.5,
        "node_id": "n",
        "model": "Ridge",
        "node_ip": "10.0.0.2",
        "hostname": "h",
        "pid": 42,
        "gpu_ids": "0",
        "cuda_visible_devices": "0",
    }
    trial = TrialResult("t", {"n": 1}, metrics, retries=1, path="/p")
    record = trial_record(trial, ("mse",))
    assert record == {
        "name": "t",
        "config": {"n": 1},
        "status": "ok",
        "metrics": {
            k: metrics[k] for k in ("mse", "mse_std", "mse_repeats", "fit_time_s", "budget", "step", "chunks")
        },
        "duration_s": 1.5,
        "started_at": 1.0,
        "ended_at": 2.5,
        "node_id": "n",
        "node_ip": "10.0.0.2",
        "hostname": "h",
        "pid": 42,
        "gpu_ids": "0",
        "cuda_visible_devices": "0",
        "retries": 1,
        "error": None,
        "path": "/p",
        "model": "Ridge",
    }
    assert "r2" in trial_record(trial)["metrics"]  # the four regression metrics by default
    failed = trial_record(TrialResult("f", {}, error="E"))
    assert (failed["status"], failed["duration_s"], failed["error"]) == ("error", None, "E")


def test_an_evaluation_record_names_its_splits_and_strategy(tmp_path):
    from tuning.planning.plan import make_plan
    from tuning.reports.summary import evaluation_record, evaluation_strategy, recorded_metrics

    assert evaluation_strategy(10, 5) == "10 x repeated 5-fold CV"
    assert evaluation_strategy(30, None) == "Monte Carlo CV over 30 splits"
    assert (
        evaluation_strategy(None, 5) == "5-fold CV"
        and evaluation_strategy(None, None) == "one hold-out split"
    )
    exp = experiment(tmp_path, space={}, split={"repeats": 3, "cv": 2}, metrics=["mse", "r2"])
    plan = make_plan(exp, "tune", cluster())
    trial = ok(0, 0.5, mse_std=0.1, r2=0.25, mae=1.0)
    shown = result_of("tune", TrialResult("e", {}, error="E"), trial)
    assert evaluation_record(plan, shown) == {
        "estimator": "RandomForestRegressor",
        "splits": 6,
        "strategy": "3 x repeated 2-fold CV",
        "metrics": {"mse": 0.5, "r2": 0.25},
        "std": {"mse": 0.1},
    }
    assert evaluation_record(plan, result_of("tune", TrialResult("e", {}, error="E"))) is None
    monte = make_plan(experiment(tmp_path, space={}, split={"repeats": 3}), "tune", cluster())
    assert evaluation_record(monte, shown)["splits"] == 3
    folds = replace(plan, spec=replace(plan.spec, repeats=None, cv=4))
    assert evaluation_record(folds, shown)["splits"] == 4
    hold_out = replace(plan, spec=replace(plan.spec, repeats=None, cv=None))
    assert evaluation_record(hold_out, shown)["splits"] == 1
    assert recorded_metrics({"metrics": ["accuracy"]}) == ["accuracy"]
    assert recorded_metrics({}) == ["mse", "rmse", "mae", "r2"]


def test_the_summary_holds_the_run_and_reads_back(tmp_path):
    from tuning.planning.plan import make_plan
    from tuning.reports.summary import build_summary, write_summary
    from tuning.run_files import read_summary

    plan = make_plan(experiment(tmp_path, space={"n_estimators": [1, 2]}), "both", cluster())
    results = both_results()
    split = tiny_split()
    summary = build_summary(
        plan,
        results,
        split,
        tmp_path,
        status="complete",
        resumed=True,
        mismatched=['{"n": 2}'],
        **SUMMARY_COSTS,
    )
    assert {k: summary[k] for k in ("experiment", "run_dir", "runner", "metric", "mode", "metrics")} == {
        "experiment": "small",
        "run_dir": str(tmp_path),
        "runner": "both",
        "metric": "mse",
        "mode": "min",
        "metrics": ["mse", "rmse", "mae", "r2"],
    }
    assert (summary["status"], summary["resumed"], summary["evaluation"]) == ("complete", True, None)
    assert summary["best"] == {"runner": "tune", "trial": "t2", "config": {"n": 2}, "mse": 0.25}
    assert (
        summary["counts"] == {"trials": 2, "ok": 2, "error": 0, "retries": 1} and summary["unfinished"] == 0
    )
    assert summary["parity"] == {"identical": False, "differing": ['{"n": 2}']}
    assert summary["search"] == {"algorithm": "grid"} and summary["timings"]["speedup"] == 4.0
    arrays = (split.X_train, split.y_train, split.X_test, split.y_test)  # numeric: their bytes, in order
    assert summary["split"] == {
        "train_rows": 150,
        "test_rows": 50,
        "features": ["a", "b", "c"],
        "target": "y",
        "categorical": [],
        "sha256": hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest(),
    }
    assert summary["cluster"] == {"address": "local", "nodes": 1, "cpus": 4.0, "gpus": 0.0}
    assert summary["estimator"] == {"class": plan.spec.estimator, "fixed_params": plan.spec.params}
    assert [t["path"] for t in summary["trials"]["tune"]] == ["/r/t1", "/r/t2"]
    assert [t["path"] for t in summary["trials"]["sequential"]] == [None, None]
    assert summary["versions"]["python"] and summary["created"][:2] == "20"
    write_summary(tmp_path, summary)
    assert read_summary(tmp_path) == json.loads(json.dumps(summary)) and read_summary(tmp_path / "no") is None


SUMMARY_COSTS = {"fixed_costs": {"ray_start_s": 1.0, "data_load_s": 0.5}, "search": {"algorithm": "grid"}}


def summary_of(plan, results, status="complete", mismatched=()):
    from tuning.reports.summary import build_summary

    return build_summary(
        plan,
        results,
        tiny_split(),
        Path("/r"),
        status=status,
        resumed=False,
        mismatched=list(mismatched),
        **SUMMARY_COSTS,
    )


def test_the_summary_compares_only_two_runners_and_names_no_best_for_an_evaluation(tmp_path):
    from tuning.planning.plan import make_plan

    plan = make_plan(experiment(tmp_path, space={"n_estimators": [1, 2]}), "both", cluster())
    results = both_results()
    one = summary_of(plan, {"tune": results["tune"]}, status="interrupted")
    assert one["parity"] is None and one["status"] == "interrupted" and not one["resumed"]
    assert summary_of(plan, results)["parity"] == {"identical": True, "differing": []}
    from tuning.reports.summary import trial_record

    assert set(summary_of(plan, results)["trials"]["tune"][0]) == set(trial_record(results["tune"].trials[0]))
    mse_only = make_plan(
        experiment(tmp_path, space={"n_estimators": [1]}, metrics=["mse"]), "tune", cluster()
    )
    recorded = summary_of(mse_only, {"tune": result_of("tune", ok(1, 0.5, rmse=0.7))})["trials"]["tune"]
    assert recorded[0]["metrics"] == {"mse": 0.5}  # what the plan's trials record, not the defaults
    short = summary_of(plan, {"sequential": result_of("sequential", ok(1, 0.5))}, status="interrupted")
    assert short["unfinished"] == 1 and short["best"]["runner"] == "sequential"
    assert short["counts"]["trials"] == 2  # the plan's configurations, not the trials that ran
    evaluation = make_plan(experiment(tmp_path, space={}, split={"repeats": 2}), "tune", cluster())
    alone = summary_of(evaluation, {"tune": results["tune"]})
    assert alone["best"] is None and alone["evaluation"]["strategy"] == "Monte Carlo CV over 2 splits"


def test_a_choice_gets_no_gpu_warning_of_one_class_and_a_pipeline_is_evaluated_by_its_steps(tmp_path):
    from tuning.planning.plan import make_plan
    from tuning.reports.summary import evaluation_record

    gpus = {"num_cpus": 1, "num_gpus": 0.5}
    one = experiment(tmp_path, estimator={"class": GROWER}, space={"n_estimators": [1]}, resources=gpus)
    assert make_plan(one, "tune", cluster((4.0,), (1.0,))).warnings  # a CPU-only class on a GPU
    branches = {"a": {"class": GROWER, "space": {"n_estimators": [1]}}, "b": {"class": GROWER, "space": {}}}
    chosen = experiment(tmp_path, estimator={"choice": branches}, space={}, resources=gpus)
    assert make_plan(chosen, "tune", cluster((4.0,), (1.0,))).warnings == ()
    steps = [{"name": "scale", "class": "sklearn.preprocessing.StandardScaler"}, {"class": GROWER}]
    piped = experiment(tmp_path, estimator={"steps": steps}, space={}, split={"repeats": 2})
    record = evaluation_record(make_plan(piped, "tune", cluster()), result_of("tune", ok(0, 0.5)))
    assert record["estimator"] == "scale=StandardScaler > grower=Grower"
