"""``python -m benchmarks.gpu``: experiments/xgb_gpu.yaml on a GPU, four ways, against the CPUs.

Variants (each its own process, medians of ``--repeats``), with ``nvidia-smi`` sampling the
GPU's utilisation and memory once a second during each:

- ``tune_gpu_1``, ``tune_gpu_0.5``, ``tune_gpu_0.25``: ``python -m tuning.run
  experiments/xgb_gpu.yaml`` with ``resources.num_gpus`` 1, 0.5, 0.25 (1, 2, 4 trials a GPU)
- ``tune_cpu``: the same grid with ``device: cpu`` and no GPU, one core a trial (every core busy)
- ``loop_gpu``: a plain XGBoost loop on the GPU, one configuration after another, no Ray

It prints a markdown table for BENCHMARKS.md and its checks, and exits 1 if a check fails:
the CPU and the GPU pick the same best configuration; every configuration's MSE on the CPU
is within ``RTOL`` of the GPU's (XGBoost documents no cross-device bit identity: the GPU
builds its histograms with a pre-rounded, order-independent sum); on the GPU, the first n
rounds of an 800-round fit predict exactly as an n-round fit (shared fits); no run printed
XGBoost's "mismatched devices" warning. ``--dry-run`` prints the commands and a table of
made-up figures (what the tests run on CPU-only machines).

On the device machine (Python 3.12; no Ray there, nor pydantic, tensorboardX, xgboost), the
packages travel as cp312 wheels (/work/.library/device/README.md), in parts under 64 MiB, as
one call may carry 64 MiB: here, in the repo's root, ``echo /.whl/ >> .git/info/exclude``,
download (``pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation
cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl/all``) ray==2.60.0
xgboost==3.2.0 pydantic pydantic-core annotated-types typing-inspection tensorboardX jsonschema
jsonschema-specifications referencing rpds-py (the versions constraints.txt pins or pip
picks), ``split -b 60M`` each wheel over 60 MiB into ``.whl/partN/`` folders of under 64 MiB,
and carry one part a call, appending to ``/tmp/wheels`` there (the machine stays warm 30 s
between calls), ``cat`` the pieces together in the last call and run::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site /tmp/wheels/*.whl &&
    export PYTHONPATH=/tmp/site:. SCIKIT_LEARN_DATA=<carried cache> PYTHONUNBUFFERED=1 &&
    python3 -m benchmarks.gpu --repeats 1 | tee $OUT/gpu.md

(the California housing cache, about 2 MiB, travels too: copy /work/shared/scikit_learn_data
into an ignored folder and carry it). ``--repeats 1`` fits the run in about 8 minutes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import fetch_california_housing
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from benchmarks import ROOT, use_development_data_cache
from tuning.config import load_experiment
from tuning.estimators.families import family_of

EXPERIMENT = ROOT / "experiments" / "xgb_gpu.yaml"
FRACTIONS = (1.0, 0.5, 0.25)
VARIANTS = (*(f"tune_gpu_{f:g}" for f in FRACTIONS), "tune_cpu", "loop_gpu")
RTOL = 1e-2  # CPU vs GPU MSE of one configuration: XGBoost promises no bit identity across devices
MISMATCH = "mismatched devices"
SMI = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits", "-l", "1"]


def command(variant: str, storage: Path, overrides: tuple[str, ...] = ()) -> list[str]:
    """The process a variant runs; ``overrides`` (``--set``) change the experiment for every variant."""
    if variant == "loop_gpu":
        return [sys.executable, "-m", "benchmarks.gpu", "--loop", *(f"--set={o}" for o in overrides)]
    sets = [*overrides, f"storage_path={storage / variant}"]
    if variant == "tune_cpu":
        sets += ["estimator.params.device=cpu", "resources.num_gpus=0", "resources.num_cpus=1"]
    else:
        sets.append(f"resources.num_gpus={variant.removeprefix('tune_gpu_')}")
    return [sys.executable, "-m", "tuning.run", str(EXPERIMENT), *(f"--set={s}" for s in sets)]


class Sampler:
    """``nvidia-smi -l 1`` in the background: the GPU's utilisation (%) and memory (MiB)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.process = subprocess.Popen(SMI, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout or ():
            util, memory = (float(v) for v in line.split(",")[:2])
            self.samples.append((util, memory))

    def stop(self) -> dict[str, float | None]:
        self.process.terminate()
        self.process.wait()
        self.reader.join(timeout=2)
        utils = [u for u, _ in self.samples]
        return {
            "gpu_util_median": statistics.median(utils) if utils else None,
            "gpu_util_max": max(utils, default=None),
            "gpu_mem_max_mib": max((m for _, m in self.samples), default=None),
        }


def run_variant(variant: str, storage: Path, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """One variant, sampled: wall time, trial phase, MSE per configuration, the best, GPU use."""
    sampler = Sampler()
    started = time.perf_counter()
    done = subprocess.run(command(variant, storage, overrides), cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    gpu = sampler.stop()
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    record = {"end_to_end_s": wall, **gpu, "mismatch_warnings": (done.stdout + done.stderr).count(MISMATCH)}
    if variant == "loop_gpu":
        return {**record, **json.loads(done.stdout.strip().splitlines()[-1])}
    summary = json.loads((sorted((storage / variant / "xgb_gpu").iterdir())[-1] / "summary.json").read_text())
    mse = {key(t["config"]): t["metrics"]["mse"] for t in summary["trials"]["tune"] if t["status"] == "ok"}
    visible = sorted({t["cuda_visible_devices"] for t in summary["trials"]["tune"]})
    return {**record, "trial_phase_s": summary["timings"]["tune_s"], "mse": mse, "visible": visible}


def key(config: dict[str, Any]) -> str:
    return ",".join(f"{p}={config[p]:g}" for p in ("max_depth", "learning_rate", "n_estimators"))


def loop(overrides: list[str]) -> None:
    """The plain loop: each configuration on the GPU in turn, no Ray; then the shared-fit check."""
    import xgboost  # optional: the xgboost extra

    experiment = load_experiment(str(EXPERIMENT), overrides)
    X, y = fetch_california_housing(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=experiment.split.test_size, random_state=experiment.split.seed
    )
    params = {**experiment.estimator.params, "random_state": experiment.seed}
    grids = {name: domain["grid"] for name, domain in experiment.space.items()}
    started, mse = time.perf_counter(), {}
    for values in itertools.product(*grids.values()):
        config = dict(zip(grids, values, strict=True))
        model = xgboost.XGBRegressor(**params, **config).fit(X_train, y_train)
        mse[key(config)] = float(mean_squared_error(y_test, model.predict(X_test)))
    loop_s = time.perf_counter() - started
    fit = lambda n: xgboost.XGBRegressor(**params, max_depth=6, learning_rate=0.1, n_estimators=n)  # noqa: E731
    large = fit(800).fit(X_train, y_train)
    cut = family_of(xgboost.XGBRegressor).cut
    exact = all(
        np.array_equal(cut(large, n).predict(X_test), fit(n).fit(X_train, y_train).predict(X_test))
        for n in (200, 400)
    )
    print(json.dumps({"trial_phase_s": loop_s, "mse": mse, "shared_exact": exact}))


def checks(runs: dict[str, dict[str, Any]]) -> list[tuple[str, bool]]:
    """What must hold: same best configuration, MSEs within RTOL, exact shared fits, no warnings."""
    best = {name: min(run["mse"], key=run["mse"].get) for name, run in runs.items()}
    cpu, gpu = runs["tune_cpu"]["mse"], runs["loop_gpu"]["mse"]
    worst = max(abs(cpu[k] - gpu[k]) / gpu[k] for k in gpu)
    return [
        (
            f"one best configuration on CPU and GPU: {sorted(set(best.values()))}",
            len(set(best.values())) == 1,
        ),
        (f"CPU vs GPU MSE, largest relative difference {worst:.2e} <= {RTOL:g}", worst <= RTOL),
        (
            "GPU: the first n rounds of an 800-round fit predict as an n-round fit",
            runs["loop_gpu"]["shared_exact"],
        ),
        ("no 'mismatched devices' warning", not any(r["mismatch_warnings"] for r in runs.values())),
    ]


def table(runs: dict[str, dict[str, Any]]) -> str:
    """The markdown table of BENCHMARKS.md's GPU section (medians)."""
    loop_s = runs["loop_gpu"]["trial_phase_s"]
    rows = [
        "| variant | trials a GPU | trial phase (s) | end to end (s) | vs GPU loop "
        "| GPU util median / max (%) | GPU memory max (MiB) | best MSE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        per_gpu = {"tune_cpu": "- (16 cores)", "loop_gpu": "1 (no Ray)"}.get(name)
        per_gpu = per_gpu or f"{1 / float(name.removeprefix('tune_gpu_')):g}"
        rows.append(
            f"| {name} | {per_gpu} | {run['trial_phase_s']:.1f} | {run['end_to_end_s']:.1f} "
            f"| {loop_s / run['trial_phase_s']:.2f}x | {_num(run['gpu_util_median'])} / "
            f"{_num(run['gpu_util_max'])} | {_num(run['gpu_mem_max_mib'])} | {min(run['mse'].values()):.4f} |"
        )
    return "\n".join(rows)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeats of one variant: medians of the numbers, the first repeat's MSEs and flags."""
    numbers = ("trial_phase_s", "end_to_end_s", "gpu_util_median", "gpu_util_max", "gpu_mem_max_mib")
    merged = dict(runs[0])
    for name in numbers:
        values = [r[name] for r in runs if r.get(name) is not None]
        merged[name] = statistics.median(values) if values else None
    merged["mismatch_warnings"] = sum(r["mismatch_warnings"] for r in runs)
    return merged


def fake_run(variant: str, storage: Path, overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """Made-up figures in the shape `run_variant` returns (``--dry-run``)."""
    mse = {
        "max_depth=6,learning_rate=0.1,n_estimators=800": 0.2,
        "max_depth=4,learning_rate=0.1,n_estimators=200": 0.3,
    }
    util = None if variant == "tune_cpu" else 50.0
    return {
        "end_to_end_s": 20.0, "trial_phase_s": 10.0, "gpu_util_median": util, "gpu_util_max": util,
        "gpu_mem_max_mib": util, "mismatch_warnings": 0, "mse": mse, "shared_exact": True,
    }  # fmt: skip


def main(argv: list[str] | None = None, runner=run_variant) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="rounds of every variant, interleaved")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="KEY=VALUE, every variant"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands and a made-up table")
    parser.add_argument(
        "--loop", action="store_true", help=argparse.SUPPRESS
    )  # the loop_gpu variant's process
    args = parser.parse_args(argv)
    use_development_data_cache()
    if args.loop:
        loop(args.overrides)
        return 0
    if args.dry_run:
        runner = fake_run
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp)
        if args.dry_run:
            for variant in args.variants:
                print("$", " ".join(command(variant, storage, tuple(args.overrides))))
        overrides = tuple(args.overrides)
        rounds = [{v: runner(v, storage, overrides) for v in args.variants} for _ in range(args.repeats)]
    runs = {v: median_run([r[v] for r in rounds]) for v in args.variants}
    print(table(runs))
    results = checks(runs) if {"tune_cpu", "loop_gpu"} <= set(runs) else []
    for text, ok in results:
        print(f"- {'ok' if ok else 'FAILED'}: {text}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
