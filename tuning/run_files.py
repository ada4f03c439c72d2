"""The run directory: one per run, written atomically, with the resolved experiment."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import shutil
import subprocess
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from tuning.errors import ExperimentError
from tuning.runner_names import SEQUENTIAL
from tuning.storage import RESERVE_BYTES, is_uri, join, new_remote_run_dir, read_text
from tuning.summary_types import Summary

EXPERIMENT_FILE = "experiment.yaml"
ENVIRONMENT_FILE = "environment.json"  # package versions and git commit, written at the start
SUMMARY_FILE = "summary.json"  # the run's results: `tuning.reports.summary` writes it
STARTED_FILE = "started.json"  # what started the run: --resume continues only the same experiment and rows
TRIALS_FILE = "trials.jsonl"  # a runner's trials, a row each, in its folder (baseline, tasks)
SEQUENTIAL_FILE = f"{SEQUENTIAL}/{TRIALS_FILE}"  # the baseline's (`tuning.runners.sequential`)
MODEL_FILE = "best_model.joblib"  # the best configuration refitted (`tuning.reports.best_model`)
REPORT_FILE = "report.html"  # the HTML report (`tuning.reports.html`)


def new_run_dir(storage_path: str, name: str) -> Path:
    """Create ``<storage_path>/<name>/<timestamp>`` exclusively: runs never share one.

    For a URI storage path (``s3://...``) the folder returned stages the run's own files;
    `tuning.storage.publish` copies it up (see `tuning.storage`).
    """
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    if is_uri(storage_path):
        return new_remote_run_dir(storage_path, name, stamp)
    base = Path(storage_path) / name
    try:
        base.mkdir(parents=True, exist_ok=True)
        for attempt in range(1000):
            run_dir = base / (stamp if attempt == 0 else f"{stamp}_{attempt}")
            try:
                run_dir.mkdir()
                return run_dir
            except FileExistsError:
                continue
    except OSError as exc:
        raise ExperimentError(
            f"must be a writable folder; cannot create {base} ({exc.strerror or exc})",
            key="storage_path",
        ) from None
    raise ExperimentError(f"has too many runs started this second in {base}", key="storage_path")


def check_writable(storage_path: str) -> None:
    """Refuse a results folder that cannot be created or written, before Ray starts.

    ``storage_path`` is any local folder, relative to the working directory or absolute;
    the run goes to ``<storage_path>/<name>/<timestamp>`` and ``name`` is one path
    component, so nothing is written outside it. URIs are left to their filesystem.
    """
    if "://" in storage_path:
        return
    path = Path(storage_path)
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise ExperimentError(
            f"must be a writable folder; {existing} is a file, not a folder; got {storage_path!r}",
            key="storage_path",
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ExperimentError(
            f"must be a writable folder; {existing} is not writable; got {storage_path!r}",
            key="storage_path",
        )
    free = shutil.disk_usage(existing).free
    if free < RESERVE_BYTES:  # a full disk: refused before a run directory is made
        raise ExperimentError(
            f"must have {RESERVE_BYTES // 2**20} MB free; {existing} has {free / 2**20:.1f} MB; "
            f"got {storage_path!r}",
            key="storage_path",
        )


def create_new(folder: Path, prefix: str) -> tuple[int, Path]:
    """Create a new, empty, uniquely named file in ``folder``: its descriptor and path.

    Its mode is what ``open`` would give (0o666 less the umask, or a shared folder's
    default ACL), not `tempfile.mkstemp`'s private 0o600: renamed into place, it stays
    readable by whoever may read the folder (a teammate, TensorBoard run by another user).
    """
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(4)}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name {prefix}* in {folder}")


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing: a crash leaves the old file or the new one.

    The file gets the mode a plain ``open`` would (see `create_new`).
    """
    fd, tmp = create_new(path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def write_experiment(run_dir: Path, resolved: dict[str, Any]) -> None:
    """Save the fully resolved experiment beside its results, as Hydra does."""
    write_atomic(run_dir / EXPERIMENT_FILE, yaml.safe_dump(resolved, sort_keys=False))


def write_started(
    run_dir: Path, split_fingerprint: dict[str, Any], validation: dict[str, Any] | None = None
) -> None:
    """Record what started the run (after `write_experiment`): the sha256 of the saved
    experiment.yaml and the split's fingerprint, which `check_started` compares on resume, and
    how the repeats were grouped into trials (``validation``: a resume keeps the chunk size even
    when the run was killed before it wrote its summary)."""
    text = (run_dir / EXPERIMENT_FILE).read_text()
    record = {"experiment_sha256": _sha256(text), "split": split_fingerprint, "validation": validation}
    write_json(run_dir / STARTED_FILE, record)


def check_started(run_dir: Path, split_fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Refuse to resume a run whose saved experiment.yaml was edited since it started, or
    (``split_fingerprint`` given) whose data now splits into other rows: old and new trials
    would be ranked together. A run directory from before `STARTED_FILE` is not checked.
    Returns the record `write_started` wrote (empty without one)."""
    text = read_text(run_dir, STARTED_FILE)
    if text is None:
        return {}
    try:
        started = json.loads(text)
    except json.JSONDecodeError:
        raise ExperimentError(
            f"cannot be resumed: {STARTED_FILE} is not JSON", where=f"--resume {run_dir}"
        ) from None
    saved = read_text(run_dir, EXPERIMENT_FILE) or ""
    if _sha256(saved) != started.get("experiment_sha256"):
        raise ExperimentError(
            f"cannot be resumed: {EXPERIMENT_FILE} was edited after the run started (its sha256 differs "
            f"from {STARTED_FILE}'s); the finished trials ran the experiment as it was: "
            "start a new run instead",
            where=f"--resume {run_dir}",
        )
    before = started.get("split") or {}
    if split_fingerprint is not None and before and before != split_fingerprint:
        changed = sorted(k for k in split_fingerprint if before.get(k) != split_fingerprint[k])
        raise ExperimentError(
            f"cannot be resumed: the data changed since the run started ({', '.join(changed)} of the "
            f"split differ from {STARTED_FILE}'s); its finished trials were scored on other rows: "
            "start a new run instead",
            where=f"--resume {run_dir}",
        )
    return started


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def read_experiment(run_dir: Path | str) -> dict[str, Any]:
    """The saved experiment of a run directory: a local path or a URI."""
    text = read_text(run_dir, EXPERIMENT_FILE)
    if text is None:
        raise ExperimentError(f"is not a tuning run directory (no {EXPERIMENT_FILE})", where=str(run_dir))
    try:
        saved = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # cut short, or edited by hand
        reason = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise ExperimentError(
            f"cannot be read: it is not valid YAML ({reason}); the file is damaged",
            where=join(str(run_dir), EXPERIMENT_FILE),
        ) from None
    if not isinstance(saved, dict) or not {"name", "metric", "mode"} <= set(saved):
        raise ExperimentError(
            "cannot be read: it is not a saved experiment (no name, metric and mode)",
            where=join(str(run_dir), EXPERIMENT_FILE),
        )
    return saved


def environment() -> dict[str, str]:
    """Versions of what produced the results, and the git commit of the working folder."""
    found = {"python": platform.python_version()}
    for package in ("tuning", "ray", "scikit-learn", "numpy", "pandas", "pyarrow", "pydantic"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        found["git_commit"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return found


def read_summary(run_dir: Path | str) -> Summary | None:
    """A run directory's summary (local or a URI); None before the run wrote one."""
    text = read_text(run_dir, SUMMARY_FILE)
    if text is None:
        return None
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as exc:  # cut short, or not the tool's
        raise ExperimentError(
            f"cannot be read: it is not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno}); "
            "the file is damaged",
            where=join(str(run_dir), SUMMARY_FILE),
        ) from None
    if not isinstance(summary, dict):
        raise ExperimentError(
            f"cannot be read: it holds a {type(summary).__name__}, not a summary",
            where=join(str(run_dir), SUMMARY_FILE),
        )
    return summary
