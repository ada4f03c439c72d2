"""The shape of ``summary.json``: `TypedDict`s, so the JSON round-trips and reads as a dict.

`tuning.reports.summary.build_summary` is the one writer of a new summary (the run then adds
the `NotRequired` keys: the stop, the repeats' grouping, the best model, the trackers, and the
phases to ``timings``); `tuning.run_files.read_summary` the one reader.
``tests/test_summary_types.py`` checks that a written summary holds exactly these keys.

Records keyed by the run's metric (``best``, a selection's entries) stay ``dict[str, Any]``: a
`TypedDict` cannot name a key chosen at run time. No ``from __future__ import annotations``
here: Python 3.11's `TypedDict` sees `NotRequired` only in evaluated annotations.
"""

from typing import Any, NotRequired, TypedDict

# ``{"runner": ..., "trial": ..., "config": ..., <metric>: score}``: keyed by the run's metric
BestRecord = dict[str, Any]


class Counts(TypedDict):
    trials: int
    ok: int
    error: int
    retries: int


class Parity(TypedDict):
    identical: bool
    differing: list[str]


class Cluster(TypedDict):
    address: str | None
    nodes: int
    cpus: float
    gpus: float


class Phase(TypedDict):
    name: str
    start: float
    end: float | None


class Timings(TypedDict, total=False):
    """Fixed costs, each runner's wall time, and the parallel runners' cores and efficiency
    (`tuning.reports.summary.timings`); the phases (`tuning.phases.Phases.record`)."""

    ray_start_s: float | None
    data_load_s: float | None
    sequential_s: float
    tasks_s: float
    tune_s: float
    sequential_tracking_s: float
    tasks_tracking_s: float
    tune_tracking_s: float
    cores: float | None
    ideal_s: float | None
    efficiency: float | None
    speedup: float
    tasks_cores: float | None
    tasks_ideal_s: float | None
    tasks_efficiency: float | None
    tasks_speedup: float
    tune_cores: float | None
    tune_ideal_s: float | None
    tune_efficiency: float | None
    tune_speedup: float
    process_start: float
    run_start: float
    phases: list[Phase]


class Selection(TypedDict):
    """Which configuration becomes the saved model (`tuning.reports.selection.choose`)."""

    rule: str
    tolerance: float | None
    simplest: dict[str, str] | None
    distance: float | None
    best: BestRecord
    selected: BestRecord
    test: str | None
    test_train_ratio: float | None
    interval: list[float] | None
    p_values: dict[str, float] | None
    tied: list[str] | None
    smallest_tied: BestRecord | None
    rows: NotRequired[str]
    test_rows_seen: NotRequired[bool]
    agree: NotRequired[bool]  # with two runners: whether both select the same configuration


class Evaluation(TypedDict):
    """A run with no space: its one estimator's scores (`tuning.reports.summary.evaluation_record`)."""

    estimator: str
    splits: int
    strategy: str
    metrics: dict[str, float]
    std: dict[str, float]


class Search(TypedDict, total=False):
    """The search's settings (`tuning.planning.search.search_record`); under a budget, what stopped early."""

    algorithm: str
    num_samples: int
    scheduler: str | None
    budget: dict[str, Any]
    sequential_stopped_early: int
    sequential_steps_run: int
    tasks_stopped_early: int
    tasks_steps_run: int
    tune_stopped_early: int
    tune_steps_run: int


class SplitRecord(TypedDict):
    """`tuning.trial.data.Split.fingerprint`: to tell whether two runs saw the same rows."""

    train_rows: int
    test_rows: int
    features: list[str]
    target: str
    categorical: list[str]
    sha256: str


# the estimator's class and fixed parameters; a pipeline's steps; a choice's branches ("class"
# is a keyword: declared the functional way)
Estimator = TypedDict(
    "Estimator",
    {
        "class": str,
        "fixed_params": dict[str, Any],
        "steps": NotRequired[list[dict[str, Any]]],
        "choice": NotRequired[dict[str, dict[str, Any]]],
    },
)


class TrialRow(TypedDict):
    """One trial as summary.json keeps it (`tuning.reports.summary.trial_record`)."""

    name: str
    config: dict[str, Any]
    model: str | None
    status: str
    metrics: dict[str, Any]
    duration_s: float | None
    started_at: float | None
    ended_at: float | None
    node_id: str | None
    node_ip: str | None
    hostname: str | None
    pid: int | None
    gpu_ids: list[Any] | None
    cuda_visible_devices: str | None
    retries: int
    error: str | None
    path: str | None


class Stopped(TypedDict):
    """What a ``search.stop`` rule ended (`tuning.runners.dispatch.settle_stopped`)."""

    reason: str
    unrun: list[dict[str, Any]]
    unrun_count: int
    runners: dict[str, str]


class Validation(TypedDict, total=False):
    """How a repeated run's splits were grouped into trials (`tuning.planning.plan.group_repeats`)."""

    repeats: int
    cv: int | None
    test_size: float
    rows: str
    chunk: int
    trials_per_configuration: int
    first_repeat_s: float | None


class BestModel(TypedDict, total=False):
    """The refitted best model (`tuning.reports.best_model.refit_best`): or only its ``error``."""

    path: str
    config: dict[str, Any]
    trial: str
    test_metrics: dict[str, float] | None
    validation_metrics: dict[str, float] | None
    scored_on: str
    train_rows: int
    classes: list[Any]
    confusion_matrix: list[list[int]]
    per_class: dict[str, dict[str, float]]
    averages: dict[str, dict[str, float]]
    error: str


class Tracking(TypedDict):
    """What the trackers logged and what failed (`tuning.runners.tracking.Trackers.finish`)."""

    trackers: list[str]
    failed: list[str]
    logged: dict[str, dict[str, int]]


class Summary(TypedDict):
    """A run's ``summary.json``: `tuning.reports.summary.build_summary` writes the required keys."""

    experiment: str
    run_dir: str
    created: str
    runner: str
    metric: str
    mode: str
    metrics: list[str]
    status: str  # complete, incomplete or interrupted
    resumed: bool
    best: BestRecord | None
    selection: Selection | None
    evaluation: Evaluation | None
    counts: Counts
    unfinished: int
    search: Search
    parity: Parity | None
    timings: Timings
    split: SplitRecord
    cluster: Cluster
    estimator: Estimator
    trials: dict[str, list[TrialRow]]
    versions: dict[str, str]
    validation: NotRequired[Validation | None]  # set by the run after the builder (always)
    stopped: NotRequired[Stopped]
    best_model: NotRequired[BestModel]
    tracking: NotRequired[Tracking]
