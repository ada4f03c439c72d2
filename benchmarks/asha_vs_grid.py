"""ASHA against the full grid on the same space, side by side in one Ray session.

    PYTHONPATH=$PWD python benchmarks/asha_vs_grid.py [EXPERIMENT] [--repeats 3] [--num-cpus 2]

Runs the experiment (default experiments/rf_asha.yaml) with its scheduler, then the same
space with ``search.scheduler: none`` (every forest grown to the full budget in the same
steps), then as a plain grid with the budget fixed at its maximum (one fit per forest),
alternating, ``--repeats`` times. Prints the medians of the Tune trial phase, the best
metric, and the trials stopped early, and the ratios against the full grid.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import yaml


def variants(path: Path) -> dict[str, dict]:
    raw = yaml.safe_load(path.read_text())
    budget = raw["search"]["budget"]
    full = {**raw, "search": {**raw["search"], "scheduler": "none"}}
    once = {
        **raw,
        "search": {k: v for k, v in raw["search"].items() if k not in ("scheduler", "budget")},
        "estimator": {
            **raw.get("estimator", {}),
            "params": {
                **raw.get("estimator", {}).get("params", {}),
                budget.get("param", "n_estimators"): budget["max"],
            },
        },
    }
    return {"asha": raw, "grid, grown in steps": full, "grid, one fit": once}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default="experiments/rf_asha.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-cpus", type=float, default=2)
    args = parser.parse_args()

    import ray

    from tuning._experiment import run_experiment
    from tuning.config import validate

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, logging_level="WARNING")
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as storage:
        for repeat in range(args.repeats):
            for name, raw in variants(Path(args.experiment)).items():
                experiment = validate({**raw, "storage_path": storage, "refit": False, "runner": "tune"})
                summary = run_experiment(experiment, "tune", echo=lambda line: None)
                search = summary["search"]
                record = {
                    "wall_s": summary["timings"]["tune_s"],
                    "best": summary["best"][experiment.metric],
                    "best_config": summary["best"]["config"],
                    "stopped": search.get("tune_stopped_early", 0),
                    "steps": search.get("tune_steps_run"),
                    "trials": summary["counts"]["trials"],
                }
                runs.setdefault(name, []).append(record)
                print(f"repeat {repeat + 1} {name:22s} {record}", flush=True)
    ray.shutdown()

    base = statistics.median(r["wall_s"] for r in runs["grid, grown in steps"])
    print(f"\nmedians of {args.repeats} runs ({args.experiment}, {args.num_cpus:g} CPUs):")
    print(f"{'run':22s} {'tune s':>8s} {'vs grid':>8s} {'best':>8s} {'stopped':>8s} {'steps':>6s}")
    for name, records in runs.items():
        wall = statistics.median(r["wall_s"] for r in records)
        best = statistics.median(r["best"] for r in records)
        stopped = statistics.median(r["stopped"] for r in records)
        steps, trials = records[0]["steps"], records[0]["trials"]
        print(
            f"{name:22s} {wall:8.1f} {wall / base:7.2f}x {best:8.4f} {stopped:5.0f}/{trials:<2d}"
            f" {steps if steps is not None else '-':>6}"
        )


if __name__ == "__main__":
    main()
