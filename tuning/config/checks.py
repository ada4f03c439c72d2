"""The checks run after the schema: those that need the estimator class or the file system.

Each takes ``where``, which turns a dotted key into ``file:line`` (or ``--set``), and
raises `ExperimentError` naming that key.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from sklearn.pipeline import Pipeline

from tuning.config.schema import BUILTIN_DATASETS, Experiment, ModelConfig
from tuning.errors import ExperimentError
from tuning.estimators.classes import ESTIMATOR, default_params, resolve_estimator, task_of
from tuning.estimators.families import family_of
from tuning.estimators.models import (
    CHOICE_KEY,
    PREPROCESS,
    SEP,
    TRANSFORMER,
    choice_key,
    default_step_name,
    model_of,
    short_name,
)
from tuning.metrics import EXAMPLES, KINDS, METRICS
from tuning.values import is_number

Where = Callable[[str], str]

_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_RESERVED_STEPS = (PREPROCESS, "steps", "memory", "verbose", "transform_input")  # Pipeline's own names
_SKLEARN_MESSAGE = re.compile(r"parameter of \w+ must be (?P<rule>.*?)\. Got (?P<got>.*) instead")


def check_experiment(experiment: Experiment, where: Where) -> None:
    """Every check after the schema, in order: estimator, metrics, budget, data, search."""
    check_estimator(experiment, where)
    check_metrics(experiment, where)
    check_budget(experiment, where)
    check_local_data(experiment, where)
    check_search(experiment, where)
    check_share_fits(experiment, where)
    check_simplest(experiment, where)


class Site(NamedTuple):
    """One estimator to check: the experiment's, or a choice's branch, with the keys it is found at."""

    key: str  # ``estimator`` or ``estimator.choice.<branch>``
    config: ModelConfig
    space: dict[str, Any]
    space_key: str  # ``space`` or ``estimator.choice.<branch>.space``


def sites(experiment: Experiment) -> list[Site]:
    """The estimator, or each branch of its choice, with its space."""
    if experiment.estimator.choice is None:
        return [Site("estimator", experiment.estimator, experiment.space, "space")]
    return [
        Site(f"estimator.choice.{name}", branch, branch.space, f"estimator.choice.{name}.space")
        for name, branch in experiment.estimator.choice.items()
    ]


def check_estimator(experiment: Experiment, where: Where) -> None:
    """Raise `ExperimentError` if an estimator, a step, their params or the space's values are invalid."""
    if experiment.estimator.choice is not None:
        _check_branches(experiment, where)
    for site in sites(experiment):
        if site.config.steps:
            check_pipeline(site, where)
        else:
            cls = _resolve(site.config.class_path or "", f"{site.key}.class", where)
            params_key, space_prefix = f"{site.key}.params", f"{site.space_key}."
            _check_params(cls, site.config.params, site.space, params_key, space_prefix, where)
    if experiment.estimator.choice is not None:
        _check_tasks(experiment, where)


def _check_branches(experiment: Experiment, where: Where) -> None:
    """Each branch has a name fit for ``branch/param`` keys and one of class and steps."""
    for name, branch in (experiment.estimator.choice or {}).items():
        key = f"estimator.choice.{name}"
        if not _BRANCH.match(name) or name == CHOICE_KEY:
            raise ExperimentError(
                f"must be named with letters, digits, '_' or '-' (not {CHOICE_KEY!r}); got {name!r}",
                where=where(key),
                key=key,
            )
        if (branch.class_path is None) == (branch.steps is None):
            got = "both" if branch.steps else "neither"
            raise ExperimentError(f"must have one of class and steps; got {got}", where=where(key), key=key)
        if branch.params and branch.class_path is None:
            key = f"{key}.params"
            raise ExperimentError("belongs to class; each step has its own params", where=where(key), key=key)


def _check_tasks(experiment: Experiment, where: Where) -> None:
    """A choice's branches are all classifiers or all regressors."""
    tasks = {}
    for site in sites(experiment):
        path = Experiment.final_class(site.config)
        tasks[site.key] = (task_of(resolve_estimator(path)), short_name(path))
    first_key, (first_task, first_name) = next(iter(tasks.items()))
    for key, (task, name) in tasks.items():
        if task != first_task:
            raise ExperimentError(
                f"must be a {first_task} like {first_name} ({first_key}): a choice's branches are all "
                f"classifiers or all regressors; got {name}, a {task}",
                where=where(key),
                key=key,
            )


def _resolve(path: str, key: str, where: Where, needs: tuple[str, ...] = ESTIMATOR, hint: str = "") -> type:
    """The class at ``path``, buildable without arguments; `ExperimentError` at ``key`` if not."""
    try:
        cls = resolve_estimator(path, needs)
    except ValueError as exc:
        raise ExperimentError(f"{exc}{hint}; got {path!r}", where=where(key), key=key) from None
    try:
        default_params(cls)
    except TypeError as exc:  # e.g. Pipeline() needs its steps
        raise ExperimentError(
            f"must be an estimator class that can be built without arguments ({exc}); a pipeline "
            f"is written as its steps (estimator.steps); got {path!r}",
            where=where(key),
            key=key,
        ) from None
    return cls


def takes_more(cls: type) -> bool:
    """Whether the class takes parameters beyond its own (``**kwargs``, handed to its library:
    LightGBM's ``verbose``, XGBoost's ``max_cat_to_onehot``); its fit says if one is unknown."""
    init = inspect.signature(cls.__init__).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in init)


def _check_params(
    cls: type, fixed: dict[str, Any], space: dict[str, Any], params_key: str, space_prefix: str, where: Where
) -> None:
    """Fixed and searched parameters are the class's, with values its own validation accepts
    (a searched one's key is ``space_prefix`` and its name)."""
    valid = default_params(cls)
    named = [(f"{params_key}.{k}", k) for k in fixed] + [(f"{space_prefix}{k}", k) for k in space]
    for key, param in named:
        if param not in valid and not takes_more(cls):
            raise ExperimentError(
                f"is not a parameter of {cls.__name__}{_close(param, valid)}; "
                f"valid: {', '.join(sorted(valid))}",
                where=where(key),
                key=key,
            )
    _check_values(cls, fixed, params_key, where)
    for name, domain in space.items():
        for kind, values in domain.items():
            candidates = values if kind in ("grid", "choice") else values[:1]
            for value in candidates:
                _check_values(cls, {**fixed, name: value}, f"{space_prefix}{name}", where, only=name)


def _close(name: str, valid: Any) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_pipeline(site: Site, where: Where) -> None:
    """A pipeline's steps: transformers then a model, distinct names, valid ``step__param`` names."""
    steps = site.config.steps or []
    classes: dict[str, type] = {}
    for index, step in enumerate(steps):
        key = f"{site.key}.steps.{index}"
        last = index == len(steps) - 1
        hint = " (the last step is the model)" if last else " (a step before the last transforms the rows)"
        cls = _resolve(step.class_path, f"{key}.class", where, ESTIMATOR if last else TRANSFORMER, hint)
        name = step.name or default_step_name(step.class_path)
        name_key = f"{key}.name" if step.name else f"{key}.class"
        if name in classes or "__" in name or SEP in name or name in _RESERVED_STEPS:
            why = "another step has it" if name in classes else "names a step once, without '__' or '/'"
            raise ExperimentError(
                f"must give each step its own name ({why}; reserved: {', '.join(_RESERVED_STEPS)}); "
                f"got step name {name!r}",
                where=where(name_key),
                key=name_key,
            )
        classes[name] = cls
        own = {k.split("__", 1)[1]: v for k, v in site.space.items() if k.startswith(f"{name}__")}
        own = {k: v for k, v in own.items() if "__" not in k}  # a nested estimator's: checked by its name
        _check_params(cls, step.params, own, f"{key}.params", f"{site.space_key}.{name}__", where)
    _check_step_names(site, classes, where)


def _check_step_names(site: Site, classes: dict[str, type], where: Where) -> None:
    """Each searched name is ``step__param`` with a step of the pipeline and a parameter it has."""
    pipeline = Pipeline([(name, cls()) for name, cls in classes.items()])
    valid = {k for k in pipeline.get_params(deep=True) if "__" in k}
    for name in site.space:
        key = f"{site.space_key}.{name}"
        step = name.split("__", 1)[0]
        if "__" not in name or step not in classes:
            raise ExperimentError(
                f"must be a step__param name with a step among {', '.join(classes)} (scikit-learn's "
                f"Pipeline names){_close(name, valid)}; got {name!r}",
                where=where(key),
                key=key,
            )
        if name not in valid:
            raise ExperimentError(
                f"is not a parameter of step {step} ({classes[step].__name__}){_close(name, valid)}",
                where=where(key),
                key=key,
            )


def check_metrics(experiment: Experiment, where: Where) -> None:
    """Each recorded metric scores this kind of estimator, with a method every model has."""
    listed = {name: f"metrics.{i}" for i, name in enumerate(experiment.metrics or [])}
    for site in sites(experiment):
        model = model_of(site.config, set())
        cls = resolve_estimator(model.final.path)
        task = task_of(cls)
        estimator = cls(**model.final.params)
        for name in experiment.metrics or [experiment.metric]:
            metric = METRICS[name]
            key = "metric" if name == experiment.metric else listed[name]
            if metric.task != task:
                raise ExperimentError(
                    f"must be a {KINDS[task]} metric for {cls.__name__} (a {task}: "
                    f"{', '.join(EXAMPLES[task])}, ...); got {name!r}, a {KINDS[metric.task]} metric",
                    where=where(key),
                    key=key,
                )
            if not any(hasattr(estimator, method) for method in metric.needs):
                needs = " or ".join(metric.needs)
                raise ExperimentError(
                    f"must be a metric {cls.__name__} can give; got {name!r}, which needs {needs} "
                    f"({cls.__name__} has no {needs} with these {site.key}.params)",
                    where=where(key),
                    key=key,
                )


def _check_values(cls: type, params: dict[str, Any], key: str, where: Where, only: str | None = None) -> None:
    """Let the estimator's own parameter validation (scikit-learn >= 1.2) judge the values."""
    try:
        estimator = cls(**params)
        if hasattr(estimator, "_parameter_constraints"):  # scikit-learn's own estimators
            estimator._validate_params()
    except Exception as exc:  # the estimator's own error, whatever its type
        text = str(exc)
        match = _SKLEARN_MESSAGE.search(text)
        name = only or _named_param(text, params)
        full_key = key if only or name is None else f"{key}.{name}"
        if match:
            message = f"must be {match['rule']}; got {match['got']}"
        else:
            message = f"is rejected by {cls.__name__}: {text.splitlines()[0] if text else type(exc).__name__}"
        raise ExperimentError(message, where=where(full_key), key=full_key) from None


def _named_param(text: str, params: dict[str, Any]) -> str | None:
    """The parameter an estimator's error message names, if it is one of ``params``."""
    match = re.search(r"The '(\w+)' parameter", text)
    if match and match[1] in params:
        return match[1]
    return None


def check_budget(experiment: Experiment, where: Where) -> None:
    """The budget must be a parameter of every model, one that can grow (``warm_start``), and
    not searched in a branch's space."""
    budget = experiment.search.budget
    if budget is None:
        return
    for site in sites(experiment):
        cls = resolve_estimator(Experiment.final_class(site.config))
        valid = default_params(cls)
        branch = f" ({site.key}: a budget grows every branch's model)" if site.key != "estimator" else ""
        if budget.param not in valid:
            raise ExperimentError(
                f"must be a parameter of {cls.__name__}{branch}; got {budget.param!r}",
                where=where("search.budget.param"),
                key="search.budget.param",
            )
        if "warm_start" not in valid:
            raise ExperimentError(
                f"must belong to an estimator with warm_start (grown in steps); "
                f"{cls.__name__} has none{branch}",
                where=where("search.budget"),
                key="search.budget",
            )
        if model_of(site.config, set()).key(budget.param) in site.space:
            raise ExperimentError(
                f"must not also be in {site.space_key} (the budget sets it); got {budget.param!r}",
                where=where("search.budget.param"),
                key="search.budget.param",
            )


def check_search(experiment: Experiment, where: Where) -> None:
    """The ordering's size parameter must be a grid of numbers (in every branch's space)."""
    search = experiment.search
    if search.order != "largest_first":
        return
    for site in sites(experiment):
        grid = site.space.get(search.size_param, {}).get("grid")
        if not grid or not all(is_number(v) for v in grid):
            where_ = "space" if site.space_key == "space" else f"{site.space_key} (every branch's)"
            raise ExperimentError(
                f"must name a grid of numbers in {where_} when search.order is largest_first; "
                f"got {search.size_param!r}",
                where=where("search.size_param"),
                key="search.size_param",
            )


def check_local_data(experiment: Experiment, where: Where) -> None:
    """A data source that is neither built in nor a URI must be an existing CSV/Parquet file."""
    source = experiment.data.source
    if experiment.data.builtin or "://" in source:
        return
    try:
        mode = os.stat(source).st_mode
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.strerror or str(exc)
        raise ExperimentError(
            f"must be a built-in data set ({', '.join(BUILTIN_DATASETS)}) or an existing "
            f"CSV/Parquet file; got {source!r} ({reason})",
            where=where("data.source"),
            key="data.source",
        ) from None
    if not stat.S_ISREG(mode):  # a FIFO would block the reader forever
        raise ExperimentError(
            f"must be a regular CSV/Parquet file; {source!r} is {_file_kind(mode)}",
            where=where("data.source"),
            key="data.source",
        )
    if Path(source).suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ExperimentError(
            f"must end in .csv or .parquet; got {source!r}", where=where("data.source"), key="data.source"
        )
    linked = Path(source).resolve()
    if linked.suffix.lower() != Path(source).suffix.lower():  # e.g. rows.csv -> /etc/shadow: never read it
        raise ExperimentError(
            f"must be a CSV/Parquet file; {source!r} is a link to {str(linked)!r}, which is not one",
            where=where("data.source"),
            key="data.source",
        )


def _file_kind(mode: int) -> str:
    """What a path that is not a regular file is, for the message."""
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "not a regular file"


def why_not_share(experiment: Experiment) -> str | None:
    """Why the experiment's trials cannot share fits exactly (None: they can).

    Sharing needs a whole space known in advance, no budget, an estimator family whose
    size parameter grows by exact prefixes (`tuning.estimators.families`), that parameter in the
    space, and every other setting (fixed or searched) one that keeps the prefixes exact;
    for a choice, in every branch.
    """
    search = experiment.search
    if search.algorithm == "optuna":
        return "search.algorithm optuna proposes each configuration after the last one's score"
    if search.budget is not None:
        return "search.budget grows each trial step by step already"
    if experiment.split.repeats:
        return "split.repeats fits each configuration once per split (chunks of repeats are the trials)"
    for site in sites(experiment):
        if reason := _why_not_share_model(site, experiment.seed):
            return reason if site.key == "estimator" else f"{reason} (in {site.key})"
    return None


def _why_not_share_model(site: Site, seed: int) -> str | None:
    """Why one model's configurations cannot share fits (None: they can)."""
    model = model_of(site.config, set(site.space), seed=seed, n_jobs=1)
    cls = resolve_estimator(model.final.path)
    family = family_of(cls)
    if family is None:
        return f"{cls.__name__} has no size parameter that grows by exact prefixes (forests, boosting)"
    size = model.key(family.size_param)
    if size not in site.space:
        return f"the space does not vary {size}, the {family.name} size parameter"
    if any(kind not in ("grid", "choice") for kind in site.space[size]):
        return f"{site.space_key}.{size} must be a list of sizes (grid or choice) to share fits"
    params = {**default_params(cls), **model.final.params}
    listed = {
        name: [v for kind, vs in domain.items() if kind in ("grid", "choice") for v in vs]
        for name, domain in model.final_part(site.space).items()
        if name != family.size_param
    }
    params.update({name: values[0] for name, values in listed.items() if values})
    if reason := family.why_not(params):
        return reason
    for name, values in listed.items():
        for value in values:
            if reason := family.why_not({**params, name: value}):
                return f"{reason} ({site.space_key}.{model.key(name)} has {value!r})"
    return None


def check_share_fits(experiment: Experiment, where: Where) -> None:
    """``search.share_fits: true`` must be possible exactly; ``auto`` shares only where it is."""
    if experiment.search.share_fits is not True:
        return
    if reason := why_not_share(experiment):
        raise ExperimentError(
            f"must be false or auto here: fits cannot be shared exactly because {reason}",
            where=where("search.share_fits"),
            key="search.share_fits",
        )


def default_simplest(experiment: Experiment) -> dict[str, str]:
    """The searched size parameters the project knows (`tuning.estimators.families`), smallest first:
    ``n_estimators``, a pipeline's ``model__n_estimators``, a choice's ``forest/n_estimators``."""
    order = {}
    for site in sites(experiment):
        model = model_of(site.config, set(site.space), seed=experiment.seed, n_jobs=1)
        family = family_of(resolve_estimator(model.final.path))
        size = family and model.key(family.size_param)
        if size and size in site.space:
            branch = site.key.removeprefix("estimator.choice.")
            order[size if site.key == "estimator" else choice_key(branch, size)] = "smallest"
    return order


def check_simplest(experiment: Experiment, where: Where) -> None:
    """A rule that picks the simplest configuration knows what simplest means: the declared
    ``select.simplest``, else the default (`default_simplest`), filled in."""
    select = experiment.select
    if select.rule == "best" or select.simplest:
        return
    select.simplest = default_simplest(experiment)
    if not select.simplest:
        raise ExperimentError(
            f"must be set for select.rule {select.rule}: no searched parameter is a size the project knows "
            "(n_estimators of forests and boosting); e.g. select.simplest: {alpha: largest}",
            where=where("select.rule"),
            key="select.simplest",
        )
