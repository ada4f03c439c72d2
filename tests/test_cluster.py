"""Running against a Ray cluster: address precedence, a real two-node cluster, GPU fields.

The two-node cluster is Ray's own ``ray start --head`` plus ``ray start --address`` on this
machine, each node with one logical CPU, in a private temp dir (so no other ``ray.init()``
on the machine finds it) and stopped by the process groups this test started.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import assert_rejected, cli, write
from tuning.planning.cluster import resolve_address

RAY = str(Path(sys.executable).with_name("ray"))


# --------------------------------------------------------------------------- address


def test_address_precedence(monkeypatch):
    """--address (merged into the file's ``address``) > the file > RAY_ADDRESS > a local Ray."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert resolve_address(None) is None  # start a local Ray
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert resolve_address(None) == "10.0.0.1:6379"
    assert resolve_address("auto") == "auto"
    assert resolve_address("10.0.0.2:6379") == "10.0.0.2:6379"
    assert resolve_address("local") is None  # Ray's word for a new local Ray


def test_cli_address_overrides_the_file(tmp_path):
    """The file's address is never tried when --address names another: the error is about --address."""
    path = write(tmp_path, experiment_dict(tmp_path, address="10.0.0.2:6379"))
    result = cli("tuning.run", str(path), "--address", "no-port-here", "--dry-run")
    assert_rejected(
        result, "--set: address must be host:port, ray://host:port or auto; got 'no-port-here'", tmp_path
    )


# --------------------------------------------------------------------------- a real cluster


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (Linux)."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _descendant_commands(pid: int) -> set[str]:
    tree, seen, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            try:
                seen.add((Path("/proc") / str(child) / "comm").read_text().strip())
            except OSError:
                continue
            todo.append(child)
    return seen


class RayCluster:
    """``ray start`` nodes on this machine, each its own process group."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env, self.procs = tmp, env, []
        self.address = ""

    def start_node(self, *args: str) -> None:
        ports = {
            "--dashboard-agent-listen-port": _free_port(),
            "--metrics-export-port": _free_port(),
            "--runtime-env-agent-port": _free_port(),
        }
        with open(self.tmp / f"node{len(self.procs)}.log", "w") as log:
            self.procs.append(
                subprocess.Popen(
                    [RAY, "start", "--block", "--disable-usage-stats", "--num-cpus=1", *args]
                    + [f"{k}={v}" for k, v in ports.items()],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: stopped by killpg(pid)
                )
            )

    def start(self, workers: int) -> None:
        self.start_node(
            "--head",
            f"--port={_free_port()}",
            f"--temp-dir={self.tmp}",  # the address file goes here, not to /tmp/ray
            "--include-dashboard=false",
            f"--dashboard-port={_free_port()}",
            f"--ray-client-server-port={_free_port()}",
        )
        address_file = self.tmp / "ray_current_cluster"
        for _ in range(120):
            if address_file.is_file() and address_file.read_text().strip():
                break
            assert self.procs[0].poll() is None, (self.tmp / "node0.log").read_text()[-2000:]
            time.sleep(0.5)
        self.address = address_file.read_text().strip()
        for _ in range(workers):
            self.start_node(f"--address={self.address}")

    def wait_for_nodes(self, count: int) -> None:
        code = (
            "import ray, time\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR')\n"
            "for _ in range(60):\n"
            f"    if sum(n['Alive'] for n in ray.nodes()) >= {count}: break\n"
            "    time.sleep(0.5)\n"
            "print(sum(n['Alive'] for n in ray.nodes()))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=90
        )
        assert done.stdout.strip() == str(count), done.stderr[-2000:]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # the group this test started, nothing else
        deadline = time.monotonic() + 5
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(deadline - time.monotonic(), 0.1))
            with contextlib.suppress(ProcessLookupError):  # a node still draining: no need here
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def two_nodes(tmp_path):
    tmp = Path(f"/tmp/tuning-cluster-{os.getpid()}")  # short: Ray's socket paths are limited
    tmp.mkdir(exist_ok=True)
    token = tmp / "auth_token"  # the cluster's own token: not ~/.ray/auth_token, which a
    token.write_text(secrets.token_hex(32))  # clean machine lacks until a local Ray made one
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # every node has the code, as on a real cluster
        "RAY_AUTH_MODE": "token",  # Ray's default for a new cluster
        "RAY_AUTH_TOKEN_PATH": str(token),  # nodes and the driver share it
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN", None)
    cluster = RayCluster(tmp, env)
    try:
        cluster.start(workers=1)
        cluster.wait_for_nodes(2)
        yield cluster
    finally:
        cluster.stop()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


@pytest.mark.slow
def test_experiment_spreads_over_a_two_node_cluster(tmp_path, two_nodes):
    # One CPU per node and per trial, and the first two fits wait for each other: they can
    # only both start on different nodes (a timing-based test was flaky on a loaded machine:
    # Tune hands a finished trial's actor to a pending trial before a second node's starts).
    marks = tmp_path / "marks"
    marks.mkdir()
    raw = experiment_dict(
        tmp_path,
        name="spread",
        estimator={
            "class": "tests.helpers.RendezvousRegressor",
            "params": {"sleep": 0.2, "marks": str(marks), "parties": 2},
        },
        space={"n_estimators": [1, 2, 3, 4]},
        resources={"num_cpus": 1},
        runner="tune",
    )
    path = write(tmp_path, raw)
    env = {key: value for key, value in two_nodes.env.items() if key != "RAY_AUTH_MODE"}
    command = [sys.executable, "-m", "tuning.run", str(path), "--address", two_nodes.address]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    started_here = set()
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        started_here |= _descendant_commands(proc.pid) & {"gcs_server", "raylet"}
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()  # the driver this test started; the cluster goes in the fixture
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr[-3000:]
    assert not started_here, "joining a cluster must not start Ray processes"

    (run_dir,) = (tmp_path / "results" / "spread").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["cluster"]["nodes"] == 2 and summary["cluster"]["cpus"] == 2
    assert summary["cluster"]["address"] == two_nodes.address
    assert summary["timings"]["ray_start_s"] is None  # nothing started, only joined
    trials = summary["trials"]["tune"]
    assert summary["counts"] == {"trials": 4, "ok": 4, "error": 0, "retries": 0}
    assert sorted(t["config"]["n_estimators"] for t in trials) == [1, 2, 3, 4]
    assert len({t["node_id"] for t in trials}) == 2, [t["node_id"] for t in trials]
    assert all(t["node_ip"] and t["hostname"] for t in trials)
    for t in trials:  # every trial's results arrived in the run directory
        assert (Path(t["path"]) / "result.json").is_file()
        assert json.loads((Path(t["path"]) / "result.json").read_text().splitlines()[-1])["mse"] > 0


# --------------------------------------------------------------------------- GPU fields


@pytest.mark.slow
def test_trials_record_their_gpu(tmp_path, ray_session):
    """A quarter of the session's logical GPU per trial: each trial records the GPU it saw."""
    from tuning._experiment import run_experiment
    from tuning.config import validate

    experiment = validate(
        experiment_dict(
            tmp_path,
            name="gpu",
            estimator={"class": "tests.helpers.SleepyRegressor", "params": {"sleep": 0.1}},
            space={"n_estimators": [1, 2]},
            resources={"num_cpus": 1, "num_gpus": 0.25},
        )
    )
    summary = run_experiment(experiment, "tune", echo=lambda line: None)
    trials = summary["trials"]["tune"]
    assert summary["status"] == "complete" and len(trials) == 2
    assert {t["gpu_ids"] for t in trials} == {"0"}
    assert {t["cuda_visible_devices"] for t in trials} == {"0"}
    assert all(t["node_id"] and t["node_ip"] and t["hostname"] for t in trials)
