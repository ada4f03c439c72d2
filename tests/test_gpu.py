"""GPU estimators on CPU-only machines: which fits use a GPU, the plan's warning, and XGBoost
trials on a logical GPU (Ray's assignment recorded per trial). The GPU run itself is
benchmarks/gpu.py, on a machine with one."""

from __future__ import annotations

import json

import pytest

from tests.conftest import experiment_dict
from tests.test_cli import cli
from tests.test_dry_run import cluster
from tuning.config import validate
from tuning.estimators.families import why_not_shared
from tuning.estimators.gpu import uses_gpu
from tuning.planning.dry_run import describe
from tuning.planning.plan import make_plan

LABEL = "the GPU is a scheduling label"
UNRESERVED = "Ray reserves none"
XGB = {"class": "xgboost.XGBRegressor", "params": {"device": "cuda", "tree_method": "hist", "max_depth": 2}}


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("xgboost.XGBRegressor", {"device": "cuda"}, True),
        ("xgboost.XGBClassifier", {"device": "gpu"}, True),
        ("xgboost.XGBRegressor", {"device": "cuda:1"}, True),
        ("xgboost.XGBRegressor", {"device": "cpu"}, False),
        ("xgboost.XGBRegressor", {}, False),
        ("lightgbm.LGBMRegressor", {"device": "gpu"}, True),
        ("lightgbm.LGBMRegressor", {"device_type": "cuda"}, True),
        ("lightgbm.LGBMRegressor", {"device_type": "cpu", "device": "gpu"}, False),  # device_type wins
        ("catboost.CatBoostRegressor", {"task_type": "GPU"}, True),
        ("cuml.ensemble.RandomForestRegressor", {}, True),
        ("sklearn.ensemble.RandomForestRegressor", {"device": "cuda"}, False),
    ],
)
def test_which_estimators_fit_on_a_gpu(path, params, expected):
    assert uses_gpu(path, params) is expected


@pytest.mark.parametrize(
    ("estimator", "space", "num_gpus", "runner", "expected"),
    [
        pytest.param(None, None, 0.25, "tune", LABEL, id="forest-with-gpus"),
        pytest.param(XGB, None, 0.25, "tune", None, id="xgboost-cuda-with-gpus"),
        pytest.param(XGB, None, 0, "tune", UNRESERVED, id="xgboost-cuda-without-gpus"),
        pytest.param(None, None, 0, "tune", None, id="forest-without-gpus"),
        # the sequential runner with GPUs this machine lacks is refused: test_refusals.py
        pytest.param(
            {**XGB, "params": {"max_depth": 2}},
            {"device": ["cpu", "cuda"], "n_estimators": [2]},
            0.5,
            "tune",
            None,
            id="a-searched-device",
        ),
    ],
)
def test_the_plan_warns_when_gpus_and_the_estimator_disagree(
    tmp_path, estimator, space, num_gpus, runner, expected
):
    changes = {"resources": {"num_cpus": 1, "num_gpus": num_gpus}}
    changes.update({"estimator": estimator} if estimator else {})
    changes.update({"space": space} if space else {})
    plan = make_plan(validate(experiment_dict(tmp_path, **changes)), runner, cluster())
    warnings = [line for line in describe(plan).splitlines() if line.startswith("warning: ")]
    assert warnings == list(plan.warnings)
    if expected is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and expected in warnings[0]


def test_the_dry_run_of_rf_gpu_says_the_gpu_is_a_label():
    result = cli("tuning.run", "experiments/rf_gpu.yaml", "--dry-run", "--num-gpus", "1", "--num-cpus", "4")
    assert result.returncode == 0, result.stderr
    assert (
        "warning: resources.num_gpus is 0.25 but sklearn.ensemble.RandomForestRegressor computes on CPUs "
        "only: the GPU is a scheduling label" in result.stdout
    )
    gpu = cli("tuning.run", "experiments/xgb_gpu.yaml", "--dry-run", "--num-gpus", "1", "--num-cpus", "4")
    assert gpu.returncode == 0, gpu.stderr
    assert "warning" not in gpu.stdout + gpu.stderr
    assert "Ray Tune:    4 trials at a time (limited by GPUs: 1 GPUs, 0.25 per trial), 9 waves" in gpu.stdout


def test_xgboost_on_a_gpu_still_shares_fits():
    """The device changes where the rounds are built, not that the first n are the n-round model."""
    from xgboost import XGBRegressor  # optional: the test extra installs xgboost-cpu

    params = {**XGBRegressor().get_params(), "device": "cuda", "tree_method": "hist", "random_state": 1}
    assert why_not_shared(XGBRegressor, params) is None


@pytest.mark.slow
def test_xgboost_trials_on_a_logical_gpu_record_what_ray_assigned(tmp_path):
    """xgb_gpu.yaml, shrunk, on CPUs (device=cpu) with one logical GPU: 0.25 GPU a trial, and
    each trial records the GPU Ray assigned and the CUDA_VISIBLE_DEVICES its worker saw."""
    result = cli(
        "tuning.run",
        "experiments/xgb_gpu.yaml",
        "--num-gpus", "1",
        "--num-cpus", "2",
        "--set", f"storage_path={tmp_path}",
        "--set", "estimator.params.device=cpu",
        "--set", "space.max_depth=[2]",
        "--set", "space.learning_rate=[0.3]",
        "--set", "space.n_estimators=[4, 8]",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "computes on CPUs only: the GPU is a scheduling label" in result.stdout  # device=cpu
    (run_dir,) = (tmp_path / "xgb_gpu").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    trials = summary["trials"]["tune"]
    assert summary["status"] == "complete" and len(trials) == 2
    for trial in trials:
        assert trial["gpu_ids"] == "0"  # the one logical GPU: Ray's assignment
        assert trial["cuda_visible_devices"] == trial["gpu_ids"]  # what the trial's worker saw
    assert "Traceback" not in result.stderr


def test_the_gpu_benchmark_parses_its_arguments_and_renders_its_table(capsys):
    """benchmarks/gpu.py on CPU: ``--dry-run`` prints each variant's command and a table of
    made-up figures; a runner whose CPU and GPU disagree fails the checks (exit 1)."""
    from benchmarks import gpu

    assert gpu.main(["--dry-run", "--set", "space.max_depth=[2]"]) == 0
    out = capsys.readouterr().out
    assert "--set=resources.num_gpus=0.25" in out and "--set=space.max_depth=[2]" in out
    assert "--set=estimator.params.device=cpu" in out and "benchmarks.gpu --loop" in out
    rows = [line for line in out.splitlines() if line.startswith("| tune_") or line.startswith("| loop_")]
    assert [row.split(" | ")[0] for row in rows] == [f"| {v}" for v in gpu.VARIANTS]

    def disagreeing(variant, storage, overrides=()):
        run = gpu.fake_run(variant, storage, overrides)
        if variant == "tune_cpu":  # the CPU's best is another configuration, 50% off
            run["mse"] = {k: v * (1.5 if v == 0.2 else 1.0) for k, v in run["mse"].items()}
        return run

    assert gpu.main(["--repeats", "2"], runner=disagreeing) == 1
    out = capsys.readouterr().out
    assert "- FAILED: one best configuration on CPU and GPU" in out
    assert "- FAILED: CPU vs GPU MSE, largest relative difference 5.00e-01 <= 0.01" in out
