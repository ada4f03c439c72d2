"""Where a run directory lives: a local (or shared) folder, or a URI on a pyarrow filesystem.

A local path, NFS mount included, is used as it is. For a URI (``s3://bucket/prefix``,
``gs://...``), Ray Tune writes its trials there itself (``RunConfig(storage_path=URI)``);
the run's own files (``experiment.yaml``, ``summary.json``, the baseline's trials and
TensorBoard events) are written to a local staging folder and copied up with
`pyarrow.fs.copy_files`. Endpoint and credentials are pyarrow's: the URI's query
(``?endpoint_override=http://host:9000&scheme=http``), or ``AWS_ENDPOINT_URL_S3``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``.
"""

from __future__ import annotations

import atexit
import errno
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow.fs

from tuning.errors import ExperimentError, redacted

_STAGED: dict[Path, str] = {}  # local staging folder -> the run directory's URI
RESERVE_BYTES = 8 * 2**20  # a run stops while this much is free: its last state and reports still fit
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # the storage is full, or read-only


def storage_problem(folder: Path | str) -> str | None:
    """Why a local folder can no longer hold a run's files: read-only, or under `RESERVE_BYTES`
    free (None: it can; a URI is its filesystem's business)."""
    if is_uri(folder):
        return None
    if not os.access(folder, os.W_OK):
        return f"{folder} is not writable (a read-only file system?)"
    free = shutil.disk_usage(folder).free
    if free < RESERVE_BYTES:
        return f"{folder} has {free / 2**20:.1f} MB free (a run keeps {RESERVE_BYTES // 2**20} MB free)"
    return None


def is_uri(path: str | Path) -> bool:
    """Whether ``path`` names a filesystem by scheme (``s3://``...) rather than a local folder."""
    return isinstance(path, str) and "://" in path


def join(uri: str, *parts: str) -> str:
    """``uri/part/...``, keeping the URI's query (pyarrow options) at the end."""
    base, sep, query = uri.partition("?")
    return "/".join([base.rstrip("/"), *parts]) + sep + query


def parent(uri: str) -> str:
    base, sep, query = uri.partition("?")
    return base.rstrip("/").rsplit("/", 1)[0] + sep + query


def filesystem(uri: str):
    """pyarrow's filesystem and path for a URI."""
    return pyarrow.fs.FileSystem.from_uri(uri)


def new_remote_run_dir(storage_uri: str, name: str, stamp: str) -> Path:
    """Claim ``<storage_uri>/<name>/<stamp>`` and return the local folder staging it."""
    try:
        fs, base = filesystem(join(storage_uri, name))
        for attempt in range(1000):
            leaf = stamp if attempt == 0 else f"{stamp}_{attempt}"
            if fs.get_file_info(f"{base}/{leaf}").type == pyarrow.fs.FileType.NotFound:
                fs.create_dir(f"{base}/{leaf}")
                break
        else:
            raise ExperimentError(
                f"has too many runs started this second in {storage_uri}", key="storage_path"
            )
    except (OSError, ValueError) as exc:  # pyarrow: unknown scheme, no bucket, no credentials
        raise ExperimentError(
            f"must be a writable folder or a URI pyarrow can open; cannot use {storage_uri} ({exc})",
            key="storage_path",
        ) from None
    root = Path(tempfile.mkdtemp(prefix="tuning-staging-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # after the last `publish`
    staging = root / name / leaf
    staging.mkdir(parents=True)
    _STAGED[staging] = join(storage_uri, name, leaf)
    return staging


def remote(run_dir: Path) -> str | None:
    """The URI a staging folder stands for (None for a local run directory)."""
    return _STAGED.get(run_dir)


def location(path: Path | str) -> str:
    """Where a file of a run really is, to print: its URI (credentials `redacted`) if it is
    staged, else the path as given."""
    if is_uri(path):
        return redacted(str(path))
    path = Path(path)
    for staging, uri in _STAGED.items():
        if path == staging or staging in path.parents:
            return redacted(join(uri, *path.relative_to(staging).parts))
    return str(path)


def tune_storage_path(run_dir: Path) -> str:
    """``RunConfig(storage_path)`` for a run directory (Tune's ``name`` is its last part)."""
    uri = remote(run_dir)
    return parent(uri) if uri else str(run_dir.parent.resolve())


def publish(run_dir: Path) -> None:
    """Copy a staged run directory up to its URI (nothing to do for a local one).

    Call it after writing files a reader needs; the staging folder goes at exit.
    """
    uri = remote(run_dir)
    if uri is None:
        return
    fs, path = filesystem(uri)
    pyarrow.fs.copy_files(str(run_dir), path, destination_filesystem=fs)


def read_text(run_dir: Path | str, relative: str) -> str | None:
    """A file of a run directory, local or remote; None if it does not exist."""
    if not is_uri(run_dir):
        path = Path(run_dir) / relative
        return _decoded(path.read_bytes(), str(path)) if path.is_file() else None
    fs, path = filesystem(str(run_dir))
    target = f"{path.rstrip('/')}/{relative}"
    if fs.get_file_info(target).type != pyarrow.fs.FileType.File:
        return None
    with fs.open_input_stream(target) as stream:
        return _decoded(stream.read(), join(run_dir, relative))


def _decoded(data: bytes, where: str) -> str:
    """A run directory file's UTF-8 text; `ExperimentError` naming the file if it is not UTF-8."""
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise ExperimentError(
            f"cannot be read: it is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "the file is damaged",
            where=where,
        ) from None


def names(run_dir: Path | str) -> list[str]:
    """The entries of a run directory, local or remote (empty if it does not exist)."""
    if not is_uri(run_dir):
        return [p.name for p in Path(run_dir).iterdir()] if Path(run_dir).is_dir() else []
    fs, path = filesystem(str(run_dir))
    infos = fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))
    return [info.base_name for info in infos]
