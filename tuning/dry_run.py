"""``python -m tuning.run EXPERIMENT.yaml --dry-run``: what a run would do, without doing it.

Validates the experiment, connects to Ray (the cluster at ``address``, or a local one) and
prints the trials that would run, what each reserves, and how many fit at once. It writes
nothing and runs no trial.
"""

from __future__ import annotations

from typing import Any

from tuning.cluster import Cluster
from tuning.config import Experiment

SHOWN_TRIALS = 20


def plan(
    experiment: Experiment,
    configs: list[dict[str, Any]],
    cluster: Cluster,
    runner: str,
    fixed_params: dict[str, Any] | None = None,
) -> str:
    """The dry run's text: the trials, their resource demand and the concurrency.

    ``configs`` is empty for an adaptive search (Optuna), which proposes them as it runs.
    """
    res = experiment.resources
    count = len(configs) or experiment.search.num_samples
    lines = [f"Dry run of {experiment.name}: nothing is written and no trial runs."]
    where = "a local Ray started for this dry run" if cluster.started_here else cluster.address
    lines.append(
        f"Cluster:     {where}: {cluster.nodes} node{'s' if cluster.nodes != 1 else ''}, "
        f"{cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs"
    )
    lines.append(
        f"Trials:      {count}{'' if configs else f' proposed by {experiment.search.algorithm} as it runs'}"
        f" (runner: {runner}; best {experiment.metric}: {experiment.mode})"
    )
    per_trial = f"{res.num_cpus:g} CPU{'s' if res.num_cpus != 1 else ''}"
    if res.num_gpus:
        per_trial += f", {res.num_gpus:g} GPU{'s' if res.num_gpus != 1 else ''}"
    lines.append(f"Each trial:  {per_trial}")
    total = f"{res.num_cpus * count:g} CPUs"
    if res.num_gpus:
        total += f", {res.num_gpus * count:g} GPUs"
    lines.append(f"All trials:  {total} if they all ran at once")
    if runner in ("tune", "both"):
        lines.append(f"Ray Tune:    {_concurrency(cluster, experiment, count)}")
    if runner in ("sequential", "both"):
        lines.append("Sequential:  1 trial at a time, in this process")
    if fixed_params:
        params = ", ".join(f"{k}={v!r}" for k, v in fixed_params.items())
        lines.append(f"Estimator:   {experiment.estimator.class_path}({params})")
    if configs:
        lines += ["", trial_table(configs)]
    return "\n".join(lines)


def _concurrency(cluster: Cluster, experiment: Experiment, trials: int) -> str:
    """How many trials Ray Tune runs at once, and what limits it."""
    res = experiment.resources
    at_once = min(cluster.slots(res), trials)
    cpu_fit = sum(int(cpus // res.num_cpus) for cpus in cluster.node_cpus)
    gpu_fit = sum(int(gpus // res.num_gpus + 1e-9) for gpus in cluster.node_gpus) if res.num_gpus else None
    if at_once == trials:
        reason = "all of them"
    elif res.max_concurrent_trials and at_once == res.max_concurrent_trials:
        reason = f"limited by resources.max_concurrent_trials={res.max_concurrent_trials}"
    elif gpu_fit is not None and gpu_fit <= cpu_fit:
        reason = f"limited by GPUs: {cluster.gpus:g} GPUs, {res.num_gpus:g} per trial"
    else:
        reason = f"limited by CPUs: {cluster.cpus:g} CPUs, {res.num_cpus:g} per trial"
    waves = -(-trials // at_once) if at_once else 0
    plural = "s" if waves != 1 else ""
    return f"{at_once} trial{'s' if at_once != 1 else ''} at a time ({reason}), {waves} wave{plural}"


def trial_table(configs: list[dict[str, Any]], shown: int = SHOWN_TRIALS) -> str:
    """The configurations, one row each (the first ``shown``, then a count of the rest)."""
    params = list(dict.fromkeys(k for c in configs for k in c))
    rows = [["#", *params]]
    for index, config in enumerate(configs[:shown]):
        rows.append([str(index), *(_fmt(config.get(p, "")) for p in params)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    if len(configs) > shown:
        text += f"\n... and {len(configs) - shown} more"
    return text


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def dry_run(
    experiment: Experiment,
    runner: str | None = None,
    *,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
) -> str:
    """Check the experiment against the cluster and return the plan; write nothing."""
    import ray

    from tuning.cluster import check_fits, connect
    from tuning.search import adaptive
    from tuning.space import expand
    from tuning.trial import TrialSpec

    runner = runner or experiment.runner
    cluster = connect(experiment.address, num_cpus=num_cpus, num_gpus=num_gpus)
    try:
        if runner != "sequential":
            check_fits(cluster, experiment.resources)
        search = experiment.search
        configs = (
            []
            if adaptive(experiment)
            else expand(experiment.space, search.num_samples, experiment.seed, search.algorithm)
        )
        spec = TrialSpec.from_experiment(experiment)
        return plan(experiment, configs, cluster, runner, spec.params)
    finally:
        if cluster.started_here:
            ray.shutdown()
