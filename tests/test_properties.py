"""Properties that hold for every input of a kind, checked with Hypothesis: the space's
expansion, ``--set`` round trips, the plan's concurrency and order, errors naming their key.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import experiment_dict
from tuning.config import apply_override, validate
from tuning.config.schema import _parse_param
from tuning.errors import ExperimentError
from tuning.estimators.space import expand
from tuning.planning.cluster import Cluster
from tuning.planning.plan import make_plan

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TMP = Path("/nonexistent-results")  # never written: only validated

ints = st.integers(min_value=-50, max_value=50)


# --------------------------------------------------------------------------- ranges and grids


@FAST
@given(start=ints, stop=ints, step=st.integers(min_value=-7, max_value=7).filter(bool))
def test_an_integer_range_is_pythons_range_or_refused(start, stop, step):
    expected = list(range(start, stop, step))
    if expected:
        assert _parse_param({"start": start, "stop": stop, "step": step}) == {"grid": expected}
    else:
        with pytest.raises(ValueError, match="must give a non-empty grid"):
            _parse_param({"start": start, "stop": stop, "step": step})


@FAST
@given(
    start=st.floats(-10, 10, allow_nan=False).map(lambda x: round(x, 3)),
    width=st.floats(0.01, 10).map(lambda x: round(x, 3)),
    step=st.sampled_from([0.1, 0.25, 0.5, 1.5]),
)
def test_a_float_range_has_the_right_count_and_stays_in_bounds(start, width, step):
    stop = round(start + width, 3)
    grid = _parse_param({"start": start, "stop": stop, "step": step})["grid"]
    assert len(grid) == math.ceil(round((stop - start) / step, 9))
    assert all(start <= v < stop + 1e-9 for v in grid) and grid == sorted(grid)
    assert all(math.isclose(b - a, step, abs_tol=1e-9) for a, b in itertools.pairwise(grid))


space_lists = st.dictionaries(
    st.sampled_from(["n_estimators", "max_depth", "min_samples_leaf", "max_leaf_nodes"]),
    st.lists(st.integers(1, 40), min_size=1, max_size=4, unique=True),
    min_size=1,
    max_size=3,
)


@FAST
@given(space=space_lists, samples=st.integers(1, 3))
def test_a_grid_expands_to_every_combination_num_samples_times(space, samples):
    configs = expand({k: {"grid": v} for k, v in space.items()}, samples, seed=0)
    combos = [dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())]
    assert len(configs) == samples * len(combos)
    keyed = sorted(tuple(sorted(c.items())) for c in configs)
    assert keyed == sorted(tuple(sorted(c.items())) for c in combos * samples)


# --------------------------------------------------------------------------- --set


scalars = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: x != 0 or math.copysign(1, x) > 0),
    st.booleans(),
    st.text("abcxyz_", min_size=1, max_size=8).filter(lambda s: s not in ("y", "n")),
    st.lists(st.integers(0, 9), max_size=4),
)
paths = st.lists(st.text("abcdefgh_", min_size=1, max_size=6), min_size=1, max_size=4)


@FAST
@given(path=paths, value=scalars)
def test_set_puts_the_value_at_its_path(path, value):
    raw: dict = {"name": "x"}
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    changed = apply_override(raw, f"{'.'.join(path)}={text}")
    node = raw
    for part in path:
        node = node[part]
    assert node == value and changed == ".".join(path)


# --------------------------------------------------------------------------- the plan


nodes = st.lists(
    st.tuples(st.integers(1, 16).map(float), st.sampled_from([0.0, 0.0, 1.0, 2.0])), min_size=1, max_size=4
)
resources = st.fixed_dictionaries(
    {"num_cpus": st.sampled_from([0.5, 1, 2, 3, 4]), "num_gpus": st.sampled_from([0, 0, 0.25, 0.5, 1])},
    optional={"max_concurrent_trials": st.integers(1, 8)},
)


@FAST
@given(
    nodes=nodes,
    res=resources,
    sizes=st.lists(st.integers(1, 200), min_size=1, max_size=12, unique=True),
    order=st.sampled_from(["as_listed", "largest_first"]),
)
def test_the_plan_runs_what_fits_on_each_node_in_its_order(nodes, res, sizes, order):
    cluster = Cluster(
        "10.0.0.1:6379",
        len(nodes),
        sum(c for c, _ in nodes),
        sum(g for _, g in nodes),
        tuple(c for c, _ in nodes),
        tuple(g for _, g in nodes),
        started_here=False,
    )
    raw = experiment_dict(TMP, resources=res, space={"n_estimators": sizes}, search={"order": order})
    try:
        plan = make_plan(validate(raw), "tune", cluster)
    except ExperimentError as exc:  # no node holds one trial: refused, naming the resource
        assert str(exc).startswith("resources")
        return
    per_node = [
        min(int(c // res["num_cpus"]), int(g // res["num_gpus"] + 1e-9) if res["num_gpus"] else 10**9)
        for c, g in nodes
    ]
    expected = min(sum(per_node), len(sizes), res.get("max_concurrent_trials", 10**9))
    assert plan.slots == expected >= 1
    assert plan.waves == math.ceil(len(sizes) / expected)
    run_order = [c["n_estimators"] for c in plan.configs]
    assert run_order == (sorted(sizes, reverse=True) if order == "largest_first" else sizes)


# --------------------------------------------------------------------------- errors name their key


BAD_VALUES = {
    "resources.num_cpus": st.one_of(st.integers(-5, 0), st.just("many"), st.just(True)),
    "resources.num_gpus": st.one_of(st.floats(-5, -0.01), st.floats(1.01, 1.99)),
    "split.test_size": st.one_of(st.floats(1.0, 5.0), st.floats(-5.0, 0.0)),
    "search.num_samples": st.integers(-5, 0),
    "max_failures": st.integers(-5, -1),
    "seed": st.text("abc", min_size=1, max_size=3),
}


@FAST
@given(data=st.data(), key=st.sampled_from(sorted(BAD_VALUES)))
def test_an_error_always_names_its_key(data, key):
    value = data.draw(BAD_VALUES[key])
    raw = experiment_dict(TMP)
    apply_override(raw, f"{key}={yaml.safe_dump(value, default_flow_style=True).strip()}")
    with pytest.raises(ExperimentError) as caught:
        validate(raw)
    message = str(caught.value)
    assert message.startswith(f"<experiment>: {key} ") and "\n" not in message
