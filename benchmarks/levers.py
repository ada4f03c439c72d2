"""Measure one lever at a time on the project's Tune runner: ``python -m benchmarks.levers``.

Ray starts once; each variant (environment variables and experiment overrides) runs
`tuning.runners.tune.run_tune` ``--repeats`` times, rounds interleaved; medians printed:
the trial phase's wall time, and the driver's CPU time (Tune's controller, its loggers and
checkpoints), which a busy shared machine disturbs far less than wall time.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "mccv": {
        "project": ({}, []),
        "checkpoint_period_3600s": ({"TUNE_GLOBAL_CHECKPOINT_S": "3600"}, []),
        "no_auto_loggers": ({"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}, []),
        "checkpoint_and_no_loggers": (
            {"TUNE_GLOBAL_CHECKPOINT_S": "3600", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"},
            [],
        ),
        "max_concurrent_2": ({}, ["resources.max_concurrent_trials=2"]),
        "max_pending_pg_2": ({"TUNE_MAX_PENDING_TRIALS_PG": "2"}, []),
        "num_cpus_0.5": ({}, ["resources.num_cpus=0.5"]),
    },
    "rf": {
        "as_listed_1cpu": ({}, ["search.order=as_listed", "resources.num_cpus=1"]),
        "largest_first_1cpu": ({}, ["search.order=largest_first", "resources.num_cpus=1"]),
        "largest_first_auto": ({}, ["search.order=largest_first", "resources.num_cpus=auto"]),
        "largest_first_2cpu": ({}, ["search.order=largest_first", "resources.num_cpus=2"]),
    },
}


def simulate(sizes: list[float], cores: int, cpus: int) -> float:
    """Makespan / ideal of Tune's FIFO list scheduling, a trial's time = size / its CPUs."""
    free = [0.0] * max(1, cores // cpus)
    for size in sizes:
        heapq.heapreplace(free, free[0] + size / cpus)
    return max(free) / (sum(sizes) / cores)


def print_simulation() -> None:
    """The ordering and CPU levers on the tutorial grid (time proportional to n_estimators)."""
    grid = list(range(8, 88, 4))
    for cores in (2, 16):
        for cpus in (1, 2):
            for name, sizes in (("as_listed", grid), ("largest_first", sorted(grid, reverse=True))):
                print(
                    f"{cores:2d} cores, {cpus} CPU/trial, {name:13s}: "
                    f"{simulate(sizes, cores, cpus):.2f}x ideal"
                )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?")
    parser.add_argument("--simulate", action="store_true", help="only the scheduling simulation")
    parser.add_argument("--variants", default="mccv", choices=sorted(VARIANTS))
    parser.add_argument("--only", nargs="*", help="variant names to run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-cpus", type=float)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    if args.simulate or not args.experiment:
        print_simulation()
        return

    import ray

    from tuning.config import load_experiment
    from tuning.planning.cluster import connect
    from tuning.planning.plan import make_plan
    from tuning.runners.progress import Progress
    from tuning.runners.session import RunnerSession
    from tuning.runners.tune import run_tune
    from tuning.trial.data import load_split

    cluster = connect(num_cpus=args.num_cpus)
    variants = {k: v for k, v in VARIANTS[args.variants].items() if not args.only or k in args.only}
    times: dict[str, list[float]] = {k: [] for k in variants}
    driver_cpu: dict[str, list[float]] = {k: [] for k in variants}
    base = load_experiment(args.experiment, args.overrides)
    split = load_split(base.data, base.split, base.split.seed)
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name, (env, overrides) in variants.items():
                plan = make_plan(
                    load_experiment(args.experiment, [*args.overrides, *overrides]), "tune", cluster
                )
                experiment, spec = plan.experiment, plan.spec
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    run_dir = Path(tmp) / f"{name}_{repeat}"
                    progress = Progress(
                        "tune", plan.total, experiment.metric, experiment.mode, lambda _: None
                    )
                    cpu = time.process_time()
                    session = RunnerSession(split, spec, run_dir, cluster.cpus, progress)
                    result = run_tune(session, experiment=experiment)
                    driver_cpu[name].append(time.process_time() - cpu)
                finally:
                    for k, v in saved.items():
                        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
                assert all(t.ok for t in result.trials) and len(result.trials) == plan.total
                times[name].append(result.wall_s)
                print(
                    f"{name:28s} repeat {repeat}: {result.wall_s:.2f} s, "
                    f"driver CPU {driver_cpu[name][-1]:.2f} s",
                    flush=True,
                )
    ray.shutdown()
    report = {
        "cpus": cluster.cpus,
        "median_wall_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "median_driver_cpu_s": {k: round(statistics.median(v), 3) for k, v in driver_cpu.items()},
        "load_avg": os.getloadavg(),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
