"""tuning: hyperparameter search for scikit-learn estimators on Ray Data + Ray Tune.

Importing the package is cheap: it never imports Ray. Ray is imported by the modules
that run things (``tuning.trial.data``, ``tuning.runners``), only when they are used; the API's
``run_experiment``, ``load_result`` and ``Result`` are imported on first use (PEP 562), and
so is ``SearchCV`` (`tuning.searchcv`: a scikit-learn-shaped search; Ray when it fits).
"""

from typing import Any

from tuning.config import Experiment, load_experiment
from tuning.errors import ExperimentError

__all__ = [
    "Experiment",
    "ExperimentError",
    "Result",
    "SearchCV",
    "load_experiment",
    "load_result",
    "run_experiment",
]
__version__ = "0.1.0"

_API = ("Result", "load_result", "run_experiment")  # in tuning.api: importing it loads pandas and more


def __getattr__(name: str) -> Any:
    if name in _API:
        from tuning import api  # heavy: on first use only

        return getattr(api, name)
    if name == "SearchCV":
        from tuning.searchcv import SearchCV  # heavy: scikit-learn's searches, on first use only

        return SearchCV
    raise AttributeError(f"module 'tuning' has no attribute {name!r}")
