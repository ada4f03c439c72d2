"""The plan of a run: the one place that turns an experiment and a cluster into what will run.

`make_plan` resolves the runner and ``num_cpus: auto``, expands the space into trials in
the order the runners start them, and checks that a trial fits the cluster. The run,
``--dry-run``, ``tuning.inspect`` and the benchmarks all read the same `Plan`; none
recomputes it. Planning starts no Ray: the cluster is one already joined, or a description
of this machine (`tuning.planning.cluster.local_cluster`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from tuning.config import Experiment, ResourcesConfig, why_not_share
from tuning.errors import ExperimentError
from tuning.estimators.gpu import gpu_warnings
from tuning.estimators.space import expand, expand_choice
from tuning.planning.cluster import THIS_MACHINE, Cluster, check_fits, local_cluster
from tuning.planning.search import adaptive, check_runner, for_choice, search_space
from tuning.runner_names import RUNNERS, SEQUENTIAL, TASKS, TUNE
from tuning.summary_types import Validation
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec, run_trial
from tuning.trial.shared_fits import Group, fitted_sizes, group_configs, size_key
from tuning.trial.validation import REPEAT_CHUNK, TRIAL_SECONDS, chunk_size, chunks
from tuning.values import is_number


@dataclass(frozen=True)
class Plan:
    """What a run will do, decided before any trial starts.

    ``configs`` are the trials in the order the runners start them (empty for an adaptive
    search, which proposes its configurations as it runs); ``experiment`` has ``num_cpus``
    resolved. ``total`` counts trials; ``configurations`` the configurations they score
    (fewer when `group_repeats` splits each configuration's repeats over several trials).
    ``groups`` are the shared fits (`tuning.trial.shared_fits`; empty: one fit per configuration), each
    one Tune trial; ``share_note`` says why fits are not shared, or what sharing saves.
    ``warnings`` are lines the dry run and the run print (`tuning.estimators.gpu.gpu_warnings`).
    """

    experiment: Experiment
    runner: str
    cluster: Cluster
    configs: tuple[dict[str, Any], ...]
    total: int
    spec: TrialSpec
    groups: tuple[Group, ...] = ()
    share_note: str | None = None
    configurations: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def tune_trials(self) -> int:
        """How many Tune trials run: one per group when fits are shared, else one per configuration."""
        return len(self.groups) if self.groups else self.total

    @property
    def adaptive(self) -> bool:
        return adaptive(self.experiment)

    @property
    def runners(self) -> tuple[str, ...]:
        """The runners that run, in order: the baseline first (`tuning.runner_names.RUNNERS`)."""
        return RUNNERS[self.runner]

    @property
    def runs_tune(self) -> bool:
        return TUNE in self.runners

    @property
    def runs_sequential(self) -> bool:
        return SEQUENTIAL in self.runners

    @property
    def runs_tasks(self) -> bool:
        return TASKS in self.runners

    @property
    def slots(self) -> int:
        """How many Tune trials (or Ray Core tasks) run at once."""
        return min(self.cluster.slots(self.experiment.resources), self.tune_trials)

    @property
    def tune_cores(self) -> float:
        """The CPUs Tune's trials (or the tasks runner's tasks) keep busy at once."""
        return min(self.cluster.cpus, self.slots * self.experiment.resources.num_cpus)

    @property
    def sequential_cores(self) -> int:
        """The threads of the baseline's one trial at a time (`TrialSpec.threads`)."""
        return self.spec.threads

    @property
    def waves(self) -> int:
        return -(-self.tune_trials // self.slots) if self.slots else 0

    def limit(self) -> str:
        """What bounds the number of Tune trials at once."""
        res, cluster = self.experiment.resources, self.cluster
        cpu_fit = sum(int(cpus // res.num_cpus) for cpus in cluster.node_cpus)
        gpu_fit = (
            sum(int(gpus // res.num_gpus + 1e-9) for gpus in cluster.node_gpus) if res.num_gpus else None
        )
        if self.slots == self.tune_trials:
            return "all of them"
        if res.max_concurrent_trials and self.slots == res.max_concurrent_trials:
            return f"limited by resources.max_concurrent_trials={res.max_concurrent_trials}"
        if gpu_fit is not None and gpu_fit <= cpu_fit:
            return f"limited by GPUs: {cluster.gpus:g} GPUs, {res.num_gpus:g} per trial"
        return f"limited by CPUs: {cluster.cpus:g} CPUs, {res.num_cpus:g} per trial"


def make_plan(experiment: Experiment, runner: str | None, cluster: Cluster) -> Plan:
    """The plan of ``experiment`` on ``cluster``; `ExperimentError` if it cannot run there."""
    runner = runner or experiment.runner
    check_runner(experiment, runner)
    search = experiment.search
    configs = [] if adaptive(experiment) else trials_in_run_order(experiment)
    total = search.num_samples if adaptive(experiment) else len(configs)
    groups, share_note = share_plan(experiment, configs)
    if experiment.resources.num_cpus == "auto":  # one group: one trial that takes every core
        sized = [g.largest for g in groups] or configs or [{}] * total
        if experiment.split.repeats and configs:  # each repeat a unit: `group_repeats` spreads them
            sized = sized * experiment.split.repeats
        node_cpus = max(cluster.node_cpus, default=1)
        experiment = with_cpus(experiment, auto_cpus(sized, cluster.cpus, search.size_param, node_cpus))
    if runner != SEQUENTIAL:
        cluster = check_fits(cluster, experiment.resources)  # a joined cluster may be waited for
    else:
        check_sequential(experiment.resources, cluster)
    spec = TrialSpec.from_experiment(experiment)
    warnings = (  # only Ray reserves GPUs: the baseline runs one trial at a time, in this process
        gpu_warnings(spec.estimator, spec.params, configs, experiment.resources.num_gpus)
        if runner != SEQUENTIAL and spec.choice is None
        else []
    )
    return Plan(
        experiment, runner, cluster, tuple(configs), total, spec, groups, share_note, total, tuple(warnings)
    )


def check_sequential(resources: ResourcesConfig, cluster: Cluster) -> None:
    """The sequential runner fits its trials one at a time in this process, with ``num_cpus``
    threads: refuse more CPUs or GPUs than this machine has (Ray's limits do not apply to it)."""
    here = cluster if cluster.started_here or cluster.address == THIS_MACHINE else local_cluster()
    cpus, gpus = max(here.node_cpus, default=1), max(here.node_gpus, default=0)
    where = "the {} of this machine, where the sequential runner fits its trials"
    if resources.num_cpus > cpus:
        raise ExperimentError(
            f"must be at most {cpus:g}, {where.format('CPUs')} one at a time; got {resources.num_cpus:g}",
            key="resources.num_cpus",
        )
    if resources.num_gpus > gpus:
        none = " (it has none)" if not gpus else ""
        raise ExperimentError(
            f"must be at most {gpus:g}, {where.format('GPUs')}{none}; got {resources.num_gpus:g}",
            key="resources.num_gpus",
        )


def share_plan(experiment: Experiment, configs: list[dict[str, Any]]) -> tuple[tuple[Group, ...], str | None]:
    """The shared fits of ``search.share_fits`` and the plan's note on them.

    ``auto`` shares where it is exact and there is something to share; ``true`` was checked
    possible with the experiment (`tuning.config.checks`); ``false`` notes what sharing would save.
    """
    setting = experiment.search.share_fits
    reason = why_not_share(experiment)
    if reason is not None:
        return (), None if setting is False else f"not shared: {reason}"
    spec = TrialSpec.from_experiment(with_cpus(experiment, 1))  # the size keys do not depend on threads
    groups = group_configs(configs, partial(size_key, spec))
    size = ", ".join(dict.fromkeys(g.size_param for g in groups))
    separate, shared = fitted_sizes(groups)
    if setting is not True and len(groups) == len(configs):
        return (), None if setting is False else f"not shared: no two configurations differ only in {size}"
    saving = (
        f"{len(configs)} configurations from {len(groups)} fit{'s' if len(groups) != 1 else ''}: "
        f"{size} {shared} fitted instead of {separate} ({separate / max(shared, 1):.1f}x less)"
    )
    if setting is False:
        return (), f"off (search.share_fits: false); with auto: {saving}"
    return tuple(groups), saving


def group_repeats(plan: Plan, split: Split, chunk: int | None = None) -> tuple[Plan, Validation | None]:
    """The plan with each configuration's repeats grouped into trials, and how (None: no repeats).

    A tiny fit must not pay a whole Tune trial (~50 ms) per repeat: one repeat of the first
    configuration is timed, and each trial runs enough repeats to take ``TRIAL_SECONDS``
    (`tuning.trial.validation.chunk_size`). ``chunk`` (a resumed run's) skips the timing. An
    adaptive search runs all the repeats of a configuration in one trial: it needs the mean.
    """
    spec, repeats = plan.spec, plan.spec.repeats
    if not repeats:
        return plan, None
    record: Validation = {"repeats": repeats, "cv": spec.cv, "test_size": spec.test_size, "rows": "all"}
    if plan.adaptive:
        return plan, {**record, "chunk": repeats, "trials_per_configuration": 1}
    first_s = None
    if chunk is None:
        first_s = _time_one_repeat(plan.configs[0], split, spec)
        chunk = chunk_size(first_s, repeats)
    spec = replace(spec, chunk=chunk)
    trials = tuple(
        {**config, REPEAT_CHUNK: index} for config in plan.configs for index in range(chunks(spec))
    )
    record.update(chunk=chunk, trials_per_configuration=chunks(spec), first_repeat_s=first_s)
    return replace(plan, configs=trials, total=len(trials), spec=spec), record


def _time_one_repeat(config: dict[str, Any], split: Split, spec: TrialSpec) -> float:
    """Seconds of one repeat of ``config``; a fast one is timed again warm (first calls import and
    allocate) and the shorter time kept."""
    times: list[float] = []
    while len(times) < 2 and (not times or times[0] < TRIAL_SECONDS):
        timed = run_trial({**config, REPEAT_CHUNK: 0}, split, replace(spec, chunk=1))
        times.append(timed["ended_at"] - timed["started_at"])
    return min(times)


def grouping_line(record: Validation) -> str:
    """``Repeats: 100 per configuration in 2 trials of 50 (one repeat took 8 ms; >= 0.5 s a trial)``."""
    trials, chunk = record["trials_per_configuration"], record["chunk"]
    line = (
        f"Repeats:       {record['repeats']} per configuration in {trials} trial{'s' if trials > 1 else ''}"
    )
    line += f" of {chunk}" if trials > 1 else ""
    if record.get("first_repeat_s") is not None:
        line += f" (one repeat took {record['first_repeat_s'] * 1000:.0f} ms; >= {TRIAL_SECONDS:g} s a trial)"
    return line


def trials_in_run_order(experiment: Experiment) -> list[dict[str, Any]]:
    """The configurations of a grid or random search, in the order both runners start them."""
    search = experiment.search
    if experiment.estimator.choice is not None:
        return expand_choice(for_choice(experiment), search.num_samples, experiment.seed, search.algorithm)
    return expand(search_space(experiment), search.num_samples, experiment.seed, search.algorithm)


def with_cpus(experiment: Experiment, num_cpus: float) -> Experiment:
    """The experiment with ``resources.num_cpus`` set (``auto`` resolved on the cluster)."""
    resources = experiment.resources.model_copy(update={"num_cpus": float(num_cpus)})
    return experiment.model_copy(update={"resources": resources})


def auto_cpus(configs: list[dict[str, Any]], cores: float, size_param: str, node_cpus: float) -> int:
    """CPUs per trial that fill the machine: the largest trial, with its threads, should take
    no longer than the ideal (all the work spread over every core)::

        num_cpus = ceil(cores * largest / total)     # sizes from ``size_param``, else equal

    e.g. 20 forests of 8..84 trees: 1 CPU on 2 cores, 2 on 16; 4 equal trials on 16 cores: 4.
    """
    sizes = [_size(c.get(size_param, 1)) for c in configs]
    total = sum(sizes) or 1.0
    wanted = math.ceil(cores * max(sizes, default=1.0) / total - 1e-9)
    return int(max(1, min(wanted, math.floor(node_cpus) or 1)))


def _size(value: Any) -> float:
    return float(value) if is_number(value) and value > 0 else 1.0
