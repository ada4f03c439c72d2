"""The experiment file: its schema, its loading and its error messages.

An experiment is a YAML file validated by the pydantic models below. Nothing here imports
Ray: validating a file is fast and is done before any cluster is touched. Errors name the
file, the line and the dotted key, as in ``rf.yaml:7: resources.num_cpus must be greater
than 0; got -1``.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tuning.errors import ExperimentError

BUILTIN_DATASETS = {"california_housing": "MedHouseVal"}
METRIC_MODES = {"mse": "min", "rmse": "min", "mae": "min", "r2": "max"}
DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")
ADAPTIVE_RUNNER = (
    "runner must be tune or both when search.algorithm is optuna (an adaptive search needs "
    "Tune; both replays Tune's configurations one after another); got 'sequential'"
)
SPLIT_SEED = "split.seed"  # a space key, not an estimator parameter: each trial re-splits with it
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_name(value: str) -> str:
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
        or not all(_is_number(v) for v in values)
        or not values[0] < values[1]
    ):
        raise ValueError(f"must be {{{domain}: [low, high]}} with numbers low < high")
    if domain == "loguniform" and values[0] <= 0:
        raise ValueError("must have low > 0 for loguniform")
    if domain == "randint" and not all(isinstance(v, int) for v in values):
        raise ValueError("must have integer bounds for randint: [low, high), high excluded")
    return {domain: values}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _range(start: Any, stop: Any, step: Any) -> list[int | float]:
    if not all(_is_number(v) for v in (start, stop, step)) or step == 0:
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
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class DataConfig(_Strict):
    """Where the rows come from: a built-in data set, or a CSV/Parquet path or URI."""

    source: str = "california_housing"
    target: str | None = Field(default=None, validate_default=True)
    features: list[str] | None = Field(default=None, min_length=1)

    @property
    def builtin(self) -> bool:
        return self.source in BUILTIN_DATASETS

    @property
    def target_column(self) -> str:
        return self.target or BUILTIN_DATASETS.get(self.source, "")

    @field_validator("target")
    @classmethod
    def _target_for_files(cls, target: str | None, info: ValidationInfo) -> str | None:
        if not target and info.data.get("source", "") not in BUILTIN_DATASETS:
            raise ValueError("must name the target column when data.source is a file")
        return target


class SplitConfig(_Strict):
    """The hold-out split: ``test_size`` of the rows, shuffled with ``seed``.

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

    ``num_cpus: auto`` sizes trials to fill the machine (see `tuning.space.auto_cpus`),
    resolved when the cluster is known.
    """

    num_cpus: float | Literal["auto"] = 1
    num_gpus: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0
    max_concurrent_trials: int | None = Field(default=None, gt=0)

    @field_validator("num_cpus", mode="plain")
    @classmethod
    def _cpus_or_auto(cls, num_cpus: Any) -> float | str:
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

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if self.scheduler == "none":
            self.scheduler = None
        if self.num_samples is None:
            if self.algorithm != "grid":
                raise ValueError(f"search.num_samples is required when search.algorithm is {self.algorithm}")
            self.num_samples = 1
        if self.scheduler and self.budget is None:
            raise ValueError(
                f"search.budget is required when search.scheduler is {self.scheduler} "
                "(e.g. {param: n_estimators, max: 64, step: 8})"
            )
        if self.algorithm == "optuna" and importlib.util.find_spec("optuna") is None:
            raise ValueError(
                "search.algorithm needs Optuna for 'optuna', an optional extra: pip install 'tuning[optuna]'"
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
    metric: Literal["mse", "rmse", "mae", "r2"] = "mse"
    mode: Literal["min", "max"] | None = None
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    runner: Literal["tune", "sequential", "both"] = "tune"
    storage_path: str = "results"
    address: str | None = None
    max_failures: int = Field(2, ge=0)
    refit: bool = True

    @model_validator(mode="after")
    def _defaults(self) -> Experiment:
        budget = self.search.budget
        if budget and (budget.param in self.space or budget.param in self.estimator.params):
            raise ValueError(
                f"search.budget.param must not also be in space or estimator.params (the budget "
                f"sets it); got {budget.param!r}"
            )
        if self.search.algorithm == "random":
            from tuning.space import distinct_count

            count = distinct_count(self.space)
            if count is not None and self.search.num_samples > count:
                raise ValueError(
                    f"search.num_samples must be at most {count}, the number of distinct configurations "
                    f"of the space (random search draws without replacement; algorithm grid runs them "
                    f"all); got {self.search.num_samples}"
                )
        if self.search.algorithm == "optuna" and self.runner == "sequential":
            raise ValueError(ADAPTIVE_RUNNER)
        if self.mode is None:
            self.mode = METRIC_MODES[self.metric]  # type: ignore[assignment]
        if self.split.seed is None:
            self.split.seed = self.seed
        return self

    @property
    def split_seed(self) -> int:
        return self.seed if self.split.seed is None else self.split.seed

    def resolved(self) -> dict[str, Any]:
        """The experiment with every default filled in, as saved beside the results."""
        return self.model_dump(mode="json", by_alias=True)


# --------------------------------------------------------------------------- loading


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Read, override and validate an experiment file; raise `ExperimentError` if bad."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ExperimentError("experiment file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"cannot read experiment file ({exc})", where=str(path)) from None
    try:
        raw = yaml.safe_load(text)
        lines = _key_lines(yaml.compose(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ExperimentError(f"invalid YAML: {problem}", where=where) from None
    except _DuplicateKey as dup:
        raise ExperimentError(
            "must appear once; it is repeated", where=f"{path}:{dup.line}", key=dup.key
        ) from None
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else type(raw).__name__
        raise ExperimentError(f"the top level must be a mapping of keys; got {got}", where=str(path))
    for override in overrides:
        key = _apply_override(raw, override)
        for known in [k for k in lines if k.startswith(f"{key}.")]:
            del lines[known]  # the file's lines under a replaced value no longer apply
        parts = key.split(".")
        for end in range(1, len(parts)):
            lines.setdefault(".".join(parts[:end]), "--set")  # mappings the override created
        lines[key] = "--set"
    return validate(raw, source=str(path), lines=lines)


def validate(
    raw: dict[str, Any], *, source: str = "<experiment>", lines: dict[str, Any] | None = None
) -> Experiment:
    """Validate a mapping as an `Experiment`, with the estimator and data checks."""
    lines = lines or {}
    try:
        experiment = Experiment.model_validate(raw)
    except ValidationError as exc:
        raise _to_experiment_error(exc, source, lines) from None
    from tuning.estimator import check_experiment_estimator

    check_experiment_estimator(experiment, where=lambda key: _where(source, lines, key))
    _check_budget(experiment, where=lambda key: _where(source, lines, key))
    _check_local_data(experiment, where=_where(source, lines, "data.source"))
    _check_search(experiment, lambda key: _where(source, lines, key))
    return experiment


def _check_budget(experiment: Experiment, where) -> None:
    """The budget must be a parameter of an estimator that can grow (``warm_start``)."""
    budget = experiment.search.budget
    if budget is None:
        return
    from tuning.estimator import default_params, resolve_estimator

    cls = resolve_estimator(experiment.estimator.class_path)
    valid = default_params(cls)
    if budget.param not in valid:
        raise ExperimentError(
            f"must be a parameter of {cls.__name__}; got {budget.param!r}",
            where=where("search.budget.param"),
            key="search.budget.param",
        )
    if "warm_start" not in valid:
        raise ExperimentError(
            f"must belong to an estimator with warm_start (grown in steps); {cls.__name__} has none",
            where=where("search.budget"),
            key="search.budget",
        )


def _check_search(experiment: Experiment, where: Callable[[str], str]) -> None:
    """The ordering's size parameter and a searched split seed must be integer/numeric grids."""
    search = experiment.search
    if search.order == "largest_first":
        grid = experiment.space.get(search.size_param, {}).get("grid")
        if not grid or not all(_is_number(v) for v in grid):
            raise ExperimentError(
                f"must name a grid of numbers in space when search.order is largest_first; "
                f"got {search.size_param!r}",
                where=where("search.size_param"),
                key="search.size_param",
            )
    domain = experiment.space.get(SPLIT_SEED)
    if domain is not None:
        ((kind, values),) = domain.items()
        if kind not in ("grid", "choice", "randint") or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
        ):
            raise ExperimentError(
                f"must be a grid, choice or randint of non-negative integers (one split seed per "
                f"trial); got {{{kind}: {values!r}}}",
                where=where(f"space.{SPLIT_SEED}"),
                key=f"space.{SPLIT_SEED}",
            )


def _check_local_data(experiment: Experiment, where: str) -> None:
    source = experiment.data.source
    if experiment.data.builtin or "://" in source:
        return
    if not Path(source).is_file():
        raise ExperimentError(
            f"must be a built-in data set ({', '.join(BUILTIN_DATASETS)}) or an existing "
            f"CSV/Parquet file; got {source!r} (no such file)",
            where=where,
            key="data.source",
        )
    if Path(source).suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ExperimentError(f"must end in .csv or .parquet; got {source!r}", where=where, key="data.source")


def _apply_override(raw: dict[str, Any], override: str) -> str:
    """Set ``KEY.PATH=VALUE`` (VALUE read as YAML) in the raw mapping; return the dotted key
    of what changed (for a list item, the list: errors about it are located at ``--set``).

    Missing mappings on the path are created (an unknown key is then reported by the
    schema, located at ``--set``); a list item is addressed by its index, as in
    ``space.n_estimators.0=5``.
    """
    changed = None
    key, sep, value = override.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not all(parts):
        raise ExperimentError(f"--set must be KEY.PATH=VALUE; got {override!r}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        raise ExperimentError(f"--set {key}: cannot parse value {value!r} as YAML") from None
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[:depth]) or "the experiment"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ExperimentError(
                    f"--set {key}: {here} is a list of {len(node)}; {part!r} must be an index "
                    f"from 0 to {len(node) - 1}"
                )
            index: Any = int(part)
            changed = changed or here
        elif isinstance(node, dict):
            index = part
            if not last and index not in node:
                node[index] = {}
        else:
            raise ExperimentError(f"--set {key}: {here} is {node!r}, not a mapping or a list")
        if last:
            node[index] = parsed
        else:
            node = node[index]
    return changed or key


# --------------------------------------------------------------------------- messages


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int):
        self.key, self.line = key, line


def _key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """Map each dotted key of a composed YAML document to its 1-based line."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            if key in lines:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            lines[key] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, f"{key}."))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[f"{prefix}{i}"] = item.start_mark.line + 1
            lines.update(_key_lines(item, f"{prefix}{i}."))
    return lines


def _where(source: str, lines: dict[str, Any], key: str) -> str:
    """``file:line`` of the deepest known prefix of ``key`` (``--set`` if an override set it
    or changed something inside it)."""
    if key and any(line == "--set" and known.startswith(f"{key}.") for known, line in lines.items()):
        return "--set"
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        line = lines.get(".".join(parts[:end]))
        if line == "--set":
            return "--set"
        if line:
            return f"{source}:{line}"
    return source


_MODELS: dict[str, type[BaseModel]] = {
    "": Experiment,
    "data": DataConfig,
    "split": SplitConfig,
    "estimator": EstimatorConfig,
    "resources": ResourcesConfig,
    "search": SearchConfig,
    "search.budget": BudgetConfig,
}


def _to_experiment_error(exc: ValidationError, source: str, lines: dict[str, Any]) -> ExperimentError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = ".".join(loc[:-1])
        model = _MODELS.get(parent)
        valid = [f.alias or n for n, f in model.model_fields.items()] if model else []
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"is not a known key{hint}; valid keys: {', '.join(valid)}"
    elif kind == "missing":
        message = "is required"
    else:
        text = err["msg"].removeprefix("Value error, ")
        text = re.sub(r"^(Input|Dictionary|List|String|Value) should ", "must ", text)
        text = re.sub(r" after validation, not \d+$", "", text)
        text = re.sub(r", (unable to parse|got) .*$", "", text)
        if kind == "literal_error":
            text = text.replace("must be ", "must be one of ", 1)
        keyed = _KEYED.match(text) if kind == "value_error" else None
        if keyed:  # a check across fields names its own key and value
            return ExperimentError(keyed["rest"], where=_where(source, lines, keyed["key"]), key=keyed["key"])
        message = f"{text}; got {err['input']!r}"
    return ExperimentError(message, where=_where(source, lines, key), key=key or None)


_KEYED = re.compile(r"^(?P<key>[a-z_]+(?:\.[a-z_]+)*) (?P<rest>(?:must|is|needs) .*)$", re.S)


def locate(path: Path, key: str) -> str:
    """``file:line`` of a dotted key, for errors found after the file was loaded."""
    try:
        lines = _key_lines(yaml.compose(path.read_text()))
    except (OSError, yaml.YAMLError, _DuplicateKey):
        lines = {}
    return _where(str(path), lines, key)
