"""``python -m benchmarks.end_to_end``: whole commands, process start to exit, side by side.

Three commands, each a new process every round, rounds interleaved (the order rotates from
round to round) so machine noise hits them alike (medians of ``--repeats``):

- ``loop``       ``python -m benchmarks.loop``: the plain scikit-learn loop, ``n_jobs=-1``
- ``rf``         ``python -m tuning.run experiments/rf.yaml``: the tutorial, one Tune trial per forest
- ``rf_shared``  ``python -m tuning.run experiments/rf_shared.yaml``: the same grid, shared fits

For the two runs, the phases come from the run's own records (summary.json): Ray start,
data load, trial phase, refit (the best model's refit, or the load of the fit a trial kept,
and its save); "other" is the rest of the process (imports, planning, reports, shutdown).
Fixed cost = end to end - trial phase. The benchmark fails (exit 1) unless rf_shared's MSEs
equal rf's to the last bit.

Run it with the Python of a base install, as the README's first command makes one
(``python3 -m venv /tmp/base && /tmp/base/bin/pip install -c constraints.txt -e .``): the
test extras add MLflow and W&B, which Ray Tune's usage telemetry imports at every
``Tuner.fit`` that has callbacks (``ray/air/_internal/usage.py``, ``_count_callbacks``:
~1.7 s more per run on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import ROOT, use_development_data_cache
from benchmarks.compare import machine, update_markdown

COMMANDS = ("loop", "rf", "rf_shared")


def run_once(name: str, overrides: list[str], storage: Path) -> dict[str, Any]:
    """One command in a new process: its end-to-end wall time, phases and MSEs by size."""
    sets = [f"--set={o}" for o in overrides]
    if name == "loop":
        command = [sys.executable, "-m", "benchmarks.loop", *sets]
    else:
        experiment = str(ROOT / "experiments" / f"{name}.yaml")
        command = [sys.executable, "-m", "tuning.run", experiment, *sets, f"--set=storage_path={storage}"]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    if name == "loop":
        out = json.loads(done.stdout.strip().splitlines()[-1])
        return {"end_to_end_s": wall, "trial_phase_s": out["loop_s"], "mse": out["mse"]}
    run_dir = sorted((storage / name).iterdir())[-1]
    summary = json.loads((run_dir / "summary.json").read_text())
    timings = summary["timings"]
    phases = {
        "ray_start_s": timings["ray_start_s"] or 0.0,
        "data_load_s": timings["data_load_s"],
        "trial_phase_s": timings["tune_s"],
        "refit_s": phase_seconds(timings, "refit"),  # the refit, or the load of a kept fit, and the save
    }
    return {
        **phases,
        "other_s": wall - sum(phases.values()),
        "end_to_end_s": wall,
        "model_mb": (run_dir / "best_model.joblib").stat().st_size / 2**20,
        "mse": {str(t["config"]["n_estimators"]): t["metrics"]["mse"] for t in summary["trials"]["tune"]},
    }


def phase_seconds(timings: dict[str, Any], name: str) -> float:
    """How long the run's phase ``name`` took (0 if it did not run)."""
    spans = [p["end"] - p["start"] for p in timings.get("phases", []) if p["name"] == name and p["end"]]
    return spans[-1] if spans else 0.0


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k, v in runs[0].items() if isinstance(v, float)]
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def table(report: dict[str, Any]) -> str:
    loop = report["medians"]["loop"]["end_to_end_s"]
    rows = [
        "| command | end to end s | vs loop | trial phase s | fixed s | Ray start s | data load s "
        "| refit s | other s | model MB |",
        "|" + "---|" * 10,
    ]
    for name, m in report["medians"].items():
        cells = [
            f"{m.get(k):.2f}" if k in m else "-" for k in ("ray_start_s", "data_load_s", "refit_s", "other_s")
        ]
        rows.append(
            f"| {name} | {m['end_to_end_s']:.2f} | {m['end_to_end_s'] / loop:.2f}x "
            f"| {m['trial_phase_s']:.2f} | {m['end_to_end_s'] - m['trial_phase_s']:.2f} "
            f"| {' | '.join(cells)} | " + (f"{m['model_mb']:.0f} |" if "model_mb" in m else "- |")
        )
    return "\n".join(rows)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    return "\n".join(
        [
            f"### End to end: {', '.join(COMMANDS)}, {m['nproc']} CPUs",
            "",
            f"`{report['command']}` — {report['created']}, {report['repeats']} rounds (medians), "
            f"{m['nproc']} CPUs, {m['cpu_model']}, load average {m['load_avg_1m_at_start']:.2f} at start. "
            f"rf_shared's MSEs equal rf's to the last bit: **{report['identical_mse']}**.",
            "",
            table(report),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.end_to_end", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override all three")
    parser.add_argument("--out", help="JSON file (default: results/benchmarks/end_to_end-<time>.json)")
    parser.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="update this file ('': no)")
    args = parser.parse_args(argv)
    use_development_data_cache()
    load = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        for repeat in range(args.repeats):
            for name in COMMANDS[repeat % 3 :] + COMMANDS[: repeat % 3]:  # none always follows rf
                runs[name].append(run_once(name, args.overrides, Path(tmp)))
                print(
                    f"  round {repeat + 1}/{args.repeats}  {name:10s} {runs[name][-1]['end_to_end_s']:7.2f} s"
                )
    identical = all(r["mse"] == runs["rf"][0]["mse"] for r in runs["rf"] + runs["rf_shared"])
    report = {
        "command": "python -m benchmarks.end_to_end " + " ".join(sys.argv[1:] if argv is None else argv),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeats": args.repeats,
        "machine": machine(load),
        "identical_mse": identical,
        "medians": {name: medians(r) for name, r in runs.items()},
        "runs": runs,
    }
    print(table(report))
    out = (
        Path(args.out)
        if args.out
        else ROOT / "results" / "benchmarks" / f"end_to_end-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {out}")
    if args.markdown:
        update_markdown(Path(args.markdown), f"end-to-end-{report['machine']['nproc']}cpu", markdown(report))
    if not identical:
        print("ERROR: rf_shared's MSEs differ from rf's", file=sys.stderr)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
