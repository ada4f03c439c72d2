"""Faults a reliability probe found (issue 33), fed through the command where a user meets
them: a resume on changed data or an edited experiment, a full or read-only disk, a trial
killed for memory, a crafted run directory, and secrets in messages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import experiment_dict
from tests.test_cli import cli
from tests.test_faults import by_n, fits, marked, run_dir_of, start, summary_of, wait_for

ROWS = 60


def csv_rows(path: Path, shift: float = 0.0) -> Path:
    """A small regression CSV (a, b -> y); ``shift`` moves the target: other rows, same shape."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, 2))
    y = X @ [1.0, -2.0] + shift
    lines = ["a,b,y", *(f"{a:.6f},{b:.6f},{t:.6f}" for (a, b), t in zip(X, y, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


def interrupted(tmp_path: Path, **changes) -> Path:
    """A Tune run of six 1.5 s trials, interrupted (SIGINT) after two finished: its run directory."""
    path = marked(tmp_path, 1.5, [1, 2, 3, 4, 5, 6], **changes)
    out = tmp_path / "first.txt"
    proc = start("tuning.run", str(path), "--num-cpus", "2", out=out)
    try:
        wait_for(lambda: "[tune] 2/6 done" in out.read_text(), what="two finished trials")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, out.read_text()[-3000:]
    finally:
        proc.kill()
    return run_dir_of(tmp_path)


def one_error_line(result) -> str:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, lines
    return lines[0]


# ----------------------------------------------------------------- 3, 4. what a resume continues


@pytest.mark.slow
def test_resume_refuses_changed_data_and_an_edited_experiment(tmp_path):
    """Items 3 and 4: between the interrupt and ``--resume`` the CSV gets other rows, then the
    run directory's experiment.yaml is edited; each resume is refused in one line (exit 2),
    nothing runs, and once both are put back the resume completes with the kept trials."""
    csv = csv_rows(tmp_path / "rows.csv")
    run_dir = interrupted(tmp_path, data={"source": str(csv), "target": "y"})
    first = summary_of(run_dir)
    started_fits = len(fits(tmp_path))

    csv_rows(csv, shift=1000.0)  # same columns and row count, other values
    line = one_error_line(cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "2"))
    assert line.startswith(f"error: --resume {run_dir}: cannot be resumed: the data changed since")
    assert "(sha256 of the split differ" in line
    csv_rows(csv)

    saved = run_dir / "experiment.yaml"
    original = saved.read_text()
    edited = yaml.safe_load(original)
    edited["estimator"]["params"]["sleep"] = 0.0
    saved.write_text(yaml.safe_dump(edited, sort_keys=False))
    line = one_error_line(cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "2"))
    assert "cannot be resumed: experiment.yaml was edited after the run started" in line
    assert len(fits(tmp_path)) == started_fits and summary_of(run_dir) == first  # nothing ran or changed

    saved.write_text(original)
    resumed = cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "2")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = summary_of(run_dir)
    assert summary["status"] == "complete" and summary["split"] == first["split"]
    kept = {n for n, t in by_n(first).items() if t["status"] == "ok"}
    assert all(by_n(summary)[n]["started_at"] == by_n(first)[n]["started_at"] for n in kept)
    assert json.loads((run_dir / "started.json").read_text())["split"] == first["split"]


# ----------------------------------------------------------------- 1, 2. a full or read-only disk


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs: a disk the test can fill and remount read-only (skipped unless root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True
    )
    if not mounted or mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` until ``leave`` bytes are free: another program's file."""
    filler = disk / "filler.bin"
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(shutil.disk_usage(disk).free - leave, 0))
    return filler


def tune_state(run_dir: Path) -> dict[str, str]:
    """config n_estimators -> status, in Tune's newest experiment state on disk ({} if unreadable)."""
    try:
        state = json.loads(max(run_dir.glob("experiment_state-*.json")).read_text())
    except (ValueError, OSError):
        return {}
    trials = [json.loads(t) for t, _ in state["trial_data"]]
    return {t["config"]["n_estimators"]: t["status"] for t in trials}


def run_then_break(tmp_path: Path, disk: Path, fault) -> tuple[Path, subprocess.CompletedProcess]:
    """Start six 3 s Tune trials on ``disk``; once Tune's state there holds two finished
    trials, call ``fault``; the run must end in one line (exit 2): its run directory and output.

    Tune saves its state every 10 s by default (``auto``), by which time the six trials may all
    have ended; the run is told to save every second (``TUNE_GLOBAL_CHECKPOINT_S``) so the
    fault lands while trials are still pending."""
    path = marked(tmp_path, 3.0, [1, 2, 3, 4, 5, 6], storage_path=str(disk / "results"))
    out = tmp_path / "first.txt"
    proc = start("tuning.run", str(path), "--num-cpus", "2", out=out, env={"TUNE_GLOBAL_CHECKPOINT_S": "1"})
    try:
        wait_for(lambda: list((disk / "results" / "faulty").glob("*")), what="the run directory")
        (run_dir,) = (disk / "results" / "faulty").iterdir()
        saved = lambda: list(tune_state(run_dir).values()).count("TERMINATED") >= 2  # noqa: E731
        wait_for(saved, what="two finished trials in Tune's saved state")
        fault()
        code = proc.wait(timeout=180)
    finally:
        proc.kill()
    text = out.read_text()
    assert code == 2, text[-3000:]
    return run_dir, text


def resumes_keeping(tmp_path: Path, run_dir: Path, kept: set[int]) -> None:
    """``--resume`` completes every configuration and runs none of ``kept`` again."""
    before = len(fits(tmp_path))
    resumed = cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "2")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = summary_of(run_dir)
    assert summary["status"] == "complete" and summary["counts"]["ok"] == 6
    again = {n for n, _ in fits(tmp_path)[before:]}
    assert again and not again & kept, (again, kept)


def last_error_line(text: str) -> str:
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in text, text[-3000:]
    return errors[0]


@pytest.mark.slow
def test_a_disk_that_fills_mid_run_stops_in_one_line_and_resume_keeps_finished_trials(tmp_path, small_disk):
    """Item 1, on a real 24 MB tmpfs: another file fills it mid-run. The run stops while Tune's
    state still fits, says so in one line (exit 2), Tune's state stays whole JSON, and after the
    space is freed ``--resume`` keeps every trial that finished."""
    filler = []
    run_dir, text = run_then_break(tmp_path, small_disk, lambda: filler.append(fill(small_disk, 2 * 2**20)))
    line = last_error_line(text)
    assert line.startswith(f"error: {run_dir}: stopped: ") and "MB free (a run keeps 8 MB free)" in line
    assert f"continue with: python -m tuning.run --resume {run_dir}" in line
    kept = {n for n, status in tune_state(run_dir).items() if status == "TERMINATED"}
    assert len(kept) >= 2 and summary_of(run_dir)["status"] == "interrupted"
    filler[0].unlink()
    resumes_keeping(tmp_path, run_dir, kept)


@pytest.mark.slow
def test_a_disk_turned_read_only_mid_run_stops_in_one_line_and_resume_keeps_finished_trials(
    tmp_path, small_disk
):
    """Item 2, on a real tmpfs remounted read-only mid-run: one line (exit 2), and once it is
    writable again ``--resume`` does not run the trials Tune's saved state holds as finished."""
    kept: set[int] = set()

    def read_only():
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        kept.update(
            n
            for n, s in tune_state(next((small_disk / "results" / "faulty").iterdir())).items()
            if s == "TERMINATED"
        )

    run_dir, text = run_then_break(tmp_path, small_disk, read_only)
    line = last_error_line(text)
    # the storage watch, or (if every trial ended before its next look) the write of summary.json
    assert line.startswith(f"error: {run_dir}: stopped: "), line
    assert "is not writable" in line or "(Read-only file system)" in line, line
    subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert len(kept) >= 2
    resumes_keeping(tmp_path, run_dir, kept)


def test_a_full_disk_is_refused_before_a_run_directory_is_made(tmp_path, small_disk):
    """Item 1 at the start: under 8 MB free, one line (exit 2) and no run directory."""
    fill(small_disk, 2**20)
    path = marked(tmp_path, 0.0, [1], storage_path=str(small_disk / "results"))
    line = one_error_line(cli("tuning.run", str(path)))
    assert "storage_path must have 8 MB free;" in line and "MB; got" in line
    assert not (small_disk / "results" / "faulty").exists()


# ----------------------------------------------------------------- 12. a run directory's pickles


class Payload:
    """Unpickled, it writes ``marker``: what a crafted run directory would run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def crafted_run_dir(tmp_path: Path, marker: Path) -> Path:
    """A run directory of one finished Tune trial whose state carries pickled payloads, as
    Tune's own files would (``CLOUDPICKLE_FALLBACK`` values in experiment_state, tuner.pkl)."""
    import pickle

    from tuning.config import validate
    from tuning.run_files import write_experiment

    run_dir = tmp_path / "results" / "small" / "2026-01-01_00-00-00"
    run_dir.mkdir(parents=True)
    raw = {**experiment_dict(tmp_path), "runner": "tune"}
    write_experiment(run_dir, validate(raw).resolved())
    pickled = {"_type": "CLOUDPICKLE_FALLBACK", "value": pickle.dumps(Payload(marker)).hex()}
    trial = {
        "trainable_name": "trial",
        "trial_id": "abc_00000",
        "storage": pickled,
        "config": {"n_estimators": 4},
        "status": "TERMINATED",
        "relative_logdir": "trial_abc_00000",
    }
    result = {"mse": 0.25, "rmse": 0.5, "mae": 0.4, "r2": 0.9, "fit_time_s": 0.1}
    metadata = {"num_failures": 0, "last_result": result, "checkpoint_manager": pickled}
    state = {"trial_data": [[json.dumps(trial), json.dumps(metadata)]], "runner_data": {}, "stats": {}}
    (run_dir / "experiment_state-2026-01-01_00-00-00.json").write_text(json.dumps(state))
    (run_dir / "trial_abc_00000").mkdir()
    (run_dir / "tuner.pkl").write_bytes(pickle.dumps(Payload(marker)))
    return run_dir


def test_inspect_reads_a_crafted_run_directory_without_running_its_pickles(tmp_path):
    """Item 12: ``inspect`` reads Tune's state as JSON: the payloads pickled into it (a trial's
    storage, its checkpoint manager, tuner.pkl) never run, and the report still shows the trial."""
    marker = tmp_path / "payload-ran"
    run_dir = crafted_run_dir(tmp_path, marker)
    result = cli("tuning.inspect", str(run_dir))
    assert not marker.exists(), "inspect unpickled the run directory's payload"
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "trial_abc_00000" in result.stdout and "0.2500" in result.stdout
    assert "Trials:        1 ok, 0 errored, 0 retried" in result.stdout
    report = cli("tuning.report", str(run_dir))  # summary.json only: none here, one line
    assert report.returncode == 2 and "has no summary.json" in report.stderr and not marker.exists()


# ----------------------------------------------------------------- 13. secrets in messages

SECRET = "s3cret-pw"


def test_a_tracking_uris_credentials_are_not_repeated(tmp_path):
    """Item 13: an MLflow tracking URI with a user and password that does not answer is refused
    before Ray starts, in one line that names the host but not the password."""
    from tests.test_cli import write

    uri = f"http://alice:{SECRET}@127.0.0.1:9/"
    path = write(tmp_path, experiment_dict(tmp_path, tracking={"mlflow": {"tracking_uri": uri}}))
    result = cli("tuning.run", str(path))
    line = one_error_line(result)
    assert "tracking.mlflow.tracking_uri must be an MLflow tracking URI that answers" in line
    assert "'http://***@127.0.0.1:9/'" in line and SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "message, shown",
    [
        pytest.param(
            f"cannot use s3://AKIA:{SECRET}@bucket/runs?endpoint_override=http://u:{SECRET}@h:9000 (x)",
            "cannot use s3://***@bucket/runs?endpoint_override=http://***@h:9000 (x)",
            id="s3-and-endpoint",
        ),
        pytest.param(f"'https://tok{SECRET}@host/x'", "'https://***@host/x'", id="token-only"),
        pytest.param("s3://bucket/runs and /home/a@b", "s3://bucket/runs and /home/a@b", id="no-userinfo"),
    ],
)
def test_every_bad_input_message_redacts_uri_credentials(message, shown):
    """Item 13: `ExperimentError` itself redacts, so no message of bad input (a storage_path,
    data.source or tracking URI, as pyarrow or MLflow quote it) repeats a URI's userinfo."""
    from tuning.errors import ExperimentError

    assert str(ExperimentError(message, key="storage_path")) == f"storage_path {shown}"


def test_a_csv_link_to_a_system_file_is_refused_without_its_contents(tmp_path):
    """Item 13: ``rows.csv`` linked to /etc/passwd is refused by name (--dry-run: before any
    read); a CSV whose row does not parse is refused without the row's text."""
    from tests.test_cli import write

    link = tmp_path / "rows.csv"
    link.symlink_to("/etc/passwd")
    path = write(tmp_path, experiment_dict(tmp_path, data={"source": str(link), "target": "y"}))
    result = cli("tuning.run", str(path), "--dry-run")
    line = one_error_line(result)
    assert f"data.source must be a CSV/Parquet file; '{link}' is a link to '/etc/passwd'" in line
    assert "root:" not in result.stdout + result.stderr

    bad = tmp_path / "bad.csv"
    bad.write_text(f"a,b,y\n1,2,3\n4,{SECRET},6,7\n")
    path = write(tmp_path, experiment_dict(tmp_path, data={"source": str(bad), "target": "y"}))
    result = cli("tuning.run", str(path), "--num-cpus", "1")
    line = one_error_line(result)
    assert "data.source cannot read" in line and "Expected 3 columns, got 4" in line
    assert SECRET not in result.stdout + result.stderr
