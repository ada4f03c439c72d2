"""The experiment file: its schema, its loading and its error messages.

An experiment is a YAML file validated by the pydantic models of `tuning.config.schema`,
then by the checks of `tuning.config.checks`; `tuning.config.loading` reads the file,
applies ``--set`` overrides (`tuning.config.overrides`) and names the file, line and key
of any error. Nothing here imports Ray: validating a file is fast and is done before any
cluster is touched.
"""

from tuning.config.checks import why_not_share
from tuning.config.loading import load_experiment, locate, validate
from tuning.config.overrides import apply_override
from tuning.config.schema import (
    ADAPTIVE_RUNNER,
    BUILTIN_DATASETS,
    DOMAINS,
    SPLIT_SEED,
    BudgetConfig,
    DataConfig,
    EstimatorConfig,
    Experiment,
    ResourcesConfig,
    SearchConfig,
    SplitConfig,
)
from tuning.runner_names import RUNNERS

__all__ = [
    "ADAPTIVE_RUNNER",
    "BUILTIN_DATASETS",
    "DOMAINS",
    "RUNNERS",
    "SPLIT_SEED",
    "BudgetConfig",
    "DataConfig",
    "EstimatorConfig",
    "Experiment",
    "ResourcesConfig",
    "SearchConfig",
    "SplitConfig",
    "apply_override",
    "load_experiment",
    "locate",
    "validate",
    "why_not_share",
]
