"""The experiment schema: pydantic models and the parsing of search-space entries.

Validation here is structural: types, ranges and checks across fields of one model. The
checks that need the estimator or the file system are in `tuning.config.checks`.
"""

from __future__ import annotations

import importlib.util
import math
import re
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tuning.estimators.classes import task_of_class
from tuning.estimators.models import choice_key
from tuning.estimators.space import MAX_TRIALS, MAX_VALUES, distinct_count, grid_count, grid_sizes
from tuning.metrics import DEFAULT_METRIC, Mode, bounds, mode_of, recorded, unknown
from tuning.runner_names import SEQUENTIAL, TUNE
from tuning.stopping import parse_duration
from tuning.values import is_number


class Builtin(NamedTuple):
    """A data set that ships with scikit-learn: its loader in `sklearn.datasets` and its target."""

    loader: str
    target: str


BUILTIN_DATASETS = {
    "california_housing": Builtin("fetch_california_housing", "MedHouseVal"),  # cached, or downloaded once
    "breast_cancer": Builtin("load_breast_cancer", "target"),  # these four ship inside scikit-learn
    "wine": Builtin("load_wine", "target"),
    "iris": Builtin("load_iris", "target"),
    "digits": Builtin("load_digits", "target"),
}
DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")
ADAPTIVE_RUNNER = (
    "runner must be tune or both when search.algorithm is optuna (an adaptive search needs "
    "Tune; both replays Tune's configurations one after another); got 'sequential'"
)
SPLIT_SEED = "split.seed"  # refused in the space: a split seed is not a parameter to win
REPEATS_HINT = "use split.repeats: N to average over N random splits (Monte Carlo cross-validation)"
SEED_MAX = 2**32 - 1  # numpy's RandomState and scikit-learn's random_state take 0 .. 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class _Strict(BaseModel):
    # the one-line docstring under each field is its description (the reference and the JSON Schema)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


def keyed(key: str, message: str) -> PydanticCustomError:
    """The error of a check across fields: it names its own dotted key, not the model's."""
    return PydanticCustomError("keyed", "{message}", {"key": key, "message": message})


def _check_name(value: str) -> str:
    """An experiment name is a safe folder name."""
    if not _NAME.match(value) or ".." in value:
        raise ValueError("must be 1-100 letters, digits, '.', '_' or '-' (no path separators or '..')")
    return value


def _parse_param(raw: Any) -> dict[str, Any]:
    """Normalise one search-space entry to ``{domain: values}``.

    Accepted: a list (grid), ``{start, stop, step}`` (a grid like ``range``), or a
    mapping with one key among ``grid, choice, uniform, loguniform, randint``.
    """
    if isinstance(raw, list):
        raw = {"grid": raw}
    if not isinstance(raw, dict):
        raise ValueError(
            f"must be a list of values, {{start, stop, step}}, or a mapping with one of {', '.join(DOMAINS)}"
        )
    if set(raw) <= {"start", "stop", "step"} and {"start", "stop"} <= set(raw):
        return {"grid": _range(raw["start"], raw["stop"], raw.get("step", 1))}
    if len(raw) != 1 or next(iter(raw)) not in DOMAINS:
        raise ValueError(f"must have exactly one key among {', '.join(DOMAINS)} (or start/stop/step)")
    ((domain, values),) = raw.items()
    if domain in ("grid", "choice"):
        if not isinstance(values, list) or not values:
            raise ValueError(f"must be a non-empty list of {domain} values")
        if len(values) > MAX_VALUES:
            raise ValueError(f"must have at most {MAX_VALUES} values; it has {len(values)}")
        reprs = [repr(v) for v in values]
        if len(set(reprs)) != len(reprs):
            dup = next(r for r in reprs if reprs.count(r) > 1)
            raise ValueError(f"must not repeat a {domain} value ({dup} is repeated)")
        return {domain: values}
    if (
        not isinstance(values, list)
        or len(values) != 2
        or not all(is_number(v) for v in values)
        or not values[0] < values[1]
    ):
        raise ValueError(f"must be {{{domain}: [low, high]}} with numbers low < high")
    if domain == "loguniform" and values[0] <= 0:
        raise ValueError("must have low > 0 for loguniform")
    if domain == "randint" and not all(isinstance(v, int) for v in values):
        raise ValueError("must have integer bounds for randint: [low, high), high excluded")
    return {domain: values}


def _range(start: Any, stop: Any, step: Any) -> list[int | float]:
    """The grid of ``{start, stop, step}``, like ``range`` but for floats too."""
    if not all(is_number(v) for v in (start, stop, step)) or step == 0:
        raise ValueError("must have numbers for start, stop and step, and step non-zero")
    integers = all(isinstance(v, int) for v in (start, stop, step))
    # counted before they are built (10^9 values would take gigabytes); 0.3 / 0.1 is 3.0000000000000004
    count = len(range(start, stop, step)) if integers else max(math.ceil(round((stop - start) / step, 9)), 0)
    if count > MAX_VALUES:
        raise ValueError(
            f"must have at most {MAX_VALUES} values (range({start}, {stop}, {step}) has {count})"
        )
    if integers:
        values: list[int | float] = list(range(start, stop, step))
    else:
        values = [round(start + i * step, 12) for i in range(count)]
    if not values:
        raise ValueError(f"must give a non-empty grid; range({start}, {stop}, {step}) is empty")
    return values


_VALUES_SCHEMA = {"type": "array", "minItems": 1}
_BOUNDS_SCHEMA = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
PARAM_SCHEMA: dict[str, Any] = {  # what editors check a space entry against (_parse_param decides)
    "anyOf": [
        {**_VALUES_SCHEMA, "description": "a grid: every value is tried"},
        {
            "type": "object",
            "properties": {k: {"type": "number"} for k in ("start", "stop", "step")},
            "required": ["start", "stop"],
            "additionalProperties": False,
            "description": "a grid like range(start, stop, step)",
        },
        *(
            {
                "type": "object",
                "properties": {domain: _VALUES_SCHEMA if domain in ("grid", "choice") else _BOUNDS_SCHEMA},
                "required": [domain],
                "additionalProperties": False,
            }
            for domain in DOMAINS
        ),
    ]
}
Param = Annotated[Any, AfterValidator(_parse_param), WithJsonSchema(PARAM_SCHEMA)]
Name = Annotated[str, AfterValidator(_check_name)]
PositiveCpus = Annotated[float, Field(gt=0)]  # what editors accept for resources.num_cpus


class DataConfig(_Strict):
    """Where the rows come from: a built-in data set, or a CSV/Parquet path or URI.

    ``reader`` chooses who reads the rows and makes the split: ``ray_data`` (Ray Data reads
    them and takes each side's rows in the split's order), ``in_process`` (scikit-learn's
    loader or pyarrow, in the process that runs the experiment) or ``auto``: in process for
    a built-in data set and a local file (of any size: faster and leaner, measured in
    BENCHMARKS.md), Ray Data for a URI. Every reader gives the same split, row for row:
    ``train_test_split(test_size, random_state=seed)`` of the rows in file order.
    ``--dry-run`` says which reader a run uses and why.
    """

    source: str = "california_housing"
    """`california_housing` (built in), or a CSV/Parquet path or URI (`s3://...`): see `data.reader`."""
    target: str | None = Field(default=None, validate_default=True)
    """The target column (no missing values; class labels for a classifier); required for a file."""
    features: list[str] | None = Field(default=None, min_length=1)
    """The feature columns; default: every column but the target (which must not be one of them)."""
    reader: Literal["auto", "ray_data", "in_process"] = "auto"
    """Who reads and splits the rows: `ray_data`, `in_process` (this process) or `auto` (the reference)."""

    @property
    def builtin(self) -> bool:
        """Whether the source is a built-in data set."""
        return self.source in BUILTIN_DATASETS

    @property
    def target_column(self) -> str:
        """The target column: the given one, or the built-in data set's."""
        builtin = BUILTIN_DATASETS.get(self.source)
        return self.target or (builtin.target if builtin else "")

    @field_validator("target")
    @classmethod
    def _target_for_files(cls, target: str | None, info: ValidationInfo) -> str | None:
        """A file source must name its target column."""
        if not target and info.data.get("source", "") not in BUILTIN_DATASETS:
            raise ValueError("must name the target column when data.source is a file")
        return target

    @model_validator(mode="after")
    def _target_not_a_feature(self) -> DataConfig:
        """The target is not among the features (a model given the answer scores perfectly)."""
        features = self.features or []
        if self.target_column in features:
            raise keyed(
                "data.features",
                f"must not list the target column {self.target_column!r} (leakage: the model would be "
                f"given the answer); got {features}",
            )
        repeated = next((f for i, f in enumerate(features) if f in features[:i]), None)
        if repeated is not None:
            raise keyed("data.features", f"must name each column once; {repeated!r} is repeated")
        return self


class SplitConfig(_Strict):
    """The hold-out split: ``test_size`` of the rows, shuffled with ``seed``.

    ``seed`` defaults to the experiment's ``seed`` (`Experiment` fills it in: it is never
    None after validation).

    ``cv: k`` scores each trial by k-fold cross-validation on the training rows instead
    (mean and std per metric); the test rows stay held out for the refitted best model.

    ``repeats: N`` is repeated validation (Monte Carlo cross-validation, Ray's second
    tutorial): ALL the rows are split N times at random, ``test_size`` held out each time
    (scikit-learn's ``ShuffleSplit(N, test_size, random_state=seed)``; with ``cv: k``,
    ``RepeatedKFold(k, N)``: one score per fold of each repeat). A configuration's score is
    the mean over the splits, with its std and every split's score kept; there is no fixed
    hold-out, so the saved model is the best configuration fitted on all the rows and its
    stated score is that mean. See `tuning.trial.validation`.
    ``stratify`` (classifiers only): the split and the folds keep each class's share of
    the rows (``train_test_split(stratify=y)``, ``StratifiedKFold``).

    ``validation_size: f`` (hold-out only) carves ``f`` of the training rows as validation
    rows: the trials fit on the rest and are scored there, so selection never sees the test
    rows and the saved model's test score is untouched. Without it (and without cv or
    repeats) the trials are scored on the test rows: that score is a *validation* score.
    """

    test_size: float = Field(0.2, gt=0, lt=1)
    """The fraction of the rows held out as test rows."""
    seed: Seed | None = None
    """The shuffle's seed (0 to 2**32 - 1); default: the experiment's `seed`."""
    cv: int | None = Field(default=None, ge=2)
    """k: score each trial by k-fold cross-validation on the training rows (mean and std per metric)."""
    repeats: int | None = Field(default=None, ge=2, strict=True)
    """N: score on N random splits of all the rows (ShuffleSplit; with cv, RepeatedKFold); mean ± std."""
    stratify: bool = True
    """Classifiers: the split and the folds keep each class's share of the rows."""
    validation_size: float | None = Field(default=None, gt=0, lt=1)
    """Keep the test rows untouched: score the trials on this fraction of the training rows instead."""

    @model_validator(mode="after")
    def _one_strategy(self) -> SplitConfig:
        """A validation split is the hold-out's own selection rows: cv and repeats have theirs."""
        if self.validation_size is not None and (self.cv or self.repeats):
            other = "cv" if self.cv else "repeats"
            raise keyed(
                "split.validation_size",
                f"must be null with split.{other} (its splits are the selection rows: the test rows stay "
                f"untouched); got {self.validation_size}",
            )
        return self


class StepConfig(_Strict):
    """One step of a pipeline: a name, a class and the parameters that stay fixed."""

    name: str | None = None
    """The step's name in `step__param`; default: its class's name in lower case (as `make_pipeline`)."""
    class_path: str = Field(alias="class")
    """The step's import path: a transformer (`fit`, `transform`), or for the last step the model."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Parameters of this step that every trial uses as they are."""


class ModelConfig(_Strict):
    """One estimator: a class and its fixed parameters, or the steps of a pipeline."""

    class_path: str | None = Field(None, alias="class")
    """The estimator's import path: a scikit-learn-style class (`fit`, `predict`, `get_params`)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Parameters every trial uses as they are (checked against the estimator's own validation)."""
    steps: list[StepConfig] | None = Field(None, min_length=1)
    """A scikit-learn `Pipeline` instead of `class`: its steps in order, the last one the model."""


class BranchConfig(ModelConfig):
    """One branch of `estimator.choice`: an estimator (a class or steps) and its own space."""

    space: dict[str, Param] = Field(default_factory=dict)
    """This branch's searched parameters (`step__param` names for steps); empty: the branch as it is."""


class EstimatorConfig(ModelConfig):
    """The estimator: a class, the steps of a pipeline, or a choice between branches (one of the three).

    Without any of them it is `sklearn.ensemble.RandomForestRegressor`. A trial of a choice
    names its branch in its `estimator` parameter and the branch's parameters as `branch/param`.
    """

    choice: dict[str, BranchConfig] | None = Field(None, min_length=1)
    """Branches searched like a parameter, each with its own `space` (the top-level `space` stays empty)."""

    @model_validator(mode="after")
    def _one_kind(self) -> EstimatorConfig:
        """One of class, steps and choice; the default class when none is given."""
        given = [key for key in ("class", "steps", "choice") if getattr(self, _FIELD[key]) is not None]
        if len(given) > 1:
            raise keyed("estimator", f"must have one of class, steps or choice; got {' and '.join(given)}")
        if not given:
            self.class_path = DEFAULT_ESTIMATOR
        if self.params and self.class_path is None:
            raise keyed("estimator.params", "belongs to estimator.class; steps and branches have their own")
        return self


_FIELD = {"class": "class_path", "steps": "steps", "choice": "choice"}
DEFAULT_ESTIMATOR = "sklearn.ensemble.RandomForestRegressor"


class ResourcesConfig(_Strict):
    """What one trial reserves; ``num_gpus`` may be fractional (0.25: four per GPU).

    ``num_cpus: auto`` sizes trials to fill the machine (see `tuning.planning.plan.auto_cpus`),
    resolved when the cluster is known. A Tune trial and a task of the tasks runner reserve
    the same.
    """

    num_cpus: float | Literal["auto"] = 1.0
    """CPUs per trial, > 0 (the estimator's `n_jobs` follows it), or `auto`: fill the machine."""
    num_gpus: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0
    """GPUs per trial; a fraction shares one GPU (0.25: four trials per GPU), whole numbers above 1."""
    max_concurrent_trials: int | None = Field(default=None, gt=0)
    """The most trials Ray Tune (or the tasks runner) runs at once; default: as many as the cluster holds."""

    @field_validator("num_cpus", mode="plain", json_schema_input_type=PositiveCpus | Literal["auto"])
    @classmethod
    def _cpus_or_auto(cls, num_cpus: Any) -> float | str:
        """A positive finite number, or ``auto``."""
        if num_cpus == "auto":
            return num_cpus
        if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)):
            raise ValueError("must be a valid number")  # or 'auto'
        if not math.isfinite(num_cpus):
            raise ValueError("must be a finite number")
        if num_cpus <= 0:
            raise ValueError("must be greater than 0")
        return float(num_cpus)

    @field_validator("num_gpus")
    @classmethod
    def _whole_gpus_above_one(cls, num_gpus: float) -> float:
        """Fractions of one GPU, or whole GPUs."""
        if num_gpus > 1 and not float(num_gpus).is_integer():
            raise ValueError("must be a whole number when above 1 (fractions share one GPU)")
        return num_gpus


class BudgetConfig(_Strict):
    """A parameter grown in steps (``warm_start``): ``step``, ``2 * step``, ... up to ``max``."""

    param: str = "n_estimators"
    """The parameter grown in steps; the estimator needs `warm_start`, and the space must not search it."""
    max: int = Field(gt=0)
    """The last step's value: every trial that is not stopped ends there."""
    step: int = Field(gt=0)
    """The growth per step (`step`, `2 * step`, ..., `max`); at most `max`."""

    @model_validator(mode="after")
    def _step_fits(self) -> BudgetConfig:
        """The first step is within the budget."""
        if self.step > self.max:
            raise ValueError(f"must have step <= max; got step {self.step} > max {self.max}")
        return self

    @property
    def steps(self) -> tuple[int, ...]:
        """The budget after each step; the last one is always ``max``."""
        grown = list(range(self.step, self.max, self.step))
        return (*grown, self.max)


_DURATION_SCHEMA = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhd]?\s*$"},
    ]
}
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]


class StopConfig(_Strict):
    """When a search stops before its last trial: the first rule reached wins.

    A stopped search is complete: the summary says why, and which configurations never ran.
    The sequential runner checks between trials; Ray Tune through ``time_budget_s`` and a
    stopper (`tuning.stopping`). A failed trial counts as finished. The tasks runner (``runner:
    tasks`` or ``all``) has no stopper: it refuses these rules.
    """

    time: Duration | None = None
    """A time budget for the trials: `90s`, `20m`, `1h`, or seconds as a number."""
    trials: int | None = Field(default=None, gt=0, strict=True)
    """Stop after this many finished trials (a grid too)."""
    plateau: int | None = Field(default=None, gt=0, strict=True)
    """Stop when the best score has not improved for this many finished trials in a row."""
    target: float | None = Field(default=None, allow_inf_nan=False)
    """Stop once a trial's score reaches this value (at most for `min` metrics, at least for `max`)."""

    @property
    def active(self) -> bool:
        """Whether any rule is set."""
        return any(v is not None for v in (self.time, self.trials, self.plateau, self.target))


class SearchConfig(_Strict):
    """How the space is searched.

    ``grid`` (default): every grid point, ``num_samples`` draws of each random domain per
    point. ``random``: ``num_samples`` seeded draws from the whole space, grid lists
    sampled like ``choice``. ``optuna``: ``num_samples`` trials proposed by Optuna's TPE
    through Ray Tune (``pip install 'tuning[optuna]'``). ``scheduler: asha`` stops poor
    trials early; it needs a ``budget`` grown in steps. ``order: largest_first`` runs the
    configurations with the largest ``size_param`` first (longest trials first: none is left
    running alone at the end); both runners follow it. ``share_fits`` fits once per
    combination of the other parameters at the largest size and scores every smaller size
    from that fit, where the estimator's size parameter grows by exact prefixes (forests,
    boosting: `tuning.estimators.families`); ``auto`` shares where that is exact, ``true`` requires it.
    ``optuna`` and ``asha`` are Ray Tune's: the tasks runner (``runner: tasks`` or ``all``)
    refuses them.
    """

    algorithm: Literal["grid", "random", "optuna"] = "grid"
    """`grid`: every combination; `random`: seeded draws; `optuna`: Optuna's TPE (`tuning[optuna]` extra)."""
    num_samples: int | None = Field(default=None, gt=0)
    """`grid`: draws of each random domain per point (default 1); `random`, `optuna`: the trials (required)"""
    scheduler: Literal["asha", "none"] | None = None  # "none" (or null): every trial runs in full
    """`asha`: stop poor trials early (needs `search.budget`); `none` or null: every trial runs in full."""
    budget: BudgetConfig | None = None
    """A parameter grown in steps, each reported: needed by `asha`; without a scheduler, learning curves."""
    grace_period: int = Field(1, gt=0)
    """ASHA: steps every trial runs before it can be stopped (the first rung)."""
    reduction_factor: float = Field(3, gt=1, allow_inf_nan=False)
    """ASHA: rungs are this factor apart; a trial goes on when in the best 1/reduction_factor at its rung."""
    order: Literal["as_listed", "largest_first"] = "as_listed"
    """`largest_first`: the largest `size_param` first, so no long trial runs alone at the end."""
    size_param: str = "n_estimators"
    """What `largest_first` orders by: a numeric grid of the space."""
    share_fits: bool | Literal["auto"] = False
    """Fit once per group at the largest size and score every smaller one from it (`auto`: where exact)."""
    storage: str | None = None
    """Optuna: a storage URL (`sqlite:///study.db`) that keeps the study, to resume or open it."""
    study_name: str | None = None
    """Optuna: the study's name in `storage` (default: the experiment's name)."""
    stop: StopConfig = Field(default_factory=StopConfig)
    """Stop the search early: a `time` budget, a cap on `trials`, a `plateau`, a `target` score."""

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        """Fill ``num_samples`` for a grid; require what the algorithm and scheduler need."""
        if self.scheduler == "none":
            self.scheduler = None
        if self.num_samples is None:
            if self.algorithm != "grid":
                raise keyed("search.num_samples", f"is required when search.algorithm is {self.algorithm}")
            self.num_samples = 1
        if self.scheduler and self.budget is None:
            raise keyed(
                "search.budget",
                f"is required when search.scheduler is {self.scheduler} "
                "(e.g. {param: n_estimators, max: 64, step: 8})",
            )
        if self.storage is not None and self.algorithm != "optuna":
            raise keyed(
                "search.storage",
                f"is an Optuna storage: it needs search.algorithm optuna; got {self.algorithm!r}",
            )
        if self.algorithm == "optuna" and importlib.util.find_spec("optuna") is None:
            raise keyed(
                "search.algorithm",
                "needs Optuna for 'optuna', an optional extra: pip install 'tuning[optuna]'",
            )
        return self


class MlflowConfig(_Strict):
    """MLflow: one run per trial, nested under one run for the experiment, and the best model."""

    tracking_uri: str | None = None
    """Where MLflow keeps runs; default: MLflow's own (`MLFLOW_TRACKING_URI`, else ./mlruns)."""
    experiment_name: str | None = None
    """The MLflow experiment; default: the experiment's name."""


class WandbConfig(_Strict):
    """Weights & Biases: one run per trial, grouped by run directory."""

    project: str | None = None
    """The W&B project; default: the experiment's name."""
    entity: str | None = None
    """The W&B entity (user or team); default: W&B's own."""
    mode: Literal["online", "offline"] | None = None
    """`offline` writes run files only; default: W&B's own (`WANDB_MODE`, else online)."""


class TrackingConfig(_Strict):
    """Where the trials are also logged (optional extras: ``tuning[mlflow]``, ``tuning[wandb]``)."""

    mlflow: MlflowConfig | None = None
    """Log to MLflow (`pip install 'tuning[mlflow]'`)."""
    wandb: WandbConfig | None = None
    """Log to Weights & Biases (`pip install 'tuning[wandb]'`)."""

    @model_validator(mode="after")
    def _installed(self) -> TrackingConfig:
        """A tracker's package must be installed."""
        for name, package in (("mlflow", "mlflow"), ("wandb", "wandb")):
            if getattr(self, name) is not None and importlib.util.find_spec(package) is None:
                raise keyed(
                    f"tracking.{name}",
                    f"needs {package}, an optional extra: pip install 'tuning[{name}]'",
                )
        return self


SELECT_RULES = ("best", "one_se", "tolerance")
PER_SPLIT_RULES = ("one_se",)  # rules that need every configuration's per-split scores
Simpler = Literal["smallest", "largest"]


def _rule_shorthand(value: Any) -> Any:
    """``select: one_se`` is ``select: {rule: one_se}``."""
    return {"rule": value} if isinstance(value, str) else value


class SelectConfig(_Strict):
    """Which configuration becomes the saved model (`tuning.reports.selection`).

    ``best``: the best score (default). ``one_se``: the simplest configuration whose mean is
    within one standard error of the best's (caret's ``oneSE``; needs ``split.cv`` or
    ``split.repeats``). ``tolerance``: the simplest within ``tolerance`` (a fraction of the
    best score, caret's ``tolerance``). ``simplest`` orders the configurations from the
    simplest: each parameter's ``smallest`` or ``largest`` value first, in the order listed;
    default: the searched size parameters the project knows (`tuning.estimators.families`), smallest first.
    """

    rule: Literal["best", "one_se", "tolerance"] = "best"
    """`best`: the best score; `one_se`: the simplest within one standard error of it; `tolerance`."""
    tolerance: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """`tolerance`: how far from the best score, as a fraction of it (0.01: within 1%)."""
    simplest: dict[str, Simpler] | None = None
    """What "simplest" means: `{param: smallest}` (or `largest`), first listed first; default: sizes."""

    @model_validator(mode="after")
    def _tolerance_with_its_rule(self) -> SelectConfig:
        if (self.rule == "tolerance") != (self.tolerance is not None):
            raise keyed(
                "select.tolerance",
                f"must be set exactly when select.rule is tolerance; got rule {self.rule!r}, "
                f"tolerance {self.tolerance}",
            )
        return self


Select = Annotated[
    SelectConfig,
    BeforeValidator(_rule_shorthand, json_schema_input_type=Literal["best", "one_se"] | SelectConfig),
]


class Experiment(_Strict):
    """One experiment file."""

    name: Name
    """The run's folder under `storage_path`: 1-100 letters, digits, `.`, `_` or `-` (no `..`)."""
    seed: Seed = 0
    """Seeds the split's shuffle and the estimator's `random_state` (0 to 2**32 - 1)."""
    data: DataConfig = Field(default_factory=DataConfig)
    """Where the rows come from."""
    split: SplitConfig = Field(default_factory=SplitConfig)
    """How the rows are split into training and test rows."""
    estimator: EstimatorConfig = Field(default_factory=EstimatorConfig)
    """The estimator class and the parameters that stay fixed."""
    space: dict[str, Param] = Field(default_factory=dict)
    """One entry per searched parameter (a list, `{start, stop, step}`, a random domain); empty: evaluate."""
    search: SearchConfig = Field(default_factory=SearchConfig)
    """How the space is searched: algorithm, samples, early stopping, order."""
    metric: str | None = None  # a name of tuning.metrics; default: mse, or accuracy for a classifier
    """The metric trials are ranked on: mse, rmse, mae, r2 or any scikit-learn scorer name."""
    metrics: list[str] | None = None  # recorded beside metric; filled with tuning.metrics.recorded
    """More metrics recorded beside `metric` (default: mse, rmse, mae, r2 for a regressor)."""
    mode: Mode | None = None
    """The metric's direction: `min` for mse, rmse, mae; `max` for r2 and every scikit-learn scorer."""
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    """What one trial reserves."""
    runner: Literal["tune", "sequential", "tasks", "both", "all"] = TUNE  # tuning.runner_names.RUNNERS' keys
    """`tune`: Ray Tune; `tasks`: Ray Core tasks; `sequential`: one by one; `both`: it, tune; `all`: the 3."""
    storage_path: str = "results"
    """Where runs go: a local folder (created if missing), a shared mount, or `s3://bucket/prefix`."""
    address: str | None = None
    """The Ray cluster to join: `host:port` or `auto`; null: `RAY_ADDRESS` if set, else a new local Ray."""
    max_failures: int = Field(2, ge=0)
    """Retries of a failed trial: by Ray Tune (a dead worker, an exception), by tasks (a dead worker)."""
    refit: bool = True
    """Refit the best configuration on the training rows and save it (`best_model.joblib`)."""
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    """Where trials are logged besides the run directory: MLflow, Weights & Biases."""
    select: Select = Field(default_factory=SelectConfig)
    """Which configuration is saved: `best` (default), `one_se` or a `tolerance`, the simplest within it."""

    @model_validator(mode="after")
    def _defaults(self) -> Experiment:
        """Checks across sections, then the defaults that depend on other keys (mode, split seed)."""
        self._check_repeats()
        self._check_size()
        budget = self.search.budget
        if budget and (budget.param in self.space or budget.param in self.estimator.params):
            raise keyed(
                "search.budget.param",
                f"must not also be in space or estimator.params (the budget sets it); got {budget.param!r}",
            )
        if self.search.algorithm == "random":
            count = self.distinct_configs()
            if count is not None and self.search.num_samples > count:
                raise keyed(
                    "search.num_samples",
                    f"must be at most {count}, the number of distinct configurations "
                    f"of the space (random search draws without replacement; algorithm grid runs them "
                    f"all); got {self.search.num_samples}",
                )
        if self.search.algorithm == "optuna" and self.runner == SEQUENTIAL:
            raise keyed("runner", ADAPTIVE_RUNNER.removeprefix("runner "))
        self._fill_defaults()
        self._check_stop()
        self._check_select()
        return self

    def _fill_defaults(self) -> None:
        """The metric (by the estimator's task), the recorded metrics, the mode (the metric's own
        direction, after `_check_mode`) and the split's seed (the experiment's)."""
        task = task_of_class(self.final_class(next(iter(self.models().values()))))
        self.metric = self.metric or DEFAULT_METRIC[task]
        self.metrics = list(recorded(self.metric, self.metrics, task))
        self._check_mode()
        self.mode = self.mode or mode_of(self.metric)
        if self.split.seed is None:
            self.split.seed = self.seed

    def _check_select(self) -> None:
        """A rule on per-split scores needs cv or repeats; simplicity orders searched parameters."""
        select = self.select
        if select.rule != "best" and self.evaluation:
            raise keyed(
                "select.rule", f"must be best when there is no space to select from; got {select.rule!r}"
            )
        if select.rule in PER_SPLIT_RULES and not (self.split.cv or self.split.repeats):
            raise keyed(
                "select.rule",
                f"must be best or tolerance without split.cv or split.repeats ({select.rule} needs every "
                f"configuration's per-split scores); got {select.rule!r}",
            )
        searched = sorted(self.searched_keys())
        for name in select.simplest or {}:
            if name not in searched:
                raise keyed(
                    f"select.simplest.{name}",
                    f"must name a searched parameter (one of {', '.join(searched)}); got {name!r}",
                )

    def searched_keys(self) -> set[str]:
        """The searched parameters as a trial's configuration names them (``branch/param`` in a choice)."""
        if self.estimator.choice is None:
            return set(self.space)
        return {choice_key(name, param) for name, space in self.spaces().items() for param in space}

    def _check_mode(self) -> None:
        """A given mode is the metric's own direction (`tuning.metrics.mode_of`): another would
        keep the worst model (scikit-learn's ``neg_*`` scorers are greater-is-better)."""
        if self.mode is not None and self.mode != mode_of(self.metric):
            better = "lower" if mode_of(self.metric) == "min" else "higher"
            raise keyed(
                "mode",
                f"must be {mode_of(self.metric)} for metric {self.metric} ({better} is better; "
                f"or leave mode out); got {self.mode}",
            )

    def _check_stop(self) -> None:
        """A target the metric can reach, a plateau shorter than the search, no stop with repeats."""
        stop, search = self.search.stop, self.search
        if stop.active and self.split.repeats is not None:
            raise keyed(
                "search.stop",
                "must not be set with split.repeats (a configuration's repeats run as several trials)",
            )
        low, high = bounds(self.metric)
        if stop.target is not None and not low <= stop.target <= high:
            limit = f"at least {low:g}" if stop.target < low else f"at most {high:g}"
            raise keyed(
                "search.stop.target",
                f"must be a {self.metric} the search can reach ({limit}, in the direction {self.mode}); "
                f"got {stop.target:g}",
            )
        grid = self.distinct_configs() if search.algorithm == "grid" else 1
        planned = search.num_samples * grid if grid is not None else None
        if stop.plateau is not None and planned is not None and planned <= stop.plateau:
            raise keyed(
                "search.stop.plateau",
                f"must be less than the search's {planned} trials (it could never be reached); "
                f"got {stop.plateau}",
            )

    def _check_size(self) -> None:
        """At most `MAX_TRIALS` trials, counted before any is expanded (a plan of 10^9 would not fit
        in memory)."""
        search = self.search
        if search.algorithm != "grid":
            points = 1
        else:
            points = sum(grid_count(space) for space in self.spaces().values())
            if points > MAX_TRIALS:
                if self.estimator.choice is None:
                    raise keyed(
                        "space",
                        f"must expand to at most {MAX_TRIALS} trials; got {points} "
                        f"({grid_sizes(self.space)})",
                    )
                raise keyed("estimator.choice", f"must expand to at most {MAX_TRIALS} trials; got {points}")
        trials = search.num_samples * points
        if trials > MAX_TRIALS:
            how = f" ({search.num_samples} samples x {points} grid points)" if points > 1 else ""
            raise keyed("search.num_samples", f"must make at most {MAX_TRIALS} trials; got {trials}{how}")

    def _check_repeats(self) -> None:
        """A space to search, or repeats to evaluate one estimator; no split seed searched; no ASHA."""
        if SPLIT_SEED in self.space:
            raise keyed(
                f"space.{SPLIT_SEED}",
                f"must not be searched (the luckiest test split is not a better model); {REPEATS_HINT}",
            )
        if self.estimator.choice is not None and self.space:
            raise keyed(
                "space",
                "must be empty when estimator.choice is set: each branch has its own space "
                f"(estimator.choice.<name>.space); got {', '.join(self.space)}",
            )
        if self.evaluation and self.split.repeats is None:
            raise keyed(
                "space",
                "must have at least 1 parameter to search; got {} (or set split.repeats: N to "
                "evaluate the estimator as it is over N random splits)",
            )
        if self.split.repeats is not None and self.search.scheduler is not None:
            raise keyed(
                "search.scheduler",
                f"must be none with split.repeats (ASHA would stop a configuration on some of its "
                f"splits, not on their mean); got {self.search.scheduler!r}",
            )

    @property
    def evaluation(self) -> bool:
        """No space: the run evaluates one configuration (the estimator as it is), names no best."""
        return not self.space and self.estimator.choice is None

    def models(self) -> dict[str, ModelConfig]:
        """The estimators the trials build: the branches of a choice by name, else ``{"": estimator}``."""
        return dict(self.estimator.choice) if self.estimator.choice is not None else {"": self.estimator}

    def spaces(self) -> dict[str, dict[str, Any]]:
        """The space of each of `models`: a branch's own, else the experiment's."""
        if self.estimator.choice is None:
            return {"": self.space}
        return {name: branch.space for name, branch in self.estimator.choice.items()}

    def distinct_configs(self) -> int | None:
        """How many distinct configurations the search can run (None: a continuous domain)."""
        counts = [distinct_count(space) for space in self.spaces().values()]
        return None if None in counts else sum(counts)

    @staticmethod
    def final_class(model: ModelConfig) -> str:
        """The import path of a model's estimator: its class, or its last step's."""
        return model.steps[-1].class_path if model.steps else model.class_path or ""

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str | None) -> str | None:
        """A metric name of `tuning.metrics`, with the closest names if it is not one."""
        if metric is not None and (why := unknown(metric)):
            raise keyed("metric", why)
        return metric

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, metrics: list[str] | None) -> list[str] | None:
        """Metric names of `tuning.metrics`, each once."""
        for i, name in enumerate(metrics or []):
            if why := unknown(name):
                raise keyed(f"metrics.{i}", why)
            if name in metrics[:i]:
                raise keyed(f"metrics.{i}", f"must not repeat a metric; {name!r} is repeated")
        return metrics

    def resolved(self) -> dict[str, Any]:
        """The experiment with every default filled in, as saved beside the results."""
        return self.model_dump(mode="json", by_alias=True)
