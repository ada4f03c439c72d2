"""Shared clusters and shared storage: file modes, autoscaling clusters, TLS, versions, node loss.

The clusters are `tests.test_cluster.RayCluster`: ``ray start`` nodes on this machine in
private temp dirs, each node its own process group, stopped by this test.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import platform
import re
import secrets
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import tuning.planning.cluster as cluster_module
from tests.conftest import ROOT, experiment_dict
from tests.test_cli import write
from tests.test_cluster import RayCluster, _children, _free_port
from tuning.config import ResourcesConfig
from tuning.errors import ExperimentError
from tuning.planning.cluster import (
    WAIT_ENV,
    Cluster,
    bundle_in,
    check_fits,
    check_reachable,
    cluster_wait_s,
    connect,
)
from tuning.run import parse_args
from tuning.run_files import write_atomic, write_json

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


# --------------------------------------------------------------------------- real clusters


SMALL = ("--object-store-memory=150000000",)  # several nodes on one small machine: /dev/shm


def _cluster_env(tmp: Path, **extra: str) -> dict[str, str]:
    """What `tests.test_cluster.two_nodes` gives its nodes: the code, a private token."""
    token = tmp / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        **extra,
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN", None)
    return env


def _start_head(cluster: RayCluster, *extra: str) -> None:
    """`RayCluster.start` with more head options (``--num-cpus=0``...) and no workers."""
    cluster.start_node(
        "--head",
        f"--port={_free_port()}",
        f"--temp-dir={cluster.tmp}",
        "--include-dashboard=false",
        f"--dashboard-port={_free_port()}",
        f"--ray-client-server-port={_free_port()}",
        *extra,
    )
    address_file = cluster.tmp / "ray_current_cluster"
    for _ in range(120):
        if address_file.is_file() and address_file.read_text().strip():
            break
        assert cluster.procs[0].poll() is None, (cluster.tmp / "node0.log").read_text()[-2000:]
        time.sleep(0.5)
    cluster.address = address_file.read_text().strip()


@contextlib.contextmanager
def _private_cluster(name: str, *head: str, **env: str) -> Iterator[RayCluster]:
    tmp = Path(f"/tmp/tuning-{name}-{os.getpid()}")  # short: Ray's socket paths are limited
    tmp.mkdir(exist_ok=True)
    cluster = RayCluster(tmp, _cluster_env(tmp, **env))
    try:
        _start_head(cluster, *head)
        yield cluster
    finally:
        cluster.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


@pytest.fixture(scope="module")
def zero_cpu_head():
    """A head with no CPUs, as KubeRay and the cluster launcher lay it out; no workers yet."""
    fast_health_checks = {  # the GCS notices a dead node in ~2 s instead of ~30 s
        "RAY_health_check_period_ms": "500",
        "RAY_health_check_timeout_ms": "500",
        "RAY_health_check_failure_threshold": "3",
    }
    with _private_cluster("autoscale", "--num-cpus=0", *SMALL, **fast_health_checks) as cluster:
        yield cluster


def _run(cluster: RayCluster, path: Path, tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """Start ``tuning.run`` against ``cluster``; its output goes to a file the test can read."""
    log = tmp_path / "run.log"
    env = {k: v for k, v in cluster.env.items() if k != "RAY_AUTH_MODE"}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tuning.run", str(path), "--address", cluster.address, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return proc, log


def _wait_for(condition, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.2)


def _finish(proc: subprocess.Popen, log: Path, timeout: float = 240) -> str:
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # the driver this test started
        proc.wait()
    return log.read_text()


@pytest.mark.slow
def test_an_autoscaling_cluster_is_waited_for(tmp_path, zero_cpu_head):
    """No CPU anywhere yet: the run waits (one line), a worker joins, and the run completes."""
    raw = experiment_dict(
        tmp_path,
        name="autoscale",
        estimator={"class": "tests.helpers.SleepyRegressor", "params": {"sleep": 0.0}},
        space={"n_estimators": [1, 2]},
        runner="tune",
        refit=False,
    )
    proc, log = _run(zero_cpu_head, write(tmp_path, raw), tmp_path, "--wait-for-cluster", "180")
    _wait_for(lambda: "Waiting up to 180 s for a node with 1 CPU" in log.read_text(), proc, log)
    zero_cpu_head.start_node(f"--address={zero_cpu_head.address}", "--num-cpus=2", *SMALL)
    output = _finish(proc, log)
    assert proc.returncode == 0, output[-3000:]
    assert output.count("Waiting up to") == 1
    (run_dir,) = (tmp_path / "results" / "autoscale").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["ok"] == 2 and summary["cluster"]["cpus"] == 2


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.mark.slow
def test_a_lost_node_is_survived(tmp_path, zero_cpu_head):
    """8 trials on a 2-CPU worker, SIGKILLed (raylet and all) after 2 results: all 8 finish.

    The trials run on the doomed node only (the head has no CPUs), so some are running
    when it dies; a 1-CPU node joins after the kill and runs the retries and the rest.
    """
    cluster = zero_cpu_head
    alive = [i for i, proc in enumerate(cluster.procs[1:], 1) if proc.poll() is None]
    if alive:  # the autoscaling test's 2-CPU worker
        (victim,) = alive
    else:
        victim = len(cluster.procs)
        cluster.start_node(f"--address={cluster.address}", "--num-cpus=2", *SMALL)
        cluster.wait_for_nodes(2)
    marks = tmp_path / "marks"
    marks.mkdir()
    raw = experiment_dict(
        tmp_path,
        name="lost",
        estimator={"class": "tests.helpers.MarkedRegressor", "params": {"sleep": 1.0, "marks": str(marks)}},
        space={"n_estimators": list(range(1, 9))},
        runner="tune",
        refit=False,
    )
    proc, log = _run(cluster, write(tmp_path, raw), tmp_path)
    fits = marks / "fits.log"

    def running_on_victim() -> bool:
        lines = fits.read_text().splitlines() if fits.is_file() else []
        if sum(line.startswith("end") for line in lines) < 2:
            return False
        last = {int(line.split()[2]): line.split()[0] for line in lines}  # actors are reused
        running = {pid for pid, what in last.items() if what == "start"}
        return bool(running & _descendants(cluster.procs[victim].pid))

    _wait_for(running_on_victim, proc, log)
    node = cluster.procs[victim]
    doomed = _descendants(node.pid)  # its raylet and workers, whatever their process group
    os.killpg(node.pid, signal.SIGKILL)  # the `ray start` group this test started
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    cluster.start_node(f"--address={cluster.address}", *SMALL)  # the survivor: 1 CPU
    output = _finish(proc, log)
    assert proc.returncode == 0, output[-3000:]
    (run_dir,) = (tmp_path / "results" / "lost").iterdir()
    counts = json.loads((run_dir / "summary.json").read_text())["counts"]
    assert counts["trials"] == counts["ok"] == 8 and counts["error"] == 0
    assert counts["retries"] >= 1, counts


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_head(tmp_path_factory):
    """A one-node cluster in Ray's TLS mode, with a self-signed certificate made here."""
    from ray._common.tls_utils import generate_self_signed_tls_certs

    certs = tmp_path_factory.mktemp("tls")
    cert, key = generate_self_signed_tls_certs()
    (certs / "cert.pem").write_text(cert)
    (certs / "key.pem").write_text(key)
    tls = {
        "RAY_USE_TLS": "1",
        "RAY_TLS_SERVER_CERT": str(certs / "cert.pem"),
        "RAY_TLS_SERVER_KEY": str(certs / "key.pem"),
        "RAY_TLS_CA_CERT": str(certs / "cert.pem"),  # self-signed: its own CA
    }
    with _private_cluster("tls", *SMALL, **tls) as cluster:
        cluster.tls = tls
        yield cluster


@pytest.mark.slow
def test_the_probe_speaks_tls_to_a_tls_cluster(tls_head, monkeypatch):
    """The plain HTTP/2 preface alone called a TLS head "not a Ray (gRPC) port"."""
    for name in tls_head.tls:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ExperimentError, match=r"it speaks TLS: Ray's TLS mode needs RAY_USE_TLS=1"):
        check_reachable(tls_head.address, timeout=10)
    for name, value in tls_head.tls.items():
        monkeypatch.setenv(name, value)
    check_reachable(tls_head.address, timeout=10)  # the handshake with Ray's certificates, then gRPC


@pytest.mark.slow
def test_an_experiment_runs_on_a_tls_cluster(tmp_path, tls_head):
    raw = experiment_dict(
        tmp_path,
        name="tls",
        estimator={"class": "tests.helpers.SleepyRegressor", "params": {"sleep": 0.0}},
        space={"n_estimators": [1, 2]},
        runner="tune",
        refit=False,
    )
    proc, log = _run(tls_head, write(tmp_path, raw), tmp_path)
    output = _finish(proc, log)
    assert proc.returncode == 0, output[-3000:]
    (run_dir,) = (tmp_path / "results" / "tls").iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["counts"]["ok"] == 2


# --------------------------------------------------------------------------- dependencies


def test_the_package_declares_ranges_and_ci_pins_them():
    """setup.cfg: ranges (installable beside other packages); constraints.txt: the exact pins."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    declared = [
        line.strip()
        for section, key in (("options", "install_requires"), ("options.extras_require", "test"))
        for line in parser[section][key].splitlines()
        if line.strip()
    ]
    assert declared and not [r for r in declared if "==" in r], declared
    pins = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for requirement in declared:
        name, _, specifier = re.fullmatch(r"([\w.-]+)(\[[^\]]*\])?(.*)", requirement).groups()
        assert Version(pins[name.lower()]) in SpecifierSet(specifier), requirement
    assert "-c constraints.txt" in (ROOT / ".ci" / "run").read_text()
