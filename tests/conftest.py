"""Shared fixtures: the data cache, one Ray session per test worker, small experiments."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import Phase, settings

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "scikit_learn_data"
if "SCIKIT_LEARN_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["SCIKIT_LEARN_DATA"] = str(SHARED_DATA)


# Hypothesis draws new examples on every run locally; in CI (the CI variable set) the same ones,
# so a red build is reproducible and never depends on the draw.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
# Under mutmut (it sets MUTANT_UNDER_TEST) a failing example is enough: no shrinking, which can
# take minutes per mutant; the examples are CI's.
settings.register_profile(
    "mutation", parent=settings.get_profile("ci"), phases=[Phase.explicit, Phase.generate]
)
PROFILE = "mutation" if os.environ.get("MUTANT_UNDER_TEST") else "ci" if os.environ.get("CI") else "dev"
settings.load_profile(PROFILE)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for each pytest-xdist worker, shared by every slow test it runs: 4 logical
    CPUs and 1 logical GPU (CI has none). The CLI tests start their own, as a user's run does."""
    import ray

    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def housing_split(ray_session):
    """The tutorial's split of California housing, read through Ray Data once."""
    from tuning.config import DataConfig, SplitConfig
    from tuning.trial.data import load_split

    return load_split(DataConfig(), SplitConfig(test_size=0.2), seed=201)


def experiment_dict(tmp_path: Path, **changes) -> dict:
    """A small valid experiment as a mapping; ``changes`` replace top-level keys."""
    raw = {
        "name": "small",
        "seed": 201,
        "estimator": {"class": "sklearn.ensemble.RandomForestRegressor", "params": {"max_depth": 6}},
        "space": {"n_estimators": [4, 8, 12]},
        "resources": {"num_cpus": 1},
        "storage_path": str(tmp_path / "results"),
    }
    raw.update(changes)
    return raw


@pytest.fixture
def grower_log() -> list[tuple]:
    """`tests.units.Grower`'s log of fits and predictions, empty at the start of the test."""
    from tests.units import Grower

    Grower.log.clear()
    return Grower.log
