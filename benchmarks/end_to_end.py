"""``python -m benchmarks.end_to_end``: whole commands, process start to exit, side by side.

Four commands, each a new process every round, rounds interleaved (the order rotates from
round to round) so machine noise hits them alike (medians of ``--repeats``; ``--only`` picks some):

- ``loop``           ``python -m benchmarks.loop``: the plain scikit-learn loop, ``n_jobs=-1``
- ``rf``             ``python -m tuning.run experiments/rf.yaml``: the tutorial, one Tune trial per
                     forest, its rows read and split by Ray Data (``data.reader: ray_data``)
- ``rf_in_process``  the same with ``--set data.reader=in_process``: the rows read and split here
- ``rf_shared``      ``python -m tuning.run experiments/rf_shared.yaml``: the same grid, shared fits

Ray Data's cost is ``rf`` - ``rf_in_process``, round by round (the median of the paired
differences), with the CPU seconds of Ray Data's background actors (``_StatsActor``, the
``AutoscalingCoordinator``) from ``/proc`` while the run lasts.

For the two runs, the phases come from the run's own records (summary.json): Ray start,
data load, trial phase, refit (the best model's refit, or the load of the fit a trial kept,
and its save); "other" is the rest of the process (imports, planning, reports, shutdown).
Fixed cost = end to end - trial phase. The benchmark fails (exit 1) unless every run's
MSEs equal the first's to the last bit.

Run it with the Python of a base install, as the README's first command makes one
(``python3 -m venv /tmp/base && /tmp/base/bin/pip install -c constraints.txt -e .``): the
test extras add MLflow and W&B, which Ray Tune's usage telemetry imports at every
``Tuner.fit`` that has callbacks (``ray/air/_internal/usage.py``, ``_count_callbacks``:
~1.7 s more per run on 2 cores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks import ROOT, use_development_data_cache
from benchmarks.compare import machine, update_markdown

COMMANDS = ("loop", "rf", "rf_in_process", "rf_shared")
VARIANTS = {"rf_in_process": ("rf", ["data.reader=in_process"])}  # an experiment with other settings
RAY_DATA_ACTORS = ("_StatsActor", "AutoscalingCoordinator")  # in the process titles Ray gives them


def run_once(name: str, overrides: list[str], storage: Path) -> dict[str, Any]:
    """One command in a new process: its end-to-end wall time, phases and MSEs by size."""
    experiment_name, own = VARIANTS.get(name, (name, []))
    sets = [f"--set={o}" for o in [*own, *overrides]]
    if name == "loop":
        command = [sys.executable, "-m", "benchmarks.loop", *sets]
    else:
        experiment = str(ROOT / "experiments" / f"{experiment_name}.yaml")
        command = [
            sys.executable,
            "-m",
            "tuning.run",
            experiment,
            *sets,
            f"--set=storage_path={storage / name}",
        ]
    started = time.perf_counter()
    with (
        subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as child,
        ProcessCpu(child.pid, RAY_DATA_ACTORS) as actors,
    ):
        stdout, stderr = child.communicate()
    done = subprocess.CompletedProcess(command, child.returncode, stdout, stderr)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    if name == "loop":
        out = json.loads(done.stdout.strip().splitlines()[-1])
        return {"end_to_end_s": wall, "trial_phase_s": out["loop_s"], "mse": out["mse"]}
    run_dir = sorted((storage / name / experiment_name).iterdir())[-1]
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
        "ray_data_actors_cpu_s": actors.seconds,
        "model_mb": (run_dir / "best_model.joblib").stat().st_size / 2**20,
        "mse": {str(t["config"]["n_estimators"]): t["metrics"]["mse"] for t in summary["trials"]["tune"]},
    }


class ProcessCpu:
    """The CPU seconds (user + system, from ``/proc``) of the descendants of process ``pid``
    whose command line holds one of ``names``, sampled every 0.2 s while the ``with`` block
    runs (a process's last sample counts: the time it took before it ended is kept)."""

    def __init__(self, pid: int, names: tuple[str, ...]):
        self.root, self.names, self.seen, self.seconds = psutil.Process(pid), names, {}, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ProcessCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = sum(self.seen.values())

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(psutil.Error):  # the run has ended
                for process in self.root.children(recursive=True):
                    with contextlib.suppress(psutil.Error):  # this one has ended
                        if any(name in " ".join(process.cmdline()) for name in self.names):
                            times = process.cpu_times()
                            self.seen[process.pid] = times.user + times.system


def phase_seconds(timings: dict[str, Any], name: str) -> float:
    """How long the run's phase ``name`` took (0 if it did not run)."""
    spans = [p["end"] - p["start"] for p in timings.get("phases", []) if p["name"] == name and p["end"]]
    return spans[-1] if spans else 0.0


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    keys = [k for k, v in runs[0].items() if isinstance(v, float)]
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def table(report: dict[str, Any]) -> str:
    loop = report["medians"].get("loop", {}).get("end_to_end_s")
    rows = [
        "| command | end to end s | vs loop | trial phase s | fixed s | Ray start s | data load s "
        "| refit s | other s | Ray Data actors' CPU s | model MB |",
        "|" + "---|" * 11,
    ]
    for name, m in report["medians"].items():
        keys = ("ray_start_s", "data_load_s", "refit_s", "other_s", "ray_data_actors_cpu_s")
        cells = [f"{m.get(k):.2f}" if k in m else "-" for k in keys]
        rows.append(
            f"| {name} | {m['end_to_end_s']:.2f} | "
            + (f"{m['end_to_end_s'] / loop:.2f}x " if loop else "- ")
            + f"| {m['trial_phase_s']:.2f} | {m['end_to_end_s'] - m['trial_phase_s']:.2f} "
            f"| {' | '.join(cells)} | " + (f"{m['model_mb']:.0f} |" if "model_mb" in m else "- |")
        )
    return "\n".join(rows)


def ray_data_cost(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """``rf`` - ``rf_in_process`` round by round (the rounds run side by side): end to end,
    data load and trial phase, each difference and its median."""
    if not (runs.get("rf") and runs.get("rf_in_process")):
        return None
    cost: dict[str, Any] = {}
    for key in ("end_to_end_s", "data_load_s", "trial_phase_s"):
        paired = [a[key] - b[key] for a, b in zip(runs["rf"], runs["rf_in_process"], strict=True)]
        cost[key] = {"median": statistics.median(paired), "rounds": paired}
    return cost


def cost_line(cost: dict[str, Any] | None) -> str:
    if cost is None:
        return ""
    parts = [
        f"{label} **{cost[key]['median']:+.2f} s** ({', '.join(f'{d:+.2f}' for d in cost[key]['rounds'])})"
        for key, label in (
            ("end_to_end_s", "end to end"),
            ("data_load_s", "data load"),
            ("trial_phase_s", "trials"),
        )
    ]
    return (
        "Ray Data's cost, rf - rf_in_process, median of the paired rounds (each round): "
        + "; ".join(parts)
        + "."
    )


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    same = "rf_shared's and rf_in_process's MSEs equal rf's to the last bit"
    return "\n".join(
        [
            f"### End to end: {', '.join(report['medians'])}, {m['nproc']} CPUs",
            "",
            f"`{report['command']}` — {report['created']}, {report['repeats']} rounds (medians), "
            f"{m['nproc']} CPUs, {m['cpu_model']}, load average {m['load_avg_1m_at_start']:.2f} at start. "
            f"{same}: **{report['identical_mse']}**. {cost_line(report['ray_data_cost'])}",
            "",
            table(report),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.end_to_end", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help=f"comma-separated, of {', '.join(COMMANDS)} (default: all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override them all")
    parser.add_argument("--out", help="JSON file (default: results/benchmarks/end_to_end-<time>.json)")
    parser.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="update this file ('': no)")
    args = parser.parse_args(argv)
    commands = [c for c in COMMANDS if not args.only or c in args.only.split(",")]
    use_development_data_cache()
    load = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in commands}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        for repeat in range(args.repeats):
            turn = repeat % len(commands)
            for name in commands[turn:] + commands[:turn]:  # none always follows another
                runs[name].append(run_once(name, args.overrides, Path(tmp)))
                print(
                    f"  round {repeat + 1}/{args.repeats}  {name:14s} {runs[name][-1]['end_to_end_s']:7.2f} s"
                )
    mses = [r["mse"] for name in commands if name != "loop" for r in runs[name]]
    identical = all(mse == mses[0] for mse in mses)
    report = {
        "command": "python -m benchmarks.end_to_end " + " ".join(sys.argv[1:] if argv is None else argv),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeats": args.repeats,
        "machine": machine(load),
        "identical_mse": identical,
        "ray_data_cost": ray_data_cost(runs),
        "medians": {name: medians(r) for name, r in runs.items()},
        "runs": runs,
    }
    print(table(report))
    print(cost_line(report["ray_data_cost"]))
    out = (
        Path(args.out)
        if args.out
        else ROOT / "results" / "benchmarks" / f"end_to_end-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {out}")
    if args.markdown and not args.only:
        update_markdown(Path(args.markdown), f"end-to-end-{report['machine']['nproc']}cpu", markdown(report))
    if not identical:
        print("ERROR: the runs' MSEs differ", file=sys.stderr)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
