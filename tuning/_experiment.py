"""`run_experiment`: one run, from the experiment to the report, as a table of contents.

Resolve, connect, plan, load, open the run directory, run the runners, compare them,
summarise, keep the best model, write and report: each a named step below.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from tuning.config import Experiment
from tuning.console import say
from tuning.errors import ExperimentError
from tuning.metrics import unscorable
from tuning.phases import Phases
from tuning.planning.cluster import Cluster, RayRelease, cluster_wait_s, connect, limit_oom_retries
from tuning.planning.plan import Plan, group_repeats, grouping_line, make_plan
from tuning.planning.search import check_runner, comparable, search_record, stopping_line, study_storage
from tuning.reports.best_model import refit_best
from tuning.reports.html import write_report
from tuning.reports.summary import build_summary, write_summary
from tuning.reports.text import check_parity, parity_line, render
from tuning.run_files import (
    ENVIRONMENT_FILE,
    check_started,
    check_writable,
    environment,
    new_run_dir,
    read_summary,
    write_experiment,
    write_json,
    write_started,
)
from tuning.runner_names import SEQUENTIAL
from tuning.runners.dispatch import run_runners, settle_stopped, unfinished
from tuning.runners.session import Session
from tuning.runners.tracking import Trackers, open_trackers
from tuning.storage import STORAGE_ERRNOS, location, publish
from tuning.summary_types import Summary, Validation
from tuning.trial.data import Split, load_split, split_frame
from tuning.trial.records import RunnerResult

Echo = Callable[[str], None]


def run_experiment(
    experiment: Experiment,
    runner: str | None = None,
    *,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    echo: Echo = say,
    resume: Path | None = None,
    wait_for_cluster: float | None = None,
    verbose: bool = False,
    show_all: bool = False,
    rows: Any = None,
    process_started: float | None = None,
    release_ray: bool = False,
) -> Summary:
    """Run an experiment and write its run directory; return the summary.

    Everything that can be rejected (results folder, cluster, data) is checked before the
    run directory is created, so bad input leaves nothing behind. ``resume`` is the run
    directory of an interrupted run: its finished trials are kept and only the others run.
    ``verbose``: a line per finished trial on a terminal too (else one live progress line);
    ``show_all``: every configuration in the printed table (else the best 10).
    An interrupted run (SIGINT or SIGTERM) keeps what finished and returns the summary
    with status ``interrupted``. ``wait_for_cluster``: see `tuning.planning.cluster.cluster_wait_s`.
    ``rows`` (a DataFrame, see `tuning.api`) replace the data source. The timeline counts from
    ``process_started`` (the CLI's process start), else from this call. ``release_ray``: stop a
    Ray this run started once the trials are summarised, while the best model is refitted and
    the reports written (with trackers: once they are done); the CLI's process ends with the
    run. Else Ray stays up for the next call.
    """
    phases = Phases(process_started)
    trackers = check_before_start(experiment, runner, resume)
    limit_oom_retries(experiment.max_failures)  # a task killed for memory: a lost worker, retried as one
    with phases.timed("ray start"):
        cluster = join_cluster(experiment.address, num_cpus, num_gpus, wait_for_cluster)
    plan = make_plan(experiment, runner, cluster)
    for warning in plan.warnings:
        echo(warning)
    with phases.timed("data load"):
        plan, split, validation = load_rows(plan, rows, resume)
    run_dir, earlier = open_run_dir(plan, split, echo, resume, validation)
    if validation:
        echo(grouping_line(validation))
    trackers.start(run_dir)
    session = Session(plan, split, run_dir, echo, resume is not None, verbose, trackers)
    with storage_errors(run_dir, session.storage):
        results, stopped = run_trials(session, phases, earlier)
        fixed_costs = phases.fixed_costs(cluster.started_here)
        summary = summarise(plan, results, split, run_dir, fixed_costs, resumed=resume is not None, echo=echo)
        if stopped:  # a search.stop rule ended it: complete, with the reason and what never ran
            summary["stopped"], summary["unfinished"] = stopped, 0
        summary["validation"] = validation
        ray_release = RayRelease(cluster if release_ray else None)
        keep_best(session, results, summary, phases, ray_release.start)
        phases.begin("report")  # open: it ends after summary.json and report.html are written
        summary["timings"].update(phases.record())
        write_and_report(run_dir, summary, results, echo, show_all)
        trackers.close(summary, echo)  # MLflow's experiment run keeps summary.json and report.html
        ray_release.join()
    return summary


@contextmanager
def storage_errors(run_dir: Path, problems: list[str]) -> Iterator[None]:
    """One line, not a traceback, when the run's storage fills up or turns read-only: the run
    stopped (the storage watch, `tuning.runners.tune.storage_watch`, left ``problems``) or a
    write failed; the finished trials the storage holds are kept, and ``--resume`` continues."""
    again = f"python -m tuning.run --resume {shlex.quote(str(run_dir))}"
    hint = f"once it has space and is writable, continue with: {again}"
    try:
        yield
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            raise
        raise ExperimentError(
            f"stopped: cannot write {exc.filename or 'the run directory'} ({exc.strerror}); the finished "
            f"trials it holds are kept; {hint}",
            where=location(run_dir),
        ) from None
    if problems:
        raise ExperimentError(
            f"stopped: {problems[0]}; the finished trials are kept; {hint}", where=location(run_dir)
        )


def run_trials(
    session: Session, phases: Phases, earlier: dict[str, Any]
) -> tuple[dict[str, RunnerResult], dict[str, Any] | None]:
    """The trial phase: the plan's runners, a stopped search settled (`settle_stopped`), and each
    runner's wall time with that of the earlier sessions of a resumed run (``earlier``)."""
    with phases.timed("trials"):
        ran = run_runners(session)
    results, stopped = settle_stopped(session.plan, ran)
    for name, result in results.items():  # the trial phase: every session's wall time
        result.wall_s += earlier.get(f"{name}_s") or 0.0
    return results, stopped


def check_before_start(experiment: Experiment, runner: str | None, resume: Path | None) -> Trackers:
    """What can be refused before Ray starts: the runner, the results folder, the trackers
    (reached now: a bad URI stops the run at once) and Optuna's storage."""
    check_runner(experiment, runner or experiment.runner)
    if resume is None:
        check_writable(experiment.storage_path)
    trackers = open_trackers(experiment)
    study_storage(experiment)
    return trackers


def keep_best(
    session: Session,
    results: dict[str, RunnerResult],
    summary: Summary,
    phases: Phases,
    ray_not_needed: Callable[[], None] = lambda: None,
) -> None:
    """Refit and save the best model (unless interrupted or ``refit: false``) and hand it to the
    trackers; ``ray_not_needed`` is called as soon as nothing needs Ray: before the refit, or
    after the trackers (their callbacks use it)."""
    plan, split = session.plan, session.split
    if not session.trackers:
        ray_not_needed()
    if plan.experiment.refit and summary["status"] != "interrupted":
        selected = ((summary.get("selection") or {}).get("selected") or {}).get("trial")
        with phases.timed("refit"):
            summary["best_model"] = refit_best(
                plan.experiment, results, split, plan.spec, session.run_dir, session.echo, selected
            )
    if session.trackers:
        summary["tracking"] = session.trackers.finish(summary, split.frame(split.X_test[:5]), session.echo)
        ray_not_needed()


def load_rows(plan: Plan, rows: Any, resume: Path | None) -> tuple[Plan, Split, Validation | None]:
    """The split of the experiment's rows (or of ``rows`` in memory), checked against its
    metrics, and the plan with its repeats grouped into trials (a resumed run keeps its chunks)."""
    settings, classifier = plan.experiment, plan.spec.classifier
    load = load_split if rows is None else partial(split_frame, rows)  # rows in memory: split alike
    split = load(settings.data, settings.split, settings.split.seed, classifier)
    check_scorable(settings, split, classifier)
    earlier = None
    if resume is not None:  # the same rows as the trials it keeps, or none; its chunks, even killed
        started = check_started(resume, split.fingerprint())
        earlier = started.get("validation") or (read_summary(resume) or {}).get("validation")
    plan, validation = group_repeats(plan, split, (earlier or {}).get("chunk"))
    return plan, split, validation


def join_cluster(
    address: str | None, num_cpus: float | None, num_gpus: float | None, wait_s: float | None = None
) -> Cluster:
    """The Ray cluster the trials run on (a local one started here unless ``address`` names one)."""
    try:
        return connect(address, num_cpus=num_cpus, num_gpus=num_gpus, wait_s=cluster_wait_s(wait_s))
    except ConnectionError as exc:  # e.g. `auto` with no cluster running here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExperimentError(
            f"must be a running Ray cluster; cannot join {address}: {reason}", key="address"
        ) from None


def check_scorable(experiment: Experiment, split: Split, classifier: bool) -> None:
    """Each recorded metric can score this target (`tuning.metrics.unscorable`), before any trial."""
    task = "classifier" if classifier else "regressor"
    failed = unscorable(experiment.metrics or [experiment.metric], task, split.y_train, split.y_test)
    if failed:
        name, reason = failed
        key = "metric" if name == experiment.metric else "metrics"
        raise ExperimentError(
            f"must be a metric that can score {split.target!r}; got {name!r}: {reason}", key=key
        )


def open_run_dir(
    plan: Plan, split: Split, echo: Echo, resume: Path | None, validation: Validation | None = None
) -> tuple[Path, dict[str, Any]]:
    """A new run directory with the resolved experiment and what started it (`write_started`:
    the split and ``validation``, how its repeats are grouped), or the one being resumed.

    Also returns the timings of the sessions before this one (empty for a new run).
    """
    what = "one evaluation" if plan.experiment.evaluation else f"{plan.configurations} trials"
    line = f"({what}, runner: {plan.runner})"
    if resume is not None:
        echo(f"Resuming {resume}  {line}")
        return resume, (read_summary(resume) or {}).get("timings") or {}
    experiment = plan.experiment
    run_dir = new_run_dir(experiment.storage_path, experiment.name)
    try:  # the runner that ran, so that --resume runs the same ones
        write_experiment(run_dir, {**experiment.resolved(), "runner": plan.runner})
        write_started(run_dir, split.fingerprint(), validation)
        write_json(run_dir / ENVIRONMENT_FILE, environment())  # at the start: an interrupted run has it
    except OSError as exc:  # a disk that filled since the check: no run directory left half made
        shutil.rmtree(run_dir, ignore_errors=True)
        raise ExperimentError(
            f"must be a writable folder with space; cannot write {run_dir} ({exc.strerror or exc})",
            key="storage_path",
        ) from None
    publish(run_dir)  # a URI storage_path: the run directory exists there from now on
    echo(f"Run directory: {location(run_dir)}  {line}")
    return run_dir, {}


def summarise(
    plan: Plan,
    results: dict[str, RunnerResult],
    split: Split,
    run_dir: Path,
    fixed_costs: dict[str, float | None],
    *,
    resumed: bool,
    echo: Echo,
) -> Summary:
    """Compare the runners and build the summary: complete, incomplete or interrupted.

    A runner that a ``search.stop`` rule ended (`settle_stopped`) is not interrupted; the
    runners are compared on the configurations both finished.
    """
    experiment = plan.experiment
    interrupted = len(results) < len(plan.runners) or unfinished(results, plan.configurations)
    mismatched = [] if interrupted else parity(results, experiment)
    ok = all(t.ok for r in results.values() for t in r.trials) and not mismatched
    status = "interrupted" if interrupted else "complete" if ok else "incomplete"
    search = search_record(results, experiment)
    summary = build_summary(
        plan,
        results,
        split,
        run_dir,
        status=status,
        resumed=resumed,
        mismatched=mismatched,
        fixed_costs=fixed_costs,
        search=search,
    )
    if line := stopping_line(search, plan.total):
        echo(line)
    return summary


def parity(results: dict[str, RunnerResult], experiment: Experiment) -> list[str]:
    """What differs between the baseline and each other runner (`tuning.reports.text.check_parity`,
    pairwise); with more than one other runner each entry names its runner (``tasks: ...``)."""
    if SEQUENTIAL not in results or len(results) < 2:
        return []
    others = [name for name in results if name != SEQUENTIAL]
    mismatched = []
    for name in others:
        differ = check_parity(*comparable(results, experiment, name))
        mismatched += [f"{name}: {d}" for d in differ] if len(others) > 1 else differ
    return mismatched


def write_and_report(
    run_dir: Path,
    summary: Summary,
    results: dict[str, RunnerResult],
    echo: Echo,
    show_all: bool = False,
) -> None:
    """Write summary.json and the HTML report, print the text report and what went wrong."""
    write_summary(run_dir, summary)
    echo("")
    echo(render(summary, results, show_all))
    _html_report(run_dir, summary, echo)
    publish(run_dir)  # keep it after the last file written to run_dir
    parity = summary.get("parity")
    if parity is not None and summary["status"] != "interrupted":
        differing = parity.get("differing") or []
        echo(parity_line(differing, " and ".join(results), len(next(iter(results.values())).trials)))
    if summary["status"] == "interrupted":
        total = summary["counts"]["trials"]
        echo(
            f"Interrupted: {total - summary['unfinished']} of {total} trials finished and are kept. "
            f"Continue with:\n  python -m tuning.run --resume {shlex.quote(str(run_dir))}"
        )


def _html_report(run_dir: Path, summary: Summary, echo: Echo) -> None:
    """Write report.html; the results are saved already, so a plotting failure only warns."""
    try:
        echo(f"HTML report:   {write_report(run_dir, summary)}")
    except Exception as exc:  # never lose a finished run to a plot
        echo(f"warning: the HTML report was not written ({type(exc).__name__}: {exc})")
