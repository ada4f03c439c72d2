"""``python -m tuning.run EXPERIMENT.yaml --dry-run``: what a run would do, without doing it.

Prints the run's `Plan`: the trials in the order the run starts them, what each reserves,
and how many fit at once. It writes nothing, runs no trial and starts no Ray: the plan is
made for this machine, or for the cluster at ``address`` (joined, then left).
"""

from __future__ import annotations

from typing import Any

from tuning.config import DataConfig, Experiment
from tuning.planning.cluster import connect, local_cluster, resolve_address
from tuning.planning.estimate import budget_line
from tuning.planning.plan import Plan, make_plan
from tuning.trial.data import choose_reader
from tuning.trial.fit import TrialSpec
from tuning.trial.shared_fits import Group
from tuning.trial.validation import TRIAL_SECONDS
from tuning.values import fmt

SHOWN_TRIALS = 20


def dry_run(
    experiment: Experiment,
    runner: str | None = None,
    *,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
) -> str:
    """Check the experiment against this machine or its cluster and return the plan's text."""
    if resolve_address(experiment.address) is None:
        return describe(make_plan(experiment, runner, local_cluster(num_cpus, num_gpus)))
    import ray  # heavy: only to ask a running cluster what it has

    joined = not ray.is_initialized()
    cluster = connect(experiment.address)
    try:
        return describe(make_plan(experiment, runner, cluster))
    finally:
        if joined:
            ray.shutdown()


def describe(plan: Plan) -> str:
    """The dry run's text: the cluster, the trials, their resource demand and the concurrency."""
    experiment, cluster = plan.experiment, plan.cluster
    res = experiment.resources
    where = "this machine (a dry run starts no Ray)" if cluster.address == "this machine" else cluster.address
    proposed = f" proposed by {experiment.search.algorithm} as it runs" if plan.adaptive else ""
    lines = [
        f"Dry run of {experiment.name}: nothing is written and no trial runs.",
        f"Cluster:     {where}: {_count(cluster.nodes, 'node')}, {cluster.cpus:g} CPUs, "
        f"{cluster.gpus:g} GPUs",
        f"Data:        {data_line(experiment.data)}",
        f"Trials:      {plan.total}{proposed} (runner: {plan.runner}; "
        f"best {experiment.metric}: {experiment.mode})",
        f"Each trial:  {_demand(res.num_cpus, res.num_gpus)}",
        f"All trials:  {_demand(res.num_cpus * plan.tune_trials, res.num_gpus * plan.tune_trials, True)}"
        " if they all ran at once",
    ]
    if plan.runs_tune:
        waves = _count(plan.waves, "wave")
        shared = f"; {_count(plan.tune_trials, 'trial')}, one per shared fit" if plan.groups else ""
        lines.append(
            f"Ray Tune:    {_count(plan.slots, 'trial')} at a time ({plan.limit()}), {waves}{shared}"
        )
    if plan.runs_tasks:
        lines.append(f"Ray tasks:   {_count(plan.slots, 'task')} at a time ({plan.limit()}), one per trial")
    if plan.runs_sequential:
        lines.append("Sequential:  1 trial at a time, in this process")
    lines += estimator_lines(plan.spec)
    if plan.spec.repeats:
        lines.append(f"Validation:  {repeats_text(plan)}")
    if plan.share_note:
        lines.append(f"Shared fits: {plan.share_note}")
    lines += plan.warnings
    if budget := budget_line(plan):
        lines.append(budget)
    if plan.groups:
        lines += ["", group_table(plan.groups)]
    elif plan.configs and not experiment.evaluation:
        lines += ["", trial_table(list(plan.configs))]
    return "\n".join(lines)


def data_line(data: DataConfig) -> str:
    """Where the rows come from, who reads and splits them, and why (`tuning.trial.data.choose_reader`)."""
    reader, why = choose_reader(data)
    who = "Ray Data reads and splits" if reader == "ray_data" else "read and split in this process"
    return f"{data.source}: {who} ({why})"


def estimator_lines(spec: TrialSpec) -> list[str]:
    """``Estimator:`` the class and its fixed parameters, a pipeline's steps, or a choice's branches."""
    if spec.choice:
        branches = ", ".join(f"{name} ({model.describe()})" for name, model in spec.choice.items())
        return [f"Estimator:   a choice of {branches}"]
    if spec.pipeline:
        return [f"Estimator:   Pipeline({spec.model.describe()})"]
    return [f"Estimator:   {spec.estimator}({_call_args(spec.params)})"] if spec.params else []


def group_table(groups: tuple[Group, ...]) -> str:
    """The shared fits, one row each: the other parameters and the sizes scored from the one fit."""
    rows = []
    for group in groups:
        sizes = ", ".join(str(s) for s in group.sizes)
        rows.append({**group.largest, group.size_param: f"{sizes} (fit: {max(group.sizes)})"})
    return trial_table(rows, label="fit")


def trial_table(configs: list[dict[str, Any]], shown: int = SHOWN_TRIALS, label: str = "#") -> str:
    """The configurations, one row each (the first ``shown``, then a count of the rest)."""
    params = list(dict.fromkeys(k for c in configs for k in c))
    rows = [[label, *params]]
    for index, config in enumerate(configs[:shown]):
        rows.append([str(index), *(fmt(config.get(p, "")) for p in params)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    if len(configs) > shown:
        text += f"\n... and {len(configs) - shown} more"
    return text


def repeats_text(plan: Plan) -> str:
    """How the repeats split the rows, and how they will be grouped into trials."""
    spec = plan.spec
    how = (
        f"RepeatedKFold({spec.cv} folds x {spec.repeats})"
        if spec.cv
        else f"ShuffleSplit({spec.repeats} splits, test_size {spec.test_size:g})"
    )
    grouped = (
        "all in one trial per configuration (an adaptive search needs each mean)"
        if plan.adaptive
        else f"grouped into trials of >= {TRIAL_SECONDS:g} s each, sized when the run starts from a "
        "timed first repeat"
    )
    scored = "the estimator's" if plan.experiment.evaluation else "each configuration's"
    return f"{how} of all the rows, seed {spec.seed}; {scored} score is the mean (± std); {grouped}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _demand(cpus: float, gpus: float, always_plural: bool = False) -> str:
    text = f"{cpus:g} CPU{'s' if always_plural or cpus != 1 else ''}"
    if gpus:
        text += f", {gpus:g} GPU{'s' if always_plural or gpus != 1 else ''}"
    return text


def _call_args(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())
