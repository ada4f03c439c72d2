"""``python -m benchmarks.compare``: the project's Tune runner against its peers, side by side.

One invocation, one Ray start, one split, one grid (default: experiments/rf.yaml). Each
approach runs ``--repeats`` times, rounds interleaved so machine noise hits all alike, and
the medians are reported:

- ``sequential``       the project's baseline runner (tuning.runners.sequential), n_jobs=1
- ``loop_all_cores``   the same loop, the estimator's n_jobs = all cores
- ``gridsearchcv``     GridSearchCV(n_jobs=all cores) with a PredefinedSplit: the same split
- ``ray_core``         Ray Core tasks + ray.put, the tutorial's parallel method
- ``plain_tune``       Ray Tune as a user writes it: function trainable, tune.report,
                       TuneConfig defaults (reuse_actors off, grid order as listed)
- ``project_tune``     this project's runner (tuning.runners.tune.run_tune) with the
                       file's settings plus ``--project-set`` (default: largest_first, auto CPUs)
- ``project_tasks``    this project's tasks runner (tuning.runners.tasks.run_tasks): the
                       same trials as ``project_tune``, each a Ray Core task
- ``project_shared``   the same runner with shared fits (``search.share_fits: auto``): one
                       fit per combination of the other parameters, every size scored from it

With ``split.repeats`` (repeated validation, e.g. experiments/mccv_linear.yaml) the repeats
are grouped into chunks once, as a run groups them (`tuning.planning.plan.group_repeats`: a timed
first repeat, >= 0.5 s a trial), and every approach runs those same chunks: ``sequential``
one after another, ``ray_core`` and ``project_tasks`` one task each, ``project_tune`` one
Tune trial each;
``gridsearchcv`` gets the same scikit-learn splitter; ``plain_tune`` (one trial per
configuration, all its repeats in it) is left out. Chunks are merged per configuration
before the best MSE (a mean over the repeats) is compared.

Fixed costs are measured once and apart: starting Ray (``ray.init``) and loading the split
through Ray Data. Trial-phase wall time excludes both (the Ray approaches all use the one
Ray started here). ``--fresh`` runs each approach in a new process every round instead
(its own Ray, imports and worker pools: cold, as a single ``tuning.run`` is; the fixed
costs are then medians over those processes, and each approach gets an end-to-end time:
its process's start to exit, imports, Ray, data and shutdown included). Ideal = sum of the
sequential trials' own times / cores; efficiency = ideal / wall; speedup = sequential
wall / wall; vs ray_core (paired) = the median over rounds of an approach's wall / ray_core's in
the same round (a shared machine's load hits both alike). Peak RSS is sampled every 50 ms:
the driver (this process) and the largest process that ran a trial (Ray worker, joblib worker).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import ROOT, use_development_data_cache

try:
    import psutil
except ImportError:  # Ray ships its own copy, importable once Ray is
    importlib.import_module("ray")
    psutil = importlib.import_module("psutil")

APPROACHES = (
    "sequential",
    "loop_all_cores",
    "gridsearchcv",
    "ray_core",
    "plain_tune",
    "project_tune",
    "project_tasks",
    "project_shared",
)
RAY_APPROACHES = ("ray_core", "plain_tune", "project_tune", "project_tasks", "project_shared")
PROJECT_SET = ("search.order=largest_first", "resources.num_cpus=auto")
MARK = "<!-- benchmark:{} -->"


@dataclass
class Outcome:
    """One run of one approach."""

    wall_s: float
    best_mse: float
    trial_times: list[float] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)
    driver_rss: int = 0
    worker_rss: int | None = None
    end_to_end_s: float | None = None  # --fresh: the approach's own process, start to exit


class RssSampler:
    """Peak RSS of this process and of each descendant, sampled in a thread."""

    def __init__(self, every_s: float = 0.05):
        self.every_s, self.me = every_s, psutil.Process()
        self.driver, self.children = 0, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.driver = max(self.driver, self.me.memory_info().rss)
                for child in self.me.children(recursive=True):
                    try:
                        rss = child.memory_info().rss
                    except psutil.Error:
                        continue
                    self.children[child.pid] = max(self.children.get(child.pid, 0), rss)
            except psutil.Error:
                pass
            self._stop.wait(self.every_s)

    def __enter__(self) -> RssSampler:
        self.before = {p.pid for p in self.me.children(recursive=True)}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def worker_peak(self, pids: set[int]) -> int | None:
        """The largest trial-running process: ``pids`` if known, else those started meanwhile."""
        chosen = pids - {self.me.pid} if pids else set(self.children) - self.before
        peaks = [self.children[p] for p in chosen if p in self.children]
        return max(peaks) if peaks else None


# --------------------------------------------------------------------------- approaches


class Bench:
    """The shared inputs: experiment, split, configurations, cores, a scratch directory."""

    def __init__(self, experiment, split, configs, cores: int, tmp: Path, path: str, overrides: list[str]):
        self.experiment, self.split, self.configs = experiment, split, configs
        self.cores, self.tmp = cores, tmp
        self.path, self.overrides = path, overrides
        self.project_set: list[str] = list(PROJECT_SET)
        self.project_cpus: float | None = None
        self.count = 0
        self.chunk: int | None = None  # repeats per trial (split.repeats), as group_repeats chose

    def run_dir(self, name: str) -> Path:
        self.count += 1
        return self.tmp / f"{name}_{self.count}"

    def spec(self, n_jobs: int):
        from tuning.planning.plan import with_cpus
        from tuning.trial.fit import TrialSpec

        return replace(TrialSpec.from_experiment(with_cpus(self.experiment, n_jobs)), chunk=self.chunk)

    def from_trials(self, wall: float, trials) -> Outcome:
        from tuning.runners.chunks import merge_chunks
        from tuning.trial.records import RunnerResult
        from tuning.trial.validation import chunks

        times = [t.duration_s for t in trials if t.ok]
        trials = merge_chunks(RunnerResult("", trials, wall, 1), chunks(self.spec(1))).trials
        ok = [t for t in trials if t.ok]
        if len(ok) != len(trials):
            raise RuntimeError(
                f"{len(trials) - len(ok)} trials failed: {[t.error for t in trials if not t.ok][:2]}"
            )
        return Outcome(wall, min(t.metrics["mse"] for t in ok), times, {t.metrics["pid"] for t in ok})

    def sequential(self) -> Outcome:
        from tuning.runners.progress import Progress
        from tuning.runners.sequential import run_sequential
        from tuning.runners.session import RunnerSession

        progress = Progress("sequential", len(self.configs), "mse", "min", _quiet)
        session = RunnerSession(self.split, self.spec(1), self.run_dir("seq"), 1, progress)
        result = run_sequential(session, self.configs)
        return self.from_trials(result.wall_s, result.trials)

    def loop_all_cores(self) -> Outcome:
        from tuning.trial.fit import run_trial
        from tuning.trial.records import TrialResult

        spec = self.spec(self.cores)
        start = time.perf_counter()
        trials = [TrialResult(str(i), c, run_trial(c, self.split, spec)) for i, c in enumerate(self.configs)]
        return self.from_trials(time.perf_counter() - start, trials)

    def gridsearchcv(self) -> Outcome:
        import numpy as np
        from sklearn.model_selection import GridSearchCV, PredefinedSplit

        from tuning.estimators.classes import resolve_estimator
        from tuning.trial.validation import REPEAT_CHUNK, rows, splitter

        spec, s = self.spec(1), self.split
        X = np.concatenate([s.X_train, s.X_test])
        y = np.concatenate([s.y_train, s.y_test])
        fold = PredefinedSplit(np.r_[np.full(len(s.y_train), -1), np.zeros(len(s.y_test), dtype=int)])
        if spec.repeats:  # the run's own splitter, over the same rows
            (X, y), fold = rows(s, spec), splitter(spec, s.stratified)
        configs = [{k: v for k, v in c.items() if k != REPEAT_CHUNK} for c in self.configs]
        configs = list({json.dumps(c, sort_keys=True): c for c in configs}.values())
        grid = [{k: [v] for k, v in c.items()} for c in configs]  # exactly these configurations
        search = GridSearchCV(
            resolve_estimator(spec.estimator)(**spec.params),
            grid,
            cv=fold,
            scoring="neg_mean_squared_error",
            n_jobs=self.cores,
            refit=False,
        )
        start = time.perf_counter()
        search.fit(X, y)
        wall = time.perf_counter() - start
        return Outcome(wall, float(-search.cv_results_["mean_test_score"].max()))

    def ray_core(self) -> Outcome:
        import ray

        from tuning.trial.records import TrialResult

        spec, task = self.spec(1), ray.remote(num_cpus=1)(_core_trial)
        start = time.perf_counter()
        split_ref = ray.put(self.split)
        futures = [task.remote(c, split_ref, spec) for c in self.configs]
        metrics = ray.get(futures)
        wall = time.perf_counter() - start
        return self.from_trials(
            wall,
            [TrialResult(str(i), c, m) for i, (c, m) in enumerate(zip(self.configs, metrics, strict=True))],
        )

    def plain_tune(self) -> Outcome:
        from ray import tune

        from tuning.estimators.space import to_tune
        from tuning.trial.records import TrialResult

        run_dir = self.run_dir("plain")
        tuner = tune.Tuner(
            tune.with_parameters(_tune_trial, split=self.split, spec=self.spec(1)),
            param_space=to_tune(self.experiment.space),
            tune_config=tune.TuneConfig(metric="mse", mode="min"),
            run_config=tune.RunConfig(name=run_dir.name, storage_path=str(run_dir.parent), verbose=0),
        )
        start = time.perf_counter()
        grid = tuner.fit()
        wall = time.perf_counter() - start
        trials = [TrialResult(str(i), r.config, dict(r.metrics or {})) for i, r in enumerate(grid)]
        return self.from_trials(wall, trials)

    def project_plan(self, runner: str, shared: tuple[str, ...] = ("search.share_fits=false",)):
        """The plan the project's ``runner`` makes of the experiment, with the project's settings."""
        from tuning.config import load_experiment
        from tuning.planning.cluster import connect
        from tuning.planning.plan import group_repeats, make_plan

        settings = [*project_settings(self.experiment, self.project_set), *shared]
        experiment = load_experiment(self.path, [*self.overrides, *settings])
        plan = make_plan(experiment, runner, connect())  # the Ray this benchmark started
        plan, _ = group_repeats(plan, self.split, self.chunk)  # the chunks every approach runs
        return plan

    def project_tune(self, shared: tuple[str, ...] = ("search.share_fits=false",)) -> Outcome:
        from tuning.runners.progress import Progress
        from tuning.runners.session import RunnerSession
        from tuning.runners.tune import run_tune

        plan = self.project_plan("tune", shared)
        listed = list(plan.configs) if plan.spec.chunk is not None else None
        progress = Progress("tune", plan.total, "mse", "min", _quiet, plan.slots, list(plan.configs))
        session = RunnerSession(self.split, plan.spec, self.run_dir("project"), self.cores, progress)
        result = run_tune(session, experiment=plan.experiment, groups=plan.groups, configs=listed)
        if not plan.groups:
            self.project_cpus = plan.experiment.resources.num_cpus
        return self.from_trials(result.wall_s, result.trials)

    def project_tasks(self) -> Outcome:
        """The project's tasks runner on the same plan as ``project_tune`` (each trial a Ray Core task)."""
        from tuning.runners.progress import Progress
        from tuning.runners.session import RunnerSession
        from tuning.runners.tasks import run_tasks, units_of

        plan = self.project_plan("tasks")
        progress = Progress("tasks", plan.total, "mse", "min", _quiet, plan.slots, list(plan.configs))
        units = units_of(list(plan.configs), plan.groups)
        session = RunnerSession(self.split, plan.spec, self.run_dir("tasks"), self.cores, progress)
        result = run_tasks(session, units, experiment=plan.experiment)
        return self.from_trials(result.wall_s, result.trials)

    def project_shared(self) -> Outcome:
        """The project's runner with shared fits where they are exact (one Tune trial per group)."""
        return self.project_tune(shared=("search.share_fits=auto",))


def project_settings(experiment, project_set: list[str]) -> list[str]:
    """The project runner's overrides; ``largest_first`` only where there is a size to order by."""
    size = experiment.space.get(experiment.search.size_param, {}).get("grid")
    ordered_by_size = size and all(isinstance(v, (int, float)) for v in size)
    return [o for o in project_set if ordered_by_size or o != "search.order=largest_first"]


def _quiet(_: str) -> None:
    """Progress lines are not printed while timing."""


def _tune_trial(config: dict, split, spec) -> None:
    """A user's Tune trainable: the same trial function, one report."""
    from ray import tune

    from tuning.trial.fit import run_trial

    tune.report(run_trial(config, split, spec))


def _core_trial(config: dict, split, spec) -> dict:
    """The tutorial's Ray Core task body: the same trial function, its metrics returned."""
    from tuning.trial.fit import run_trial

    return run_trial(config, split, spec)


# --------------------------------------------------------------------------- measuring


def measure(
    bench: Bench, names: list[str], repeats: int, echo: Callable[[str], None]
) -> dict[str, list[Outcome]]:
    runs: dict[str, list[Outcome]] = {n: [] for n in names}
    for repeat in range(repeats):
        for name in names:
            with RssSampler() as rss:
                outcome = getattr(bench, name)()
            outcome.driver_rss, outcome.worker_rss = rss.driver, rss.worker_peak(outcome.pids)
            runs[name].append(outcome)
            echo(
                f"  round {repeat + 1}/{repeats}  {name:15s} {outcome.wall_s:7.2f} s  "
                f"best mse {outcome.best_mse:.6f}"
            )
    return runs


def summarise(runs: dict[str, list[Outcome]], cores: int, fixed: dict[str, float]) -> dict[str, Any]:
    seq = runs.get("sequential")
    work = statistics.median(sum(o.trial_times) for o in seq) if seq else None
    ideal = work / cores if work else None
    seq_wall = statistics.median(o.wall_s for o in seq) if seq else None
    core = runs.get("ray_core")
    out = {}
    for name, outcomes in runs.items():
        wall = statistics.median(o.wall_s for o in outcomes)
        workers = [o.worker_rss for o in outcomes if o.worker_rss]
        out[name] = {
            "trial_phase_s": wall,
            "trial_phase_all_s": [o.wall_s for o in outcomes],
            "fixed_s": fixed["ray_start_s"] if name in RAY_APPROACHES else 0.0,
            "efficiency": ideal / wall if ideal and wall else None,
            "speedup": seq_wall / wall if seq_wall and wall else None,
            "vs_ideal": wall / ideal if ideal else None,
            "driver_peak_rss_mb": max(o.driver_rss for o in outcomes) / 2**20,
            "worker_peak_rss_mb": max(workers) / 2**20 if workers else None,
            "best_mse": outcomes[0].best_mse,
            "end_to_end_s": _median([o.end_to_end_s for o in outcomes if o.end_to_end_s is not None]),
            # paired: each round's wall over ray_core's in the same round, the median of those ratios
            "vs_ray_core_paired": _median([o.wall_s / c.wall_s for o, c in zip(outcomes, core, strict=True)])
            if core
            else None,
        }
    return {"ideal_s": ideal, "sequential_work_s": work, "approaches": out}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def check_agree(outcomes: dict[str, list[Outcome]]) -> bool:
    """Every run of every approach found the same best MSE (to rounding)."""
    values = [o.best_mse for runs in outcomes.values() for o in runs]
    return max(values) - min(values) <= 1e-9 * max(abs(v) for v in values)


def machine(load: float | None) -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1m_at_start": load,
        "python": platform.python_version(),
    }


def table(report: dict[str, Any]) -> str:
    """The markdown table of the medians."""
    head = (
        "| approach | trial phase s (median) | + fixed s | vs ideal | efficiency | speedup "
        "| driver RSS MB | worker RSS MB | best MSE | end to end s | vs ray_core (paired) |"
    )
    rows = [head, "|" + "---|" * 11]
    for name, a in report["approaches"].items():
        rows.append(
            f"| {name} | {a['trial_phase_s']:.2f} | {a['fixed_s']:.1f} | "
            + (f"{a['vs_ideal']:.2f}x" if a["vs_ideal"] else "-")
            + " | "
            + (f"{a['efficiency']:.0%}" if a["efficiency"] else "-")
            + " | "
            + (f"{a['speedup']:.2f}x" if a["speedup"] else "-")
            + f" | {a['driver_peak_rss_mb']:.0f} | "
            + (f"{a['worker_peak_rss_mb']:.0f}" if a["worker_peak_rss_mb"] else "-")
            + f" | {a['best_mse']:.6f} | "
            + (f"{a['end_to_end_s']:.2f} |" if a.get("end_to_end_s") else "- |")
            + (f" {a['vs_ray_core_paired']:.2f}x |" if a.get("vs_ray_core_paired") else " - |")
        )
    return "\n".join(rows)


def markdown(report: dict[str, Any]) -> str:
    m, f = report["machine"], report["fixed"]
    ideal = f"{report['ideal_s']:.2f} s" if report["ideal_s"] else "n/a"
    label = (
        ""
        if not report["logical_cpus_override"]
        else (
            f" — **local Ray told it has {report['cores']:g} logical CPUs on {m['nproc']} real ones: "
            "this shows scheduling overhead only, not real speedup**"
        )
    )
    if report.get("fresh"):
        label += ", each approach in a new process every round (cold starts)"
    once = "median of the new processes" if report.get("fresh") else "once per invocation"
    return "\n".join(
        [
            f"### {report['experiment']}: {report['trials']} trials, {report['cores']:g} CPUs{label}",
            "",
            f"`{report['command']}` — {report['created']}, {report['repeats']} repeats (medians), "
            f"{m['nproc']} CPUs ({m['physical_cores']} physical), {m['cpu_model']}, "
            f"load average {m['load_avg_1m_at_start']:.2f} at start.",
            f"Fixed costs, {once}: Ray start {f['ray_start_s']:.1f} s (Ray approaches only), "
            f"data load {f['data_load_s']:.1f} s (all). "
            f"Ideal {ideal} = sum of sequential trial times / {report['cores']:g} cores. "
            f"Project runner: {report['project_settings']}. Best MSE agrees: **{report['best_mse_agree']}**. "
            f"Shortest trial phase: **{report['fastest']}**.",
            "",
            table(report),
        ]
    )


def update_markdown(path: Path, key: str, text: str) -> None:
    """Replace the block between this benchmark's markers in ``path`` (appended if missing)."""
    start, end = MARK.format(f"{key}:start"), MARK.format(f"{key}:end")
    block = f"{start}\n{text}\n{end}"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) :]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new)


def measure_here(args, cpus: int, experiment, configs, names, project_set):
    """Every approach in this process, sharing one Ray start and one split."""
    import ray

    from tuning.planning.cluster import connect
    from tuning.trial.data import load_split

    started = time.perf_counter()
    cluster = connect(num_cpus=cpus, num_gpus=0)
    fixed = {"ray_start_s": time.perf_counter() - started}
    cores = int(cluster.cpus)  # a Ray already running here (a test's) keeps its own size
    try:
        started = time.perf_counter()
        split = load_split(experiment.data, experiment.split, experiment.split.seed)
        fixed["data_load_s"] = time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            if experiment.split.repeats:  # group the repeats once, as a run does; every approach runs them
                configs, bench_chunk = grouped_repeats(experiment, split)
                print(f"repeats: {len(configs)} trials of {bench_chunk} repeats")
            bench = Bench(experiment, split, configs, cores, Path(tmp), args.experiment, args.overrides)
            bench.chunk = bench_chunk if experiment.split.repeats else None
            bench.project_set = project_set
            runs = measure(bench, names, args.repeats, print)
    finally:
        if cluster.started_here:
            ray.shutdown()
    return runs, fixed, cores, bench.project_cpus


def grouped_repeats(experiment, split) -> tuple[list[dict], int]:
    """The chunks of repeats a run of ``experiment`` would make (`tuning.planning.plan.group_repeats`)."""
    from tuning.planning.cluster import local_cluster
    from tuning.planning.plan import group_repeats, make_plan

    plan, record = group_repeats(make_plan(experiment, "sequential", local_cluster(1, 0)), split)
    return list(plan.configs), record["chunk"]


def measure_fresh(args, names, echo):
    """Each round, each approach in a new ``python -m benchmarks.compare`` process of its own."""
    runs: dict[str, list[Outcome]] = {n: [] for n in names}
    fixed: dict[str, list[float]] = {"ray_start_s": [], "data_load_s": []}
    project_cpus = None
    passed = [
        *("--experiment", args.experiment),
        *(f"--set={o}" for o in args.overrides),
        *(f"--project-set={o}" for o in args.project_set or ()),
        *(("--num-cpus", str(args.num_cpus)) if args.num_cpus else ()),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        for repeat, name in ((r, n) for r in range(args.repeats) for n in names):
            out = Path(tmp) / f"{name}-{repeat}.json"
            command = [sys.executable, "-m", "benchmarks.compare", *passed, "--only", name]
            command += ["--repeats", "1", "--markdown", "", "--child-out", str(out)]
            started = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            end_to_end = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"{name} failed:\n{done.stderr[-2000:]}")
            child = json.loads(out.read_text())
            (raw,) = child["runs"][name]
            outcome = Outcome(**raw | {"pids": set(raw["pids"]), "end_to_end_s": end_to_end})
            runs[name].append(outcome)
            fixed["data_load_s"].append(child["fixed"]["data_load_s"])
            if name in RAY_APPROACHES:
                fixed["ray_start_s"].append(child["fixed"]["ray_start_s"])
            project_cpus = child["project_cpus"] or project_cpus
            echo(f"  round {repeat + 1}/{args.repeats}  {name:15s} {outcome.wall_s:7.2f} s  (new process)")
    return runs, {k: statistics.median(v) if v else 0.0 for k, v in fixed.items()}, project_cpus


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--experiment", default=str(ROOT / "experiments" / "rf.yaml"), help="default: experiments/rf.yaml"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each approach (medians reported)")
    parser.add_argument("--num-cpus", type=int, help="logical CPUs of the local Ray (default: all)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="override the experiment"
    )
    parser.add_argument(
        "--project-set",
        action="append",
        help=f"the project runner's settings (default: {' '.join(PROJECT_SET)})",
    )
    parser.add_argument("--only", nargs="+", choices=APPROACHES, help="run only these approaches")
    parser.add_argument(
        "--fresh", action="store_true", help="each approach in a new process every round (cold starts)"
    )
    parser.add_argument("--child-out", help=argparse.SUPPRESS)  # --fresh: one run, its outcome here
    parser.add_argument("--out", help="JSON file (default: results/benchmarks/<experiment>-<time>.json)")
    parser.add_argument(
        "--markdown", default=str(ROOT / "BENCHMARKS.md"), help="update this file's table ('' : no)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    use_development_data_cache()
    from tuning.config import load_experiment
    from tuning.planning.plan import trials_in_run_order

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # others' work skews timings
    experiment = load_experiment(args.experiment, args.overrides)
    names = list(args.only or APPROACHES)
    if experiment.split.repeats and "plain_tune" in names:
        names.remove("plain_tune")  # one trial per configuration: no chunks of repeats
    configs = trials_in_run_order(experiment)
    project_set = list(args.project_set or PROJECT_SET)
    command = "python -m benchmarks.compare " + " ".join(sys.argv[1:] if argv is None else argv)
    cpus = args.num_cpus or os.cpu_count() or 1
    if not args.child_out:
        kind = "logical CPUs" if args.num_cpus else "CPUs"
        print(f"{experiment.name}: {len(configs)} trials, {cpus} {kind}, {args.repeats} rounds; {command}")
    if args.fresh:
        cores = cpus
        runs, fixed, project_cpus = measure_fresh(args, names, print)
    else:
        runs, fixed, cores, project_cpus = measure_here(args, cpus, experiment, configs, names, project_set)
    print(f"fixed: Ray start {fixed['ray_start_s']:.1f} s, data load {fixed['data_load_s']:.1f} s")
    if args.child_out:
        outcomes = {n: [asdict(o) | {"pids": sorted(o.pids)} for o in runs[n]] for n in runs}
        Path(args.child_out).write_text(
            json.dumps({"runs": outcomes, "fixed": fixed, "project_cpus": project_cpus})
        )
        return 0
    report = {
        "experiment": experiment.name,
        "trials": len(configs),
        "cores": cores,
        "logical_cpus_override": cores != os.cpu_count(),
        "repeats": args.repeats,
        "fresh": args.fresh,
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(load),
        "fixed": fixed,
        "project_settings": ", ".join(project_settings(experiment, project_set))
        + (f" (num_cpus resolved to {project_cpus:g})" if project_cpus else ""),
        **summarise(runs, cores, fixed),
    }
    report["best_mse_agree"] = check_agree(runs)
    report["fastest"] = min(report["approaches"], key=lambda n: report["approaches"][n]["trial_phase_s"])
    print()
    print(table(report))
    print(f"shortest trial phase: {report['fastest']}")
    if not report["best_mse_agree"]:
        print("ERROR: the approaches' best MSE differ", file=sys.stderr)
    out = (
        Path(args.out)
        if args.out
        else ROOT
        / "results"
        / "benchmarks"
        / f"{experiment.name}-{cores}cpu-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"JSON: {out}")
    if args.markdown:
        key = f"{experiment.name}-{cores}cpu" + ("-fresh" if args.fresh else "")
        update_markdown(Path(args.markdown), key, markdown(report))
        print(f"Markdown: {args.markdown}")
    return 0 if report["best_mse_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
