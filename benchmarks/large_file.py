"""``python -m benchmarks.large_file``: a large file read and split by Ray Data and in process.

Writes a file of ``--rows`` rows (default 2 million: 8 float features and a float target,
seeded) as CSV and as Parquet under ``--folder`` (default /tmp/large-file; never in the
repository), then, in a new process each time (Ray started first, as a run starts it), times
``tuning.trial.data.load_split`` with ``data.reader: ray_data`` and ``in_process``: the read and the
80/20 split, rounds interleaved (the order rotates), medians of ``--repeats``. Peak memory is
sampled every 50 ms during the load, the rise over the start: of the driver (RSS) and of the
whole process tree (driver, Ray's processes and workers: the sum of their RSS, with Ray's
object store pages counted in each process that maps them). The two readers' splits must
have the same fingerprint (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil

from benchmarks import ROOT
from benchmarks.compare import machine, update_markdown

READERS = ("ray_data", "in_process")
FORMATS = ("csv", "parquet")


def write_files(rows: int, folder: Path) -> dict[str, Path]:
    """The rows as CSV and Parquet (written once per size)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {fmt: folder / f"rows-{rows}.{fmt}" for fmt in FORMATS}
    if all(p.exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(201)
    frame = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"x{i}" for i in range(8)])
    frame["y"] = frame.sum(axis=1) + rng.normal(size=rows)
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False)
    return paths


class TreeMemory:
    """The peak RSS of this process and of its whole process tree, sampled while running."""

    def __init__(self):
        self.me = psutil.Process()
        self.start_self, self.start_tree = self._rss()
        self.peak_self, self.peak_tree = self.start_self, self.start_tree
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _rss(self) -> tuple[int, int]:
        own, tree = self.me.memory_info().rss, 0
        for process in [self.me, *self.me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # ended meanwhile
                tree += process.memory_info().rss
        return own, tree

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            own, tree = self._rss()
            self.peak_self, self.peak_tree = max(self.peak_self, own), max(self.peak_tree, tree)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {
            "driver_peak_mb": (self.peak_self - self.start_self) / 2**20,
            "tree_peak_mb": (self.peak_tree - self.start_tree) / 2**20,
        }


def load_once(path: str, reader: str) -> dict[str, Any]:
    """In this (new) process: start Ray, then time and watch one load_split."""
    import ray  # heavy: only in the measuring process

    from tuning.config import DataConfig, SplitConfig
    from tuning.trial.data import load_split

    ray.init(include_dashboard=False, logging_level="ERROR")
    time.sleep(2)  # Ray's own processes settle before the baseline
    memory = TreeMemory()
    started = time.perf_counter()
    split = load_split(DataConfig(source=path, target="y", reader=reader), SplitConfig(test_size=0.2), 201)
    load_s = time.perf_counter() - started
    return {"load_s": load_s, **memory.stop(), "sha256": split.fingerprint()["sha256"]}


def measure(path: Path, reader: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.large_file", "--one", str(path), reader]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{reader} on {path} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(report: dict[str, Any]) -> str:
    rows = [
        "| file | MB | reader | load and split s | driver peak MB | process tree peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for key, m in report["medians"].items():
        fmt, reader = key.split(":")
        rows.append(
            f"| {fmt} | {report['sizes_mb'][fmt]:.0f} | {reader} | {m['load_s']:.2f} "
            f"| {m['driver_peak_mb']:.0f} | {m['tree_peak_mb']:.0f} |"
        )
    return "\n".join(rows)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    return "\n".join(
        [
            f"### A large file: {report['rows']:,} rows through each reader, {m['nproc']} CPUs",
            "",
            f"`{report['command']}` — {report['created']}, {report['repeats']} rounds (medians), "
            f"{m['nproc']} CPUs, {m['cpu_model']}, load average {m['load_avg_1m_at_start']:.2f} at start. "
            f"The readers' splits are the same: **{report['same_split']}**.",
            "",
            table(report),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.large_file", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/large-file"))
    parser.add_argument("--out", help="JSON file (default: results/benchmarks/large_file-<time>.json)")
    parser.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="update this file ('': no)")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "READER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(load_once(*args.one)))
        return 0
    load = os.getloadavg()[0]
    paths = write_files(args.rows, args.folder)
    runs: dict[str, list[dict[str, Any]]] = {f"{f}:{r}": [] for f in FORMATS for r in READERS}
    for repeat in range(args.repeats):
        order = list(runs) if repeat % 2 == 0 else list(reversed(runs))
        for key in order:
            fmt, reader = key.split(":")
            runs[key].append(measure(paths[fmt], reader))
            print(f"  round {repeat + 1}/{args.repeats}  {key:22s} {runs[key][-1]['load_s']:7.2f} s")
    same = len({r["sha256"] for rs in runs.values() for r in rs}) == 1
    keys = ("load_s", "driver_peak_mb", "tree_peak_mb")
    report = {
        "command": "python -m benchmarks.large_file " + " ".join(sys.argv[1:] if argv is None else argv),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "repeats": args.repeats,
        "machine": machine(load),
        "sizes_mb": {fmt: path.stat().st_size / 2**20 for fmt, path in paths.items()},
        "same_split": same,
        "medians": {k: {m: statistics.median(r[m] for r in rs) for m in keys} for k, rs in runs.items()},
        "runs": runs,
    }
    print(table(report))
    out = (
        Path(args.out)
        if args.out
        else ROOT / "results" / "benchmarks" / f"large_file-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {out}")
    if args.markdown:
        update_markdown(Path(args.markdown), f"large-file-{report['machine']['nproc']}cpu", markdown(report))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
