"""The experiment schema: pydantic models and the parsing of search-space entries.

Validation here is structural: types, ranges and checks across fields of one model. The
checks that need the estimator or the file system are in `tuning.config.checks`.
"""

from __future__ import annotations

import importlib.util
import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tuning.metrics import NAMES, Mode, mode_of
from tuning.space import distinct_count
from tuning.values import is_number

BUILTIN_DATASETS = {"california_housing": "MedHouseVal"}
DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")
ADAPTIVE_RUNNER = (
    "runner must be tune or both when search.algorithm is optuna (an adaptive search needs "
    "Tune; both replays Tune's configurations one after another); got 'sequential'"
)
SPLIT_SEED = "split.seed"  # a space key, not an estimator parameter: each trial re-splits with it
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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
    if all(isinstance(v, int) for v in (start, stop, step)):
        values: list[int | float] = list(range(start, stop, step))
    else:
        count = math.ceil(round((stop - start) / step, 9))  # 0.3 / 0.1 is 3.0000000000000004
        values = [round(start + i * step, 12) for i in range(max(count, 0))]
    if not values:
        raise ValueError(f"must give a non-empty grid; range({start}, {stop}, {step}) is empty")
    return values


Param = Annotated[Any, AfterValidator(_parse_param)]
Name = Annotated[str, AfterValidator(_check_name)]


class DataConfig(_Strict):
    """Where the rows come from: a built-in data set, or a CSV/Parquet path or URI."""

    source: str = "california_housing"
    target: str | None = Field(default=None, validate_default=True)
    features: list[str] | None = Field(default=None, min_length=1)

    @property
    def builtin(self) -> bool:
        """Whether the source is a built-in data set."""
        return self.source in BUILTIN_DATASETS

    @property
    def target_column(self) -> str:
        """The target column: the given one, or the built-in data set's."""
        return self.target or BUILTIN_DATASETS.get(self.source, "")

    @field_validator("target")
    @classmethod
    def _target_for_files(cls, target: str | None, info: ValidationInfo) -> str | None:
        """A file source must name its target column."""
        if not target and info.data.get("source", "") not in BUILTIN_DATASETS:
            raise ValueError("must name the target column when data.source is a file")
        return target


class SplitConfig(_Strict):
    """The hold-out split: ``test_size`` of the rows, shuffled with ``seed``.

    ``seed`` defaults to the experiment's ``seed`` (`Experiment` fills it in: it is never
    None after validation).

    ``cv: k`` scores each trial by k-fold cross-validation on the training rows instead
    (mean and std per metric); the test rows stay held out for the refitted best model.
    """

    test_size: float = Field(0.2, gt=0, lt=1)
    seed: int | None = None
    cv: int | None = Field(default=None, ge=2)


class EstimatorConfig(_Strict):
    """The estimator's import path and the parameters that stay fixed."""

    class_path: str = Field("sklearn.ensemble.RandomForestRegressor", alias="class")
    params: dict[str, Any] = Field(default_factory=dict)


class ResourcesConfig(_Strict):
    """What one trial reserves; ``num_gpus`` may be fractional (0.25: four per GPU).

    ``num_cpus: auto`` sizes trials to fill the machine (see `tuning.plan.auto_cpus`),
    resolved when the cluster is known.
    """

    num_cpus: float | Literal["auto"] = 1.0
    num_gpus: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0
    max_concurrent_trials: int | None = Field(default=None, gt=0)

    @field_validator("num_cpus", mode="plain")
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
    max: int = Field(gt=0)
    step: int = Field(gt=0)

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


class SearchConfig(_Strict):
    """How the space is searched.

    ``grid`` (default): every grid point, ``num_samples`` draws of each random domain per
    point. ``random``: ``num_samples`` seeded draws from the whole space, grid lists
    sampled like ``choice``. ``optuna``: ``num_samples`` trials proposed by Optuna's TPE
    through Ray Tune (``pip install 'tuning[optuna]'``). ``scheduler: asha`` stops poor
    trials early; it needs a ``budget`` grown in steps. ``order: largest_first`` runs the
    configurations with the largest ``size_param`` first (longest trials first: none is left
    running alone at the end); both runners follow it.
    """

    algorithm: Literal["grid", "random", "optuna"] = "grid"
    num_samples: int | None = Field(default=None, gt=0)
    scheduler: Literal["asha", "none"] | None = None  # "none" (or null): every trial runs in full
    budget: BudgetConfig | None = None
    grace_period: int = Field(1, gt=0)
    reduction_factor: float = Field(3, gt=1, allow_inf_nan=False)
    order: Literal["as_listed", "largest_first"] = "as_listed"
    size_param: str = "n_estimators"
    storage: str | None = None  # an Optuna storage URL (sqlite:///study.db): the study is kept there
    study_name: str | None = None  # the study in ``storage`` (default: the experiment's name)

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

    tracking_uri: str | None = None  # default: MLflow's own (MLFLOW_TRACKING_URI, else ./mlruns)
    experiment_name: str | None = None  # default: the experiment's name


class WandbConfig(_Strict):
    """Weights & Biases: one run per trial, grouped by run directory."""

    project: str | None = None  # default: the experiment's name
    entity: str | None = None
    mode: Literal["online", "offline"] | None = None  # default: W&B's own (WANDB_MODE, else online)


class TrackingConfig(_Strict):
    """Where the trials are also logged (optional extras: ``tuning[mlflow]``, ``tuning[wandb]``)."""

    mlflow: MlflowConfig | None = None
    wandb: WandbConfig | None = None

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


class Experiment(_Strict):
    """One experiment file."""

    name: Name
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    estimator: EstimatorConfig = Field(default_factory=EstimatorConfig)
    space: dict[str, Param] = Field(min_length=1)
    search: SearchConfig = Field(default_factory=SearchConfig)
    metric: Literal[NAMES] = "mse"  # type: ignore[valid-type]  # the names of tuning.metrics
    mode: Mode | None = None
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    runner: Literal["tune", "sequential", "both"] = "tune"
    storage_path: str = "results"
    address: str | None = None
    max_failures: int = Field(2, ge=0)
    refit: bool = True
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @model_validator(mode="after")
    def _defaults(self) -> Experiment:
        """Checks across sections, then the defaults that depend on other keys (mode, split seed)."""
        budget = self.search.budget
        if budget and (budget.param in self.space or budget.param in self.estimator.params):
            raise keyed(
                "search.budget.param",
                f"must not also be in space or estimator.params (the budget sets it); got {budget.param!r}",
            )
        if self.search.algorithm == "random":
            count = distinct_count(self.space)
            if count is not None and self.search.num_samples > count:
                raise keyed(
                    "search.num_samples",
                    f"must be at most {count}, the number of distinct configurations "
                    f"of the space (random search draws without replacement; algorithm grid runs them "
                    f"all); got {self.search.num_samples}",
                )
        if self.search.algorithm == "optuna" and self.runner == "sequential":
            raise keyed("runner", ADAPTIVE_RUNNER.removeprefix("runner "))
        if self.mode is None:
            self.mode = mode_of(self.metric)
        if self.split.seed is None:
            self.split.seed = self.seed
        return self

    def resolved(self) -> dict[str, Any]:
        """The experiment with every default filled in, as saved beside the results."""
        return self.model_dump(mode="json", by_alias=True)
