"""A run directory on S3: a real S3-compatible server (moto's) on loopback, written by the CLI,
read back by ``python -m tuning.inspect`` and by Ray's ``Tuner.restore``."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import cli, write

moto_server = pytest.importorskip("moto.server", reason="moto[server] is a test extra")
boto3 = pytest.importorskip("boto3")

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",  # moto accepts any
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3():
    """An S3 server on 127.0.0.1 with an empty bucket; yields its endpoint URL."""
    saved = {key: os.environ.get(key) for key in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="tuning")
    yield endpoint
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def keys(endpoint: str, prefix: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="tuning", Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.mark.slow
def test_run_on_s3_then_inspect_and_restore(tmp_path, s3, housing_split):
    # The endpoint travels in the URI's query, as pyarrow reads it; nothing is written locally.
    storage = f"s3://tuning/runs?endpoint_override={s3}&scheme=http"
    raw = experiment_dict(tmp_path, name="ons3", space={"n_estimators": [4, 8]}, runner="both")
    raw["storage_path"] = storage
    path = write(tmp_path, raw)
    result = cli("tuning.run", str(path), "--num-cpus", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"], "nothing staged is left behind"

    (stamp,) = {k.split("/")[2] for k in keys(s3, "runs/ons3/")} - {""}  # "runs/ons3/": a folder marker
    run_uri = f"s3://tuning/runs/ons3/{stamp}"
    stored = keys(s3, f"runs/ons3/{stamp}/")
    names = {k.removeprefix(f"runs/ons3/{stamp}/") for k in stored}
    assert {"experiment.yaml", "summary.json", "sequential/trials.jsonl", "tuner.pkl"} <= names
    assert any(n.startswith("experiment_state-") for n in names)
    assert sum(n.endswith("/result.json") for n in names) == 2  # every Tune trial
    assert sum(n.startswith("sequential/sequential_0000") and "tfevents" in n for n in names) == 2

    body = boto3.client("s3", endpoint_url=s3).get_object(
        Bucket="tuning", Key=f"runs/ons3/{stamp}/summary.json"
    )
    summary = json.loads(body["Body"].read())
    assert summary["status"] == "complete" and summary["parity"]["identical"]
    assert summary["run_dir"].startswith(run_uri + "?endpoint_override=")
    paths = [t["path"] for r in summary["trials"].values() for t in r]
    assert all(p.startswith(run_uri) for p in paths), paths

    # inspect: the plain URI, the endpoint from AWS_ENDPOINT_URL_S3 this time
    os.environ["AWS_ENDPOINT_URL_S3"] = s3
    try:
        shown = cli("tuning.inspect", run_uri, cwd=tmp_path)
    finally:
        del os.environ["AWS_ENDPOINT_URL_S3"]
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert f"{summary['best']['mse']:.4f}" in shown.stdout
    assert "2 ok, 0 errored" in shown.stdout

    # Tuner.restore reads Tune's state from S3 (the same trainable, the same split)
    from ray import tune

    from tuning.config import validate
    from tuning.runners.tune import trainable
    from tuning.trial.fit import TrialSpec

    experiment = validate({**raw, "storage_path": str(tmp_path)})
    assert tune.Tuner.can_restore(summary["run_dir"])
    restored = tune.Tuner.restore(
        summary["run_dir"],
        trainable=trainable(experiment, housing_split, TrialSpec.from_experiment(experiment)),
    )
    grid = restored.get_results()
    assert len(grid) == 2 and not grid.errors
    best = grid.get_best_result(metric="mse", mode="min")
    assert best.metrics["mse"] == pytest.approx(summary["best"]["mse"])


def test_unusable_s3_location_is_refused_before_running(tmp_path, s3):
    from tuning.errors import ExperimentError
    from tuning.run_files import new_run_dir

    with pytest.raises(ExperimentError, match="must be a writable folder or a URI pyarrow can open") as info:
        new_run_dir(f"s3://no-such-bucket/runs?endpoint_override={s3}&scheme=http", "nobucket")
    assert info.value.key == "storage_path" and "no-such-bucket" in str(info.value)
    with pytest.raises(ExperimentError, match="storage_path"):
        new_run_dir("nosuchscheme://bucket/runs", "x")


def test_inspect_of_a_missing_s3_run_is_one_line(tmp_path, s3):
    result = cli("tuning.inspect", f"s3://tuning/nothing/here?endpoint_override={s3}&scheme=http", cwd=ROOT)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: s3://tuning/nothing/here") and "is not a tuning run directory" in line
