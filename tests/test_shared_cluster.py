"""Shared clusters and shared storage: file modes, autoscaling clusters, TLS, versions, node loss.

The clusters are `tests.test_cluster.RayCluster`: ``ray start`` nodes on this machine in
private temp dirs, each node its own process group, stopped by this test.
"""

from __future__ import annotations

import os
import platform
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import tuning.cluster as cluster_module
from tests.conftest import ROOT, experiment_dict
from tests.test_cli import write
from tuning.cluster import WAIT_ENV, Cluster, bundle_in, check_fits, cluster_wait_s, connect
from tuning.config import ResourcesConfig
from tuning.errors import ExperimentError
from tuning.results import write_atomic, write_json
from tuning.run import parse_args

# --------------------------------------------------------------------------- file modes


def _modes(run_dir: Path) -> dict[str, str]:
    """``relative path -> octal mode`` of every file and folder under ``run_dir``."""
    return {
        str(p.relative_to(run_dir)): oct(stat.S_IMODE(p.stat().st_mode)) for p in sorted(run_dir.rglob("*"))
    }


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_atomic_writes_respect_the_umask(tmp_path, umask):
    """summary.json, experiment.yaml... were 0600 (mkstemp's mode): unreadable to a teammate."""
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "experiment.yaml", "a: 1\n")
        write_json(tmp_path / "summary.json", {"a": 1})
        write_json(tmp_path / "summary.json", {"a": 2})  # replacing keeps the mode
    finally:
        os.umask(old)
    expected = oct(0o666 & ~umask)
    assert _modes(tmp_path) == {"experiment.yaml": expected, "summary.json": expected}


@pytest.mark.slow
def test_every_file_of_a_run_respects_the_umask(tmp_path):
    """A whole run (both runners, refit, report) under umask 002: group-writable, world-readable."""
    raw = experiment_dict(
        tmp_path,
        name="modes",
        estimator={"class": "tests.helpers.SleepyRegressor", "params": {"sleep": 0.0}},
        space={"n_estimators": [1, 2]},
        runner="both",
    )
    path = write(tmp_path, raw)
    done = subprocess.run(
        [sys.executable, "-m", "tuning.run", str(path), "--num-cpus", "2"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        capture_output=True,
        text=True,
        timeout=240,
        umask=0o002,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (tmp_path / "results" / "modes").iterdir()
    modes = _modes(run_dir)
    for name in ("summary.json", "experiment.yaml", "environment.json", "best_model.joblib"):
        assert name in modes, sorted(modes)
    for name in ("best_model.json", "report.html", "sequential/trials.jsonl"):
        assert name in modes, sorted(modes)
    wrong = {
        name: mode
        for name, mode in modes.items()
        if mode != ("0o775" if (run_dir / name).is_dir() else "0o664")
    }
    assert not wrong, wrong


# --------------------------------------------------------------------------- waiting for nodes


def _cluster(node_cpus: tuple[float, ...], *, started_here: bool = False, wait_s: float = 0.0) -> Cluster:
    return Cluster(
        "10.0.0.1:6379",
        len(node_cpus),
        sum(node_cpus),
        0.0,
        node_cpus,
        (0.0,) * len(node_cpus),
        started_here,
        wait_s,
    )


@pytest.fixture
def fake_ray_state(monkeypatch):
    """The cluster as ``snapshot`` sees it, set by the test; no autoscaler hint reaches Ray."""
    state = {"nodes": (0.0,), "infeasible": False, "requests": []}
    monkeypatch.setattr(cluster_module, "POLL_S", 0.05)
    monkeypatch.setattr(cluster_module, "snapshot", lambda started_here=False: _cluster(state["nodes"]))
    monkeypatch.setattr(cluster_module, "infeasible", lambda bundle: state["infeasible"])
    monkeypatch.setattr(cluster_module, "_request_resources", state["requests"].append)
    return state


def test_a_local_ray_that_is_too_small_fails_at_once(fake_ray_state):
    with pytest.raises(ExperimentError, match=r"resources.num_cpus must be at most 0, the most CPUs"):
        check_fits(_cluster((0.0,), started_here=True, wait_s=600), ResourcesConfig(num_cpus=1))
    assert fake_ray_state["requests"] == []  # nothing waited for


def test_a_joined_cluster_is_waited_for_until_a_node_fits(fake_ray_state, capsys):
    """A 0-CPU head (KubeRay's layout): the run waits, with one line, until a worker joins."""
    threading.Timer(0.2, fake_ray_state.update, kwargs={"nodes": (0.0, 2.0)}).start()
    grown = check_fits(_cluster((0.0,), wait_s=30), ResourcesConfig(num_cpus=1))
    assert grown.node_cpus == (0.0, 2.0) and grown.wait_s == 30
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "Waiting up to 30 s for a node with 1 CPU to join" in lines[0], lines
    assert fake_ray_state["requests"] == [[{"CPU": 1.0}], []]  # asked the autoscaler, then withdrew


def test_waiting_for_a_cluster_times_out_in_one_line(fake_ray_state):
    with pytest.raises(ExperimentError) as raised:
        check_fits(_cluster((0.0,), wait_s=0.3), ResourcesConfig(num_cpus=1))
    assert raised.value.key == "resources.num_cpus"
    assert "must be at most 0" in str(raised.value) and "waited 0.3 s for a node" in str(raised.value)
    assert fake_ray_state["requests"] == [[{"CPU": 1.0}], []]


def test_a_demand_the_autoscaler_calls_infeasible_stops_the_wait(fake_ray_state):
    fake_ray_state["infeasible"] = True
    started = time.monotonic()
    with pytest.raises(ExperimentError, match="no node type can hold one trial"):
        check_fits(_cluster((0.0,), wait_s=600), ResourcesConfig(num_cpus=64))
    assert time.monotonic() - started < 5


def test_infeasible_bundles_are_read_from_the_autoscaling_state():
    from ray.core.generated.autoscaler_pb2 import AutoscalingState

    state = AutoscalingState()
    constraint = state.infeasible_cluster_resource_constraints.add()
    constraint.resource_requests.add(count=1).request.resources_bundle.update({"CPU": 64.0})
    assert bundle_in(state, {"CPU": 64.0})
    assert not bundle_in(state, {"CPU": 1.0})
    assert not bundle_in(AutoscalingState(), {"CPU": 64.0})


def test_wait_time_comes_from_the_flag_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv(WAIT_ENV, raising=False)
    assert cluster_wait_s() == 600
    monkeypatch.setenv(WAIT_ENV, "45")
    assert cluster_wait_s() == 45 and cluster_wait_s(5) == 5
    monkeypatch.setenv(WAIT_ENV, "soon")
    with pytest.raises(ExperimentError, match=r"^environment: TUNING_CLUSTER_WAIT_S must be a number"):
        cluster_wait_s()
    assert parse_args(["x.yaml", "--wait-for-cluster", "90"]).wait_for_cluster == 90


# --------------------------------------------------------------------------- versions


def test_a_cluster_of_another_ray_version_is_one_line(monkeypatch):
    """Ray's own "Version mismatch" RuntimeError (its real text), named with both versions."""
    import ray
    from ray._private.utils import check_version_info

    def init(**kwargs):
        here = {"ray_version": ray.__version__, "python_version": platform.python_version()}
        check_version_info({**here, "ray_version": "2.59.0"}, "node 10.0.0.1")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(ExperimentError) as raised:
        connect("auto")
    message = str(raised.value)
    assert raised.value.key == "address" and "\n" not in message
    assert f"Ray 2.59.0 on the cluster, {ray.__version__} here" in message, message
    assert "Python" not in message.partition("differs:")[2]
