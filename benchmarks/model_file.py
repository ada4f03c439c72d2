"""``python -m benchmarks.model_file RUN_DIR``: what compressing a saved model would cost and save.

Dumps the run's ``best_model.joblib`` with joblib at each compression setting and loads it back,
printing size, write and read time (medians of ``--repeats``). The run saves it uncompressed:
see BENCHMARKS.md ("Reading it") for why.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import joblib

SETTINGS = (0, ("zlib", 1), ("zlib", 3))


def main(argv: list[str] | None = None) -> None:
    prog = "python -m benchmarks.model_file"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    model = joblib.load(args.run_dir / "best_model.joblib")
    with tempfile.TemporaryDirectory(prefix="model-file-") as folder:
        path = Path(folder) / "model.joblib"
        for setting in SETTINGS:
            writes, reads = [], []
            for _ in range(args.repeats):
                started = time.perf_counter()
                joblib.dump(model, path, compress=setting)
                writes.append(time.perf_counter() - started)
                started = time.perf_counter()
                joblib.load(path)
                reads.append(time.perf_counter() - started)
            print(
                f"compress={setting!s:12} {path.stat().st_size / 1e6:6.0f} MB  "
                f"write {statistics.median(writes):.2f} s  read {statistics.median(reads):.2f} s"
            )


if __name__ == "__main__":
    main()
