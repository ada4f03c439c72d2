"""The real command line, in subprocesses: exit codes, one-line errors, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, experiment_dict


def cli(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def write(tmp_path: Path, raw: dict | str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False))
    return path


def line_of(path: Path, key: str) -> int:
    """The 1-based line of the first ``key:`` in a YAML file."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.strip().startswith(f"{key}:"))


def assert_rejected(result: subprocess.CompletedProcess, message: str, tmp_path: Path) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "results").exists(), "bad input must not write a run directory"


BAD_FILES = [
    ({"resources": {"num_cpus": 0}}, "exp.yaml:13: resources.num_cpus must be greater than 0; got 0"),
    ({"resourcez": {}}, "resourcez is not a known key (did you mean 'resources'?)"),
    ({"space": {"n_estimators": []}}, "space.n_estimators must be a non-empty list of grid values; got []"),
    ({"metric": "accuracy"}, "metric must be a regression metric for RandomForestRegressor"),
    ({"estimator": {"class": "os.system"}}, "estimator.class must be an estimator class"),
    ({"estimator": {"class": "no_such_pkg.Model"}}, "estimator.class must be an importable class"),
    (
        {"estimator": {"params": {"max_dept": 3}}},
        "estimator.params.max_dept is not a parameter of RandomForestRegressor (did you mean 'max_depth'?)",
    ),
    ({"space": {"n_estimators": [0]}}, "space.n_estimators must be an int in the range [1, inf); got 0"),
    ({"data": {"source": "nowhere.csv", "target": "y"}}, "data.source must be a built-in data set"),
    ({"split": {"repeats": 1}}, "split.repeats must be greater than or equal to 2; got 1"),
    ({"split": {"repeats": 2.5}}, "split.repeats must be a valid integer; got 2.5"),
    ({"split": {"repeats": "many"}}, "split.repeats must be a valid integer; got 'many'"),
    (
        {"space": {"split.seed": {"start": 0, "stop": 100}}},
        "space.split.seed must not be searched (the luckiest test split is not a better model); "
        "use split.repeats: N",
    ),
    (
        {"split": {"repeats": 5}, "search": {"scheduler": "asha", "budget": {"max": 8, "step": 4}}},
        "search.scheduler must be none with split.repeats",
    ),
    ({"space": {}}, "space must have at least 1 parameter to search; got {} (or set split.repeats: N"),
]


@pytest.mark.parametrize(("change", "message"), BAD_FILES, ids=[m[:30] for _, m in BAD_FILES])
def test_bad_experiment_files(tmp_path, change, message):
    path = write(tmp_path, experiment_dict(tmp_path, **change))
    assert_rejected(cli("tuning.run", str(path)), message, tmp_path)


def test_missing_experiment_file(tmp_path):
    assert_rejected(
        cli("tuning.run", str(tmp_path / "nope.yaml")), "nope.yaml: experiment file not found", tmp_path
    )


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path = write(tmp_path, "name: x\nspace:\n  n_estimators: [4, 8\nresources: {}\n")
    # run from tmp_path: the default storage_path (results) would be written there
    assert_rejected(cli("tuning.run", str(path), cwd=tmp_path), "exp.yaml:4: invalid YAML", tmp_path)


def test_bad_override(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path))
    result = cli("tuning.run", str(path), "--set", "split.test_size=2")
    assert_rejected(result, "--set: split.test_size must be less than 1; got 2", tmp_path)


def test_a_mode_against_the_metrics_direction_is_refused(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path))
    result = cli("tuning.run", str(path), "--set", "metric=neg_mean_squared_error", "--set", "mode=min")
    assert_rejected(result, "--set: mode must be max for metric neg_mean_squared_error", tmp_path)


def test_debug_shows_the_traceback(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path, metric="accuracy"))
    result = cli("tuning.run", str(path), "--debug")
    assert result.returncode == 2 and "Traceback" in result.stderr


@pytest.mark.slow
def test_missing_target_column_is_found_before_writing(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i * 2},{i % 3}\n" for i in range(50)))
    path = write(tmp_path, experiment_dict(tmp_path, data={"source": str(csv), "target": "price"}))
    assert_rejected(
        cli("tuning.run", str(path), "--num-cpus", "2"), "data.target must be a column of", tmp_path
    )


@pytest.mark.slow
def test_gpus_the_cluster_lacks_are_refused_before_starting(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path, resources={"num_cpus": 1, "num_gpus": 1}))
    result = cli("tuning.run", str(path), "--num-cpus", "2", "--num-gpus", "0")
    assert_rejected(
        result,
        "resources.num_gpus must be at most 0, the most GPUs of any node of this cluster (it has none);"
        " got 1",
        tmp_path,
    )
    assert f"error: {path}:{line_of(path, 'num_gpus')}: resources.num_gpus" in result.stderr


@pytest.mark.slow
def test_quick_experiment_end_to_end(tmp_path):
    result = cli(
        "tuning.run", "experiments/quick.yaml", "--set", f"storage_path={tmp_path}", "--num-cpus", "2"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (tmp_path / "quick").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["parity"]["identical"]
    assert f"Run directory: {run_dir}" in result.stdout
    assert "Traceback" not in result.stderr
    shown = cli("tuning.inspect", str(run_dir))
    assert shown.returncode == 0 and f"{summary['best']['mse']:.4f}" in shown.stdout


def test_tuning_schema_prints_the_json_schema():
    """`tuning schema` prints what ``python -m tuning.config.reference --schema`` prints: the
    committed docs/experiment.schema.json, a JSON Schema."""
    printed = cli("tuning", "schema")
    assert printed.returncode == 0 and printed.stderr == "", printed.stderr
    assert printed.stdout == cli("tuning.config.reference", "--schema").stdout
    assert printed.stdout == (ROOT / "docs" / "experiment.schema.json").read_text()
    assert json.loads(printed.stdout)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_inspect_rejects_a_folder_that_is_not_a_run(tmp_path):
    result = cli("tuning.inspect", str(tmp_path))
    assert result.returncode == 2 and "is not a tuning run directory" in result.stderr


MORE_BAD_FILES = [
    ({"search": {"num_samples": 0}}, "search.num_samples must be greater than 0; got 0"),
    ({"search": {"num_samples": -2}}, "search.num_samples must be greater than 0; got -2"),
    ({"search": {"num_samples": float("nan")}}, "search.num_samples must be a finite number; got nan"),
    ({"resources": {"num_cpus": -1}}, "resources.num_cpus must be greater than 0; got -1"),
    ({"resources": {"num_gpus": float("nan")}}, "resources.num_gpus must be a finite number; got nan"),
    ({"resources": {"max_concurrent_trials": 0}}, "resources.max_concurrent_trials must be greater than 0"),
    (
        {"space": {"n_estimators": [4, 8, 4]}},
        "space.n_estimators must not repeat a grid value (4 is repeated)",
    ),
    ({"resources": {"num_gpus": 1.5}}, "resources.num_gpus must be a whole number when above 1"),
    ({"name": "../escape"}, "name must be 1-100 letters, digits, '.', '_' or '-' (no path separators"),
    ({"name": "/etc/cron.d"}, "name must be 1-100 letters, digits, '.', '_' or '-' (no path separators"),
    ({"name": "a/b"}, "name must be 1-100 letters, digits, '.', '_' or '-' (no path separators"),
    ({"mode": "best"}, "mode must be one of 'min' or 'max'; got 'best'"),
    ({"split": {"test_size": 0}}, "split.test_size must be greater than 0; got 0"),
    ({"estimator": {"class": "tests.helpers.not_a_class"}}, "estimator.class must be an estimator class"),
    (
        {"estimator": {"class": "collections.OrderedDict"}},
        "estimator.class must be a scikit-learn-style estimator class; it has no fit",
    ),
    (
        {"estimator": {"params": {"max_depth": -3}}},
        "estimator.params.max_depth must be an int in the range [1, inf) or None; got -3",
    ),
    ({"max_failures": -1}, "max_failures must be greater than or equal to 0; got -1"),
    ({"resources": {"num_cpus": "two"}}, "resources.num_cpus must be a valid number; got 'two'"),
    (
        {"metric": "neg_mean_squared_error", "mode": "min"},
        "mode must be max for metric neg_mean_squared_error (higher is better; or leave mode out); got min",
    ),
    ({"metric": "r2", "mode": "min"}, "mode must be max for metric r2 (higher is better"),
    ({"mode": "max"}, "mode must be min for metric mse (lower is better; or leave mode out); got max"),
    (
        {"space": {"n_estimators": {"grid": [4], "choice": [8]}}},
        "space.n_estimators must have exactly one key",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", "exp.yaml: the top level must be a mapping of keys; got list"),
        ("", "exp.yaml: the top level must be a mapping of keys; got an empty file"),
        (
            "name: x\nname: y\nspace: {n_estimators: [4]}\n",
            "exp.yaml:2: name must appear once; it is repeated",
        ),
    ],
    ids=["list", "empty", "repeated-key"],
)
def test_malformed_experiment_files(tmp_path, text, message):
    # run from tmp_path: the default storage_path (results) would be written there
    assert_rejected(cli("tuning.run", str(write(tmp_path, text)), cwd=tmp_path), message, tmp_path)


@pytest.mark.parametrize(("change", "message"), MORE_BAD_FILES, ids=[m[:40] for _, m in MORE_BAD_FILES])
def test_more_bad_experiment_files(tmp_path, change, message):
    path = write(tmp_path, experiment_dict(tmp_path, **change))
    assert_rejected(cli("tuning.run", str(path)), message, tmp_path)


def test_results_folder_that_cannot_be_written(tmp_path):
    """A path under a regular file cannot be created, even by root (chmod would not stop root)."""
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be\n")
    path = write(tmp_path, experiment_dict(tmp_path, storage_path=str(blocker / "runs")))
    result = cli("tuning.run", str(path), "--num-cpus", "1")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}:") and "storage_path must be a writable folder;" in line, line
    assert f"{blocker} is a file, not a folder" in line and "Traceback" not in result.stderr
    assert blocker.is_file() and blocker.read_text().startswith("a file"), "nothing written"


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listener(reply: bytes | None):
    """A local port that accepts connections and answers ``reply`` (None: stays silent)."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if reply is not None:
                conn.sendall(reply)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.mark.parametrize(
    ("scheme", "reply", "reasons"),
    [
        ("", "closed", ["Connection refused"]),
        ("ray://", "closed", ["Connection refused"]),
        ("", None, ["no answer"]),
        ("", b"HTTP/1.1 400 Bad Request\r\n\r\n", ["it is not a Ray (gRPC) port"]),
        ("ray://", b"HTTP/1.1 400 Bad Request\r\n\r\n", ["it is not a Ray (gRPC) port"]),
        ("", b"", ["connection closed", "Connection reset by peer"]),
    ],
    ids=["refused", "client-refused", "silent", "not-ray", "client-not-ray", "hangs-up"],
)
def test_ray_address_that_does_not_answer(tmp_path, scheme, reply, reasons):
    """Ray itself would wait minutes for such an address; the run stops within seconds."""
    import time

    if reply == "closed":
        port, server = _closed_port(), None
    else:
        server = _listener(reply)
        port = server.getsockname()[1]
    address = f"{scheme}127.0.0.1:{port}"
    path = write(tmp_path, experiment_dict(tmp_path))
    start = time.monotonic()
    try:
        result = cli("tuning.run", str(path), "--address", address, timeout=60)
    finally:
        if server:
            server.close()
    assert time.monotonic() - start < 25  # CONNECT_TIMEOUT_S is 10 s, plus Python's start
    message = f"address must be a running Ray cluster; nothing answers at {address} within 10 s ("
    assert_rejected(result, message, tmp_path)
    assert any(f"({reason})" in result.stderr for reason in reasons), result.stderr


def test_malformed_ray_address(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path))
    result = cli("tuning.run", str(path), "--address", "no-port-here")
    assert_rejected(
        result, "address must be host:port, ray://host:port or auto; got 'no-port-here'", tmp_path
    )


@pytest.mark.slow
def test_more_cpus_than_any_node_is_refused_before_starting(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path, resources={"num_cpus": 64}))
    result = cli("tuning.run", str(path), "--num-cpus", "2")
    assert_rejected(
        result,
        "resources.num_cpus must be at most 2, the most CPUs of any node of this cluster; got 64",
        tmp_path,
    )
    assert f"error: {path}:{line_of(path, 'num_cpus')}: resources.num_cpus" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "data.source must have rows;"),
        ("header.csv", b"a,b,y\n", "data.source must have rows;"),
        ("broken.parquet", b"PAR1 this is not parquet at all", "data.source cannot read"),
    ],
    ids=["empty-file", "header-only", "unreadable"],
)
def test_data_file_without_rows_or_unreadable(tmp_path, name, content, message):
    data = tmp_path / name
    data.write_bytes(content)
    path = write(tmp_path, experiment_dict(tmp_path, data={"source": str(data), "target": "y"}))
    assert_rejected(cli("tuning.run", str(path), "--num-cpus", "1"), message, tmp_path)


@pytest.mark.slow
def test_repeats_that_leave_no_training_row_are_refused(tmp_path):
    data = tmp_path / "tiny.csv"
    data.write_text("x,y\n1,2\n2,3\n3,5\n")
    raw = experiment_dict(
        tmp_path,
        data={"source": str(data), "target": "y"},
        estimator={"class": "sklearn.linear_model.LinearRegression"},
        space={},
        split={"repeats": 3, "test_size": 0.9},
    )
    result = cli("tuning.run", str(write(tmp_path, raw)), "--num-cpus", "1")
    assert_rejected(
        result, "split.test_size must leave rows to train on and to test on; got 0.9 of 3 rows", tmp_path
    )


@pytest.mark.slow
def test_on_a_terminal_the_progress_is_one_line_redrawn_in_place(tmp_path):
    import pty

    raw = experiment_dict(
        tmp_path, estimator={"class": "sklearn.linear_model.Ridge"}, space={"alpha": [0.1, 1.0, 10.0, 100.0]}
    )
    path = write(tmp_path, raw)
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    command = [sys.executable, "-m", "tuning.run", str(path), "--runner", "sequential", "--num-cpus", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert process.wait(timeout=300) == 0
    os.close(leader)
    text = b"".join(chunks).decode()
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if "[sequential]" in line]
    assert len(lines) == 1, lines  # one line on screen, redrawn with \r, not one per trial
    redraws = lines[0].split("\r")
    assert redraws[1].startswith("[sequential] 1/4 done")
    assert redraws[-1].removeprefix("\x1b[K").startswith("[sequential] 4/4 done")
