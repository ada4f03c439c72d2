"""The search space in Ray Tune's terms, and its expansion into concrete trials.

Both runners use `expand`, which is Tune's own variant generation with the experiment's
seed, so the sequential baseline runs exactly the configurations Tune runs, in its order.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from tuning.estimators.models import CHOICE_KEY, choice_config, choice_key

MAX_TRIALS = 10_000  # the most trials a plan may hold: counted before any is expanded
# the most values of one parameter's list: Tune's variant generator copies every list for each
# variant (quadratic in a long list: 5,000 values took 150 s to expand)
MAX_VALUES = 1_000


def config_key(config: dict[str, Any]) -> str:
    """A configuration's identity across runners, runs and files."""
    return json.dumps(config, sort_keys=True, default=str)


def sampled(space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The space with grid lists turned into ``choice``: what random and Optuna search draw from."""
    return {
        name: {("choice" if kind == "grid" else kind): v for kind, v in d.items()}
        for name, d in space.items()
    }


def for_algorithm(space: dict[str, dict[str, Any]], algorithm: str = "grid") -> dict[str, dict[str, Any]]:
    """The space a search algorithm explores: as written for ``grid``, `sampled` otherwise."""
    return space if algorithm == "grid" else sampled(space)


def distinct_count(space: dict[str, dict[str, Any]]) -> int | None:
    """How many distinct configurations a space of lists has (None: it has a continuous domain)."""
    if not all(kind in ("grid", "choice") for domain in space.values() for kind in domain):
        return None
    return math.prod(len(values) for domain in space.values() for values in domain.values())


def grid_count(space: dict[str, dict[str, Any]]) -> int:
    """How many grid points a grid search of ``space`` walks per sample (its ``grid`` lists'
    product; choices and random domains are drawn once per point)."""
    return math.prod(
        len(values) for domain in space.values() for kind, values in domain.items() if kind == "grid"
    )


def grid_sizes(space: dict[str, dict[str, Any]]) -> str:
    """``1000 n_estimators x 10 max_depth``: what makes a grid search's product."""
    return " x ".join(
        f"{len(values)} {name}"
        for name, domain in space.items()
        for kind, values in domain.items()
        if kind == "grid"
    )


def distinct_sample(space: dict[str, dict[str, Any]], num_samples: int, seed: int) -> list[dict[str, Any]]:
    """``num_samples`` different configurations of a space of lists, drawn without replacement.

    As scikit-learn's ``ParameterSampler`` does when every parameter is a list: no
    configuration is run twice. Seeded with numpy's ``default_rng(seed)``.
    """
    names = list(space)
    values = [next(iter(space[name].values())) for name in names]
    total = math.prod(len(v) for v in values)
    picks = np.random.default_rng(seed).choice(total, size=min(num_samples, total), replace=False)
    configs = []
    for pick in picks.tolist():
        config = {}
        for name, options in zip(reversed(names), reversed(values), strict=True):
            pick, index = divmod(pick, len(options))
            config[name] = options[index]
        configs.append({name: config[name] for name in names})
    return configs


def to_tune(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Tune's ``param_space`` for a validated space (see `tuning.config`)."""
    from ray import tune  # Ray on first use: `import tuning` stays Ray-free

    makers = {
        "grid": tune.grid_search,
        "choice": tune.choice,
        "uniform": lambda bounds: tune.uniform(*bounds),
        "loguniform": lambda bounds: tune.loguniform(*bounds),
        "randint": lambda bounds: tune.randint(*bounds),
    }
    return {name: makers[kind](values) for name, domain in space.items() for kind, values in domain.items()}


def variant_generator(
    seed: int, points: list[dict[str, Any]] | None = None, max_concurrent: int | None = None
):
    """Tune's default search algorithm, seeded so random domains are reproducible.

    ``points``: configurations to run as they are (a random search of a space of lists).
    ``max_concurrent``: the cap on trials at once; Tune ignores ``TuneConfig.max_concurrent_trials``
    when it is given a generator instance, so the generator must carry it.
    """
    from ray.tune.search import BasicVariantGenerator  # Ray on first use: `import tuning` stays Ray-free

    return BasicVariantGenerator(
        random_state=seed, points_to_evaluate=points, max_concurrent=max_concurrent or 0
    )


def expand(
    space: dict[str, dict[str, Any]], num_samples: int, seed: int, algorithm: str = "grid"
) -> list[dict[str, Any]]:
    """The configurations Tune's seeded `variant_generator` yields, in the same order.

    ``algorithm`` ``random`` samples grid lists too (``num_samples`` draws in all); an
    adaptive algorithm (``optuna``) cannot be expanded in advance.
    """
    # Ray on first use: `import tuning` stays Ray-free
    from ray.tune.search.sample import _BackwardsCompatibleNumpyRng
    from ray.tune.search.variant_generator import generate_variants

    if algorithm not in ("grid", "random"):
        raise ValueError(f"an adaptive search ({algorithm}) proposes its configurations while it runs")
    if algorithm == "random" and distinct_count(space) is not None:
        return distinct_sample(space, num_samples, seed)  # Tune gets them as points_to_evaluate
    rng = _BackwardsCompatibleNumpyRng(seed)  # what BasicVariantGenerator does with an int
    param_space = to_tune(for_algorithm(space, algorithm))
    return [
        spec["config"]
        for _ in range(num_samples)
        for _, spec in generate_variants({"config": param_space}, random_state=rng)
    ]


def ordered(space: dict[str, dict[str, Any]], order: str, size_param: str) -> dict[str, dict[str, Any]]:
    """The space with ``order`` applied: ``largest_first`` sorts the size parameter's grid
    from its largest value, so the longest trials start first and none runs alone at the end
    (with several grids Tune nests them; the size parameter's values still go largest first).
    """
    if order != "largest_first":
        return space
    grid = sorted(space[size_param]["grid"], reverse=True)
    return {**space, size_param: {"grid": grid}}


def expand_choice(
    spaces: dict[str, dict[str, dict[str, Any]]], num_samples: int, seed: int, algorithm: str = "grid"
) -> list[dict[str, Any]]:
    """The configurations of a choice between branches, each with its own space (``branch/param``).

    ``grid``: like GridSearchCV's list of grids, every branch in turn, each expanded as `expand`
    expands a space. ``random``: scikit-learn's ``ParameterSampler`` over the list of the
    branches' spaces (seeded; a branch drawn, then its parameters; drawn without replacement
    when every domain is a list).
    """
    if algorithm == "grid":
        return [
            choice_config(branch, config)
            for branch, space in spaces.items()
            for config in expand(space, num_samples, seed, "grid")
        ]
    if algorithm != "random":
        raise ValueError(f"an adaptive search ({algorithm}) proposes its configurations while it runs")
    from sklearn.model_selection import ParameterSampler  # heavy: only a random search of a choice

    grids = [
        {CHOICE_KEY: [branch], **{choice_key(branch, name): _distribution(d) for name, d in space.items()}}
        for branch, space in spaces.items()
    ]
    drawn = ParameterSampler(grids, n_iter=num_samples, random_state=seed)
    return [
        {CHOICE_KEY: config[CHOICE_KEY], **{k: _plain(v) for k, v in config.items() if k != CHOICE_KEY}}
        for config in drawn
    ]


def suggest_choice(spaces: dict[str, dict[str, dict[str, Any]]], trial: Any) -> None:
    """Optuna's define-by-run space of a choice: the branch, then only that branch's parameters
    (``branch/param``), so each branch's parameters are conditional on it."""
    branch = trial.suggest_categorical(CHOICE_KEY, list(spaces))
    for name, domain in spaces[branch].items():
        ((kind, values),) = domain.items()
        key = choice_key(branch, name)
        if kind in ("grid", "choice"):
            trial.suggest_categorical(key, values)
        elif kind == "randint":
            trial.suggest_int(key, values[0], values[1] - 1)  # randint's high is excluded
        else:
            trial.suggest_float(key, values[0], values[1], log=kind == "loguniform")


def _distribution(domain: dict[str, Any]):
    """A space entry as ``ParameterSampler`` draws it: a list, or a scipy.stats distribution."""
    from scipy import stats  # heavy; a dependency of scikit-learn

    ((kind, values),) = domain.items()
    if kind in ("grid", "choice"):
        return list(values)
    low, high = values
    return {
        "uniform": lambda: stats.uniform(low, high - low),
        "loguniform": lambda: stats.loguniform(low, high),
        "randint": lambda: stats.randint(low, high),
    }[kind]()


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (configurations are JSON)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict, str)) else value
