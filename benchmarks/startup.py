"""Where a Tune run's trial phase goes: ``python -m benchmarks.startup``.

Each round is a fresh ``python -m tuning.run EXPERIMENT --runner tune`` in its own process
(its own Ray), timed from inside: `Tuner.fit` entry to the first trial's start, each actor's
first trial beyond its fit (imports), the gap between trials on one actor, the last trial to
`fit`'s return, and the CPU time every process used while `fit` ran (Linux ``/proc``).
``--preload MODULES`` alternates rounds with and without Ray's ``preload_python_modules``
(worker processes import them as they start). ``--actor-start`` times instead, in one Ray,
how long an actor takes from creation to its first call: a plain one, and one built the way
Tune builds each trainable's actor (with a ``runtime_env``), and whether it got one of the
workers Ray starts in advance.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import ROOT, use_development_data_cache


def cpu_times() -> dict[int, tuple[str, float]]:
    """pid -> (command line, user + system CPU seconds) of every process (Linux)."""
    tick, times = os.sysconf("SC_CLK_TCK"), {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            times[int(entry.name)] = (command[:70], (int(fields[11]) + int(fields[12])) / tick)
    return times


def child(experiment: str, storage: str, preload: str) -> dict:
    """One run of the CLI in this process, with `Tuner.fit` and (optionally) `ray.init` wrapped."""
    import ray
    from ray import tune

    stamps: dict = {}
    if preload:
        init = ray.init

        def preloading_init(*args, **kwargs):
            kwargs["_system_config"] = {"preload_python_modules": preload.split(",")}
            return init(*args, **kwargs)

        ray.init = preloading_init
    fit = tune.Tuner.fit

    def timed_fit(self):
        stamps["fit_in"], stamps["cpu_in"] = time.time(), cpu_times()
        try:
            return fit(self)
        finally:
            stamps["fit_out"], stamps["cpu_out"] = time.time(), cpu_times()

    tune.Tuner.fit = timed_fit
    from tuning.run import main

    started = time.perf_counter()
    code = main([experiment, "--runner", "tune", "--set", f"storage_path={storage}"])
    total = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"tuning.run exited {code}")
    (summary_path,) = Path(storage).glob("*/*/summary.json")
    summary = json.loads(summary_path.read_text())
    return {"total_s": total, **analyse(summary, stamps)}


def analyse(summary: dict, stamps: dict) -> dict:
    """The start, first-trial, steady-state and end parts of one run's Tune phase."""
    trials = sorted(summary["trials"]["tune"], key=lambda t: t["started_at"])
    by_actor: dict[int, list[dict]] = {}
    for t in trials:
        by_actor.setdefault(t["pid"], []).append(t)
    firsts = [ts[0] for ts in by_actor.values()]
    gaps = [b["started_at"] - a["ended_at"] for ts in by_actor.values() for a, b in itertools.pairwise(ts)]
    before, after = stamps["cpu_in"], stamps["cpu_out"]
    used = {pid: (cmd, cpu - before.get(pid, ("", 0.0))[1]) for pid, (cmd, cpu) in after.items()}
    others = sorted(
        ((cpu, cmd) for pid, (cmd, cpu) in used.items() if pid not in by_actor and cpu > 0.05), reverse=True
    )
    return {
        "tune_s": summary["timings"]["tune_s"],
        "data_load_s": summary["timings"]["data_load_s"],
        "ray_start_s": summary["timings"]["ray_start_s"],
        "fit_to_first_trial_s": trials[0]["started_at"] - stamps["fit_in"],
        "first_trial_beyond_fit_s": [
            t["ended_at"] - t["started_at"] - t["metrics"]["fit_time_s"] for t in firsts
        ],
        "gap_between_trials_ms": 1000 * statistics.median(gaps) if gaps else None,
        "fit_s_per_actor": [sum(t["metrics"]["fit_time_s"] for t in ts) for ts in by_actor.values()],
        "last_trial_to_fit_return_s": stamps["fit_out"] - max(t["ended_at"] for t in trials),
        "actors_started_before_fit": sum(pid in before for pid in by_actor),
        "actors": len(by_actor),
        "other_cpu_s": [(round(cpu, 2), cmd) for cpu, cmd in others[:6]],
    }


def actor_start(rounds: int) -> list[dict]:
    """Creation to first call of a plain actor and of a Tune-built one, alternated, in one Ray."""
    import ray
    from ray.tune.execution.class_cache import _ActorClassCache  # how Tune wraps a trainable

    class Probe:
        def pid(self) -> int:
            return os.getpid()

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    variants = {
        "plain": ray.remote(num_cpus=1)(Probe),
        "tune": _ActorClassCache().get(Probe).options(num_cpus=1),
    }
    time.sleep(3)  # the workers started in advance have booted
    results = []
    try:
        for number, name in itertools.product(range(1, rounds + 1), variants):
            before = set(cpu_times())
            started = time.perf_counter()
            actor = variants[name].remote()
            pid = ray.get(actor.pid.remote())
            seconds = time.perf_counter() - started
            ray.kill(actor)
            results.append(
                {"round": number, "variant": name, "first_call_s": seconds, "prestarted": pid in before}
            )
            print(
                f"round {number} {name:5s} creation -> first call {seconds:.2f} s, started in advance: "
                f"{pid in before}",
                flush=True,
            )
            time.sleep(1)
    finally:
        ray.shutdown()
    for name, prestarted in itertools.product(variants, (True, False)):
        mine = [r["first_call_s"] for r in results if r["variant"] == name and r["prestarted"] == prestarted]
        if mine:
            where = "a worker started in advance" if prestarted else "a new worker"
            print(f"{name:5s} on {where}: median {statistics.median(mine):.2f} s of {len(mine)}")
    return results


def describe(r: dict) -> str:
    seconds = lambda values: ", ".join(f"{v:.2f}" for v in values)  # noqa: E731
    gap = r["gap_between_trials_ms"] or 0
    return (
        f"round {r['round']} {r['variant']:8s} tune {r['tune_s']:.2f} s, data load {r['data_load_s']:.2f} s, "
        f"total {r['total_s']:.1f} s | fit->first trial {r['fit_to_first_trial_s']:.2f} s, first trials "
        f"beyond fit {seconds(r['first_trial_beyond_fit_s'])} s, gap {gap:.0f} ms, "
        f"fit per actor {seconds(r['fit_s_per_actor'])} s, "
        f"actors started before fit {r['actors_started_before_fit']}/{r['actors']}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "rf.yaml"))
    parser.add_argument("--rounds", type=int, default=1, help="rounds (each variant once per round)")
    parser.add_argument("--preload", default="", help="comma-separated modules: also run rounds with them")
    parser.add_argument("--actor-start", action="store_true", help="time actor start-up instead (one Ray)")
    parser.add_argument("--child", nargs=2, metavar=("STORAGE", "PRELOAD"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help="write the rounds as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        storage, preload = args.child
        print("STARTUP " + json.dumps(child(args.experiment, storage, preload)))
        return 0
    if args.actor_start:
        rounds = actor_start(args.rounds)
        if args.out:
            Path(args.out).write_text(json.dumps(rounds, indent=2))
        return 0
    use_development_data_cache()
    variants = {"default": ""} | ({"preload": args.preload} if args.preload else {})
    rounds = []
    for number in range(1, args.rounds + 1):
        for name, preload in variants.items():
            with tempfile.TemporaryDirectory(prefix="startup-") as storage:
                command = [sys.executable, "-m", "benchmarks.startup", "--experiment", args.experiment]
                done = subprocess.run(
                    [*command, "--child", storage, preload], cwd=ROOT, capture_output=True, text=True
                )
            lines = [line for line in done.stdout.splitlines() if line.startswith("STARTUP ")]
            if done.returncode != 0 or not lines:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            result = {"variant": name, "round": number, **json.loads(lines[-1].removeprefix("STARTUP "))}
            rounds.append(result)
            print(describe(result), flush=True)
            print(f"    other processes' CPU during fit: {result['other_cpu_s']}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rounds, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
