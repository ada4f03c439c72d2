"""Estimator OBJECTS where an experiment names a class: ``run_experiment(estimator=...)`` and a
mapping's ``estimator``, written as their class and the parameters they set."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from sklearn.datasets import make_classification
from sklearn.ensemble import BaggingRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.conftest import experiment_dict
from tuning import ExperimentError, run_experiment
from tuning.api import _resolve
from tuning.estimators.classes import estimator_section


class Local(Ridge):
    """A class of this test module (importable as ``tests.test_estimator_objects.Local``)."""


Local.__module__ = "__main__"  # as a class defined in a notebook is


@pytest.mark.parametrize(
    "estimator, section",
    [
        pytest.param(
            RandomForestRegressor(max_depth=4),
            {"class": "sklearn.ensemble.RandomForestRegressor", "params": {"max_depth": 4}},
            id="object",
        ),
        pytest.param(RandomForestRegressor, {"class": "sklearn.ensemble.RandomForestRegressor"}, id="class"),
        pytest.param(
            Ridge(alpha=np.float64(0.5)),
            {"class": "sklearn.linear_model.Ridge", "params": {"alpha": 0.5}},
            id="numpy-number",
        ),
        pytest.param(
            MLPRegressor(hidden_layer_sizes=(5,)),
            {"class": "sklearn.neural_network.MLPRegressor", "params": {"hidden_layer_sizes": [5]}},
            id="tuple",
        ),
        pytest.param(
            make_pipeline(StandardScaler(), LogisticRegression(C=2.0)),
            {
                "steps": [
                    {"name": "standardscaler", "class": "sklearn.preprocessing.StandardScaler"},
                    {
                        "name": "logisticregression",
                        "class": "sklearn.linear_model.LogisticRegression",
                        "params": {"C": 2.0},
                    },
                ]
            },
            id="pipeline",
        ),
    ],
)
def test_an_object_is_its_class_and_the_parameters_it_sets(estimator, section):
    assert estimator_section(estimator) == section
    assert type(estimator_section(estimator).get("params", {}).get("alpha", 0.0)) is float


@pytest.mark.parametrize(
    "estimator, expected",
    [
        pytest.param(
            BaggingRegressor(Ridge()),
            r"^estimator=: must have plain parameter values .*; got estimator=Ridge\(\) \(use tuning",
            id="object-valued-parameter",
        ),
        pytest.param(
            Local(), r"^estimator=: must be a class importable by Ray's workers; Local is", id="main"
        ),
        pytest.param(42, r"^estimator=: must be an estimator \(with get_params\)", id="not-an-estimator"),
    ],
)
def test_objects_that_cannot_be_written_are_refused_in_one_line(tmp_path, estimator, expected):
    with pytest.raises(ExperimentError, match=expected):
        run_experiment(experiment_dict(tmp_path), estimator=estimator)
    assert not (tmp_path / "results").exists()


def test_an_object_in_a_mapping_is_validated_like_its_section(tmp_path):
    as_object = _resolve(experiment_dict(tmp_path, estimator=RandomForestRegressor(max_depth=3)), {}, {})
    assert as_object.estimator.class_path == "sklearn.ensemble.RandomForestRegressor"
    assert as_object.estimator.params == {"max_depth": 3}
    in_class = experiment_dict(
        tmp_path, estimator={"class": RandomForestRegressor(max_depth=3), "params": {}}
    )
    in_class["estimator"]["params"] = {"max_depth": 5, "min_samples_leaf": 2}  # the mapping's win
    resolved = _resolve(in_class, {}, {})
    assert resolved.estimator.params == {"max_depth": 5, "min_samples_leaf": 2}
    with pytest.raises(ExperimentError, match=r"^<dict>: estimator must have plain parameter values"):
        _resolve(experiment_dict(tmp_path, estimator=BaggingRegressor(Ridge())), {}, {})


@pytest.mark.slow
def test_run_experiment_with_an_estimator_object(tmp_path, ray_session):
    X, y = make_classification(120, 4, random_state=0)
    result = run_experiment(
        experiment_dict(tmp_path, space={"n_estimators": [2, 4]}),
        data=(X, y),
        estimator=RandomForestClassifier(max_depth=2),
        runner="sequential",
    )
    saved = yaml.safe_load((result.run_dir / "experiment.yaml").read_text())
    assert saved["estimator"]["class"] == "sklearn.ensemble.RandomForestClassifier"
    assert saved["estimator"]["params"] == {"max_depth": 2}
    assert isinstance(result.best_model, RandomForestClassifier) and result.best_model.max_depth == 2
    assert result.summary["metric"] == "accuracy"
