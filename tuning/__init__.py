"""tuning: hyperparameter search for scikit-learn estimators on Ray Data + Ray Tune.

Importing the package is cheap: it never imports Ray. Ray is imported by the modules
that run things (``tuning.data``, ``tuning.runners``), only when they are used.
"""

from tuning.config import Experiment, load_experiment
from tuning.errors import ExperimentError

__all__ = ["Experiment", "ExperimentError", "load_experiment"]
__version__ = "0.1.0"
