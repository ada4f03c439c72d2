"""The estimators trials build: one class, a pipeline of steps, or a choice between them.

A `Model` is one estimator as the experiment describes it: a class and its fixed
parameters, or the steps of a scikit-learn `Pipeline` (the last one the model), whose
searched parameters are scikit-learn's own ``step__param`` names (``Pipeline.set_params``).
A choice (``estimator.choice``) is one `Model` per branch: a trial's configuration names its
branch under `CHOICE_KEY` and the branch's parameters as ``branch/param`` (`branch_config`),
flat, as TensorBoard's HParams view and the tables show them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sklearn.base import clone
from sklearn.pipeline import Pipeline

from tuning.estimators.classes import ESTIMATOR, fixed_params, resolve_estimator

CANDIDATE_KEY = "candidate"  # an estimator object's trial: {"candidate": 3}, its place in the candidates
CHOICE_KEY = "estimator"  # a choice's trial: {"estimator": "forest", "forest/max_depth": 8}
SEP = "/"
PREPROCESS = "preprocess"  # the automatic step in front of the user's steps, when the data need it
TRANSFORMER = ("fit", "transform", "get_params")


@dataclass(frozen=True)
class Step:
    """One step: its name in ``step__param``, its import path and its fixed parameters."""

    name: str
    path: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Model:
    """One estimator: a class (one step, ``pipeline`` false) or a pipeline of steps."""

    steps: tuple[Step, ...]
    pipeline: bool = False

    @property
    def final(self) -> Step:
        """The model: the only step, or a pipeline's last."""
        return self.steps[-1]

    def build(self, config: dict[str, Any]):
        """The unfitted estimator of one configuration (``step__param`` names for a pipeline)."""
        if not self.pipeline:
            return resolve_estimator(self.final.path)(**{**self.final.params, **config})
        steps = [(s.name, resolve_estimator(s.path, TRANSFORMER)(**s.params)) for s in self.steps[:-1]]
        steps.append((self.final.name, resolve_estimator(self.final.path)(**self.final.params)))
        return Pipeline(steps).set_params(**config)

    def describe(self) -> str:
        """``RandomForestRegressor``, or a pipeline's steps: ``scale=StandardScaler > model=Ridge``."""
        if not self.pipeline:
            return short_name(self.final.path)
        return " > ".join(f"{s.name}={short_name(s.path)}" for s in self.steps)

    def fixed(self) -> dict[str, Any]:
        """The fixed parameters, by ``step__param`` names for a pipeline."""
        if not self.pipeline:
            return dict(self.final.params)
        return {f"{s.name}__{k}": v for s in self.steps for k, v in s.params.items()}

    def key(self, param: str) -> str:
        """The configuration key of the model's (last step's) parameter ``param``."""
        return f"{self.final.name}__{param}" if self.pipeline else param

    def final_part(self, config: dict[str, Any]) -> dict[str, Any]:
        """The parameters of ``config`` that belong to the model (the last step), by their own names."""
        if not self.pipeline:
            return dict(config)
        prefix = f"{self.final.name}__"
        return {k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)}


@dataclass(frozen=True)
class Prototype:
    """An estimator OBJECT and the parameters of its candidates (`tuning.searchcv.SearchCV`).

    A trial's configuration is ``{"candidate": i}``: the runners, Tune's files and the logs hold
    plain numbers, while a candidate's parameters may be any Python value (an estimator, a
    numpy number). Each fit builds a clone with the candidate's parameters (cloned too), as
    scikit-learn's searches do.
    """

    estimator: Any
    candidates: tuple[dict[str, Any], ...]

    def build(self, config: dict[str, Any]):
        """The unfitted clone of the estimator with candidate ``config[CANDIDATE_KEY]``'s parameters."""
        params = self.candidates[config[CANDIDATE_KEY]]
        return clone(self.estimator).set_params(**clone(params, safe=False))

    def describe(self) -> str:
        return type(self.estimator).__name__


def choice_key(branch: str, name: str) -> str:
    """A branch's parameter as a choice's trial names it (``forest/max_depth``): the one place."""
    return f"{branch}{SEP}{name}"


def short_name(path: str) -> str:
    """``RandomForestRegressor`` of ``sklearn.ensemble.RandomForestRegressor``."""
    return path.rsplit(".", 1)[-1]


def default_step_name(path: str) -> str:
    """A step's name when none is given: its class's name in lower case, as ``make_pipeline``."""
    return short_name(path).lower()


def step_params(searched: set[str], name: str) -> set[str]:
    """The parameters of step ``name`` among searched ``step__param`` names."""
    return {k.split("__", 1)[1] for k in searched if k.startswith(f"{name}__")}


def choice_config(branch: str, config: dict[str, Any]) -> dict[str, Any]:
    """A branch's configuration as a trial of the choice has it: ``{estimator: branch, branch/param: v}``."""
    return {CHOICE_KEY: branch, **{choice_key(branch, k): v for k, v in config.items()}}


def branch_config(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The branch a choice's trial runs and its own parameters (the inverse of `choice_config`)."""
    branch = config[CHOICE_KEY]
    prefix = f"{branch}{SEP}"
    return branch, {k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)}


ESTIMATOR_STEP = "estimator"  # a single class's step name behind the automatic preprocessing


def model_of(config: Any, searched: set[str], *, seed: int | None = None, n_jobs: int = 1) -> Model:
    """The `Model` of an estimator section or branch (``class`` and ``params``, or ``steps``).

    With ``seed``, each step's fixed parameters get the experiment's seed as ``random_state``
    and ``n_jobs`` threads where the class takes them and they are neither set nor among the
    ``searched`` names (`tuning.estimators.classes.fixed_params`).
    """
    if not config.steps:
        params = _filled(config.class_path, config.params, searched, seed, n_jobs)
        return Model((Step(ESTIMATOR_STEP, config.class_path, params),))
    steps = []
    for index, step in enumerate(config.steps):
        name = step.name or default_step_name(step.class_path)
        needs = ESTIMATOR if index == len(config.steps) - 1 else TRANSFORMER
        params = _filled(step.class_path, step.params, step_params(searched, name), seed, n_jobs, needs)
        steps.append(Step(name, step.class_path, params))
    return Model(tuple(steps), pipeline=True)


def _filled(
    path: str, params: dict, searched: set[str], seed: int | None, n_jobs: int, needs=ESTIMATOR
) -> dict[str, Any]:
    """A step's fixed parameters, with the seed and threads filled in (``seed`` None: as given)."""
    if seed is None:
        return dict(params)
    return fixed_params(resolve_estimator(path, needs), params, searched, seed=seed, n_jobs=n_jobs)


def with_final(model: Model, **params: Any) -> Model:
    """``model`` with ``params`` added to its last step's fixed parameters."""
    final = model.final
    return replace(model, steps=(*model.steps[:-1], replace(final, params={**final.params, **params})))


def without_final(model: Model, *names: str) -> Model:
    """``model`` without the fixed parameters ``names`` of its last step."""
    final = model.final
    params = {k: v for k, v in final.params.items() if k not in names}
    return replace(model, steps=(*model.steps[:-1], replace(final, params=params)))


def nested_choice(config: dict[str, Any]) -> dict[str, Any]:
    """A choice's trial as Ray Tune holds it: ``{estimator: forest, forest: {max_depth: 8}}``
    (Tune flattens it back to ``forest/max_depth`` for TensorBoard's HParams view)."""
    branch, own = branch_config(config)
    rest = {k: v for k, v in config.items() if not k.startswith(f"{branch}{SEP}")}
    return {**rest, **({branch: own} if own else {})}


def flat_choice(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration as the runners and reports hold it: a choice's branch parameters as
    ``branch/param`` (the inverse of `nested_choice`; any other configuration as it is)."""
    branch = config.get(CHOICE_KEY)
    own = config.get(branch) if isinstance(branch, str) else None
    if not isinstance(own, dict):
        return dict(config)
    rest = {k: v for k, v in config.items() if k != branch}
    return {**rest, **{choice_key(branch, k): v for k, v in own.items()}}
