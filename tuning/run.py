"""``python -m tuning.run EXPERIMENT.yaml``: run an experiment with Tune, Ray Core tasks or the baseline.

The command line: arguments, ``--resume`` checks and exit codes; the run itself is
`tuning._experiment.run_experiment`.

Exit codes: 0 every trial finished; 1 the run is incomplete (a trial errored, or the
runners disagree); 2 bad input, reported in one line (the traceback only with --debug),
or a storage that filled up or turned read-only mid-run (finished trials kept, ``--resume``);
130 interrupted (SIGINT or SIGTERM): finished trials are kept, and
``python -m tuning.run --resume RUN_DIR`` runs the others.
"""

from __future__ import annotations

import argparse
import math
import sys
import traceback
from pathlib import Path

from tuning._experiment import run_experiment
from tuning.config import RUNNERS, Experiment, apply_override, load_experiment, locate, validate
from tuning.errors import EXIT_BAD_INPUT, ExperimentError
from tuning.phases import process_start
from tuning.planning.dry_run import dry_run
from tuning.run_files import EXPERIMENT_FILE, check_started, read_experiment, read_summary
from tuning.stopping import stopped_text
from tuning.summary_types import Summary

EXIT_OK, EXIT_INCOMPLETE, EXIT_INTERRUPTED = 0, 1, 130
__all__ = ["main", "parse_args"]


def parse_args(argv: list[str] | None, prog: str = "python -m tuning.run") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", help="the experiment's YAML file (optional with --resume)")
    parser.add_argument(
        "--runner",
        choices=list(RUNNERS),
        help="override the file's runner (tasks: Ray Core tasks; both: sequential and tune; all: the three)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a field of the file (repeatable), e.g. --set resources.num_cpus=2",
    )
    parser.add_argument("--address", help="Ray cluster to join ('auto': the running local one)")
    parser.add_argument("--num-cpus", type=float, help="CPUs of the local Ray this starts (default: all)")
    parser.add_argument(
        "--num-gpus", type=float, help="GPUs of the local Ray this starts (default: detected)"
    )
    parser.add_argument(
        "--wait-for-cluster",
        type=float,
        metavar="SECONDS",
        help="how long to wait for a joined cluster's first node that can hold a trial "
        "(default: $TUNING_CLUSTER_WAIT_S, else 600)",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue an interrupted run (keep its finished trials, run the others), or with new "
        "--set search.stop.* rules one that search.stop ended",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and print the plan (trials in run order, resources); start, run and write nothing",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="a line per finished trial on a terminal too (else one live line)",
    )
    parser.add_argument(
        "--show",
        choices=["best", "all"],
        default="best",
        help="the table's rows: the best 10 (default) or all",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    if not args.experiment and not args.resume:
        parser.error("the experiment's YAML file is required (or --resume RUN_DIR)")
    return args


def main(argv: list[str] | None = None, prog: str = "python -m tuning.run") -> int:
    args = parse_args(argv, prog)
    try:
        overrides = list(args.overrides) + ([f"address={args.address}"] if args.address else [])
        resume = Path(args.resume) if args.resume else None
        check_flags(args)
        if resume:
            experiment, runner = resumable(resume, args.experiment, overrides, args.runner)
        else:
            experiment, runner = load_experiment(args.experiment, overrides), args.runner
        if args.dry_run:
            print(dry_run(experiment, runner, num_cpus=args.num_cpus, num_gpus=args.num_gpus))
            return EXIT_OK
        summary = run_experiment(
            experiment,
            runner,
            num_cpus=args.num_cpus,
            num_gpus=args.num_gpus,
            resume=resume,
            wait_for_cluster=args.wait_for_cluster,
            verbose=args.verbose,
            show_all=args.show == "all",
            process_started=process_start(),
            release_ray=True,  # this process ends with the run: Ray stops while the reports are written
        )
    except ExperimentError as exc:
        if args.debug:
            traceback.print_exc()
        located = (
            exc
            if exc.where or not exc.key
            else ExperimentError(
                str(exc).removeprefix(f"{exc.key} "),
                where=_where(args.experiment, exc.key, overrides),
                key=exc.key,
            )
        )
        print(f"error: {located}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if summary["status"] == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if summary["status"] == "complete" else EXIT_INCOMPLETE


def check_flags(args: argparse.Namespace) -> None:
    """The resource flags are finite numbers: CPUs above 0, GPUs and the wait at least 0 (a bad
    one is the flag's fault, not the file's ``resources``)."""
    for flag, value, least in (
        ("--num-cpus", args.num_cpus, None),
        ("--num-gpus", args.num_gpus, 0),
        ("--wait-for-cluster", args.wait_for_cluster, 0),
    ):
        if value is not None and not (math.isfinite(value) and (value > 0 if least is None else value >= 0)):
            rule = "greater than 0" if least is None else "at least 0"
            raise ExperimentError(f"{flag} must be a number {rule}; got {value:g}")


def resumable(
    run_dir: Path, path: str | None, overrides: list[str], runner: str | None
) -> tuple[Experiment, str]:
    """The saved experiment and runner of an interrupted run directory, checked.

    The run continues exactly as it started: an experiment file given beside ``--resume``
    must resolve to the saved one, and the only override allowed is ``address``; a run that
    ``search.stop`` ended continues only with new ``search.stop.*`` rules, which replace the old.
    """
    where = f"--resume {run_dir}"
    if not run_dir.is_dir():
        raise ExperimentError("must be a run directory; no such folder", where=where)
    saved = read_experiment(run_dir)
    check_started(run_dir)  # experiment.yaml as it started; the rows are checked once loaded
    summary = read_summary(run_dir)
    budget = [o for o in overrides if o.partition("=")[0].strip().startswith("search.stop.")]
    _check_resumable(summary, saved, budget, where)
    changed = [o for o in overrides if not o.startswith("address=") and o not in budget]
    if changed:
        raise ExperimentError(
            f"continues the saved experiment; --set cannot change it; got {changed} (only address, "
            "or search.stop.* for a run that search.stop ended)",
            where=where,
        )
    address = [o.partition("=")[2] for o in overrides if o.startswith("address=")]
    raw = {**saved, **({"address": address[-1]} if address else {})}
    if budget:  # the new rules replace the old ones, and count from this session's start
        raw["search"] = {**raw["search"], "stop": {}}
        for override in budget:
            apply_override(raw, override)
    experiment = validate(raw, source=str(run_dir / EXPERIMENT_FILE))
    if path is not None:
        given = {**load_experiment(path).resolved(), "runner": saved["runner"], "address": experiment.address}
        given["search"]["stop"] = experiment.resolved()["search"]["stop"]  # a new budget: checked above
        if given != experiment.resolved():
            keys = sorted(k for k in given if given[k] != experiment.resolved().get(k))
            raise ExperimentError(
                f"differs from the experiment saved in {run_dir / EXPERIMENT_FILE} (in {', '.join(keys)})",
                where=path,
            )
    if runner and runner != saved["runner"]:
        raise ExperimentError(f"ran with --runner {saved['runner']}; got --runner {runner}", where=where)
    return experiment, saved["runner"]


def _check_resumable(summary: Summary | None, saved: dict, budget: list[str], where: str) -> None:
    """An interrupted run resumes as it was; a run a ``search.stop`` rule ended continues only
    with a new budget (``--set search.stop.time=10m``); any other finished run is refused."""
    stopped = (summary or {}).get("stopped")
    if stopped and not budget:
        raise ExperimentError(
            f"has nothing to resume: the run is complete, stopped by search.stop ({stopped_text(stopped)}); "
            "to run those with a new budget: --set search.stop.time=10m (or trials, plateau, target)",
            where=where,
        )
    if stopped and saved["search"]["algorithm"] == "optuna":
        raise ExperimentError(
            "cannot continue a stopped optuna search (its searcher is finished); run it again with a larger "
            "search.stop",
            where=where,
        )
    if summary and not stopped and summary.get("status") != "interrupted":
        raise ExperimentError(
            f"has nothing to resume: the run ended with status {summary.get('status')!r}", where=where
        )
    if budget and not stopped:
        raise ExperimentError(
            f"continues the saved experiment; --set search.stop.* continues only a run that "
            f"search.stop ended; got {budget}",
            where=where,
        )


def _where(path: str | None, key: str, overrides: list[str] = ()) -> str:
    """``file:line`` of a key in the experiment file (``--set`` if an override set it)."""
    parts = key.split(".")
    set_here = {o.partition("=")[0].strip() for o in overrides}
    if any(".".join(parts[:end]) in set_here for end in range(1, len(parts) + 1)) or any(
        k.startswith(f"{key}.") for k in set_here
    ):
        return "--set"
    return locate(Path(path), key) if path else "--resume"


if __name__ == "__main__":
    from tuning.cli import exit_process

    exit_process(main())
