"""The Python API: run an experiment from a file, a dict or an `Experiment`, on rows in memory.

    from tuning import run_experiment, load_result
    result = run_experiment("experiments/rf.yaml", overrides={"resources.num_cpus": 2})
    result = run_experiment(experiment, data=df, target="price")      # or data=(X, y)
    result.best_params, result.best_score, result.best_model, result.trials

Bad input raises `ExperimentError` with the one-line message the command prints (located
at the file's line, ``--set`` for an override, ``<dict>`` for a mapping). Nothing here
exits the process.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tuning._experiment import run_experiment as execute
from tuning.config import Experiment, apply_override, load_experiment, locate, validate
from tuning.console import say
from tuning.errors import ExperimentError
from tuning.estimators.classes import estimator_section
from tuning.reports.result import Result, result_of
from tuning.run_files import read_summary
from tuning.storage import is_uri
from tuning.trial.data import frame_of

DICT_SOURCE = "<dict>"  # where errors of an experiment given as a mapping are located
MEMORY_SOURCES = {"frame": "memory://DataFrame", "arrays": "memory://arrays"}  # data= in the saved file

__all__ = ["Result", "load_experiment", "load_result", "run_experiment"]


def run_experiment(
    experiment: str | Path | dict[str, Any] | Experiment,
    *,
    overrides: dict[str, Any] | None = None,
    data: Any = None,
    target: str | None = None,
    runner: str | None = None,
    estimator: Any = None,
    tracking: dict[str, Any] | None = None,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    echo=say,
) -> Result:
    """Run an experiment and return its `Result` (the run directory is written as by the command).

    ``overrides`` are ``--set`` changes by dotted key; ``data`` is a pandas DataFrame (its
    ``target`` column from the experiment's ``data.target`` or ``target=``) or ``(X, y)``
    arrays, and replaces the experiment's data source; ``estimator`` is an estimator object (or
    class, or `Pipeline`) that replaces the experiment's ``estimator`` section by its class and
    the parameters it sets (`tuning.estimators.classes.estimator_section`); ``tracking`` is the file's
    ``tracking`` section. A running Ray (a second call in a notebook) is joined, not restarted.
    """
    changes = {**(overrides or {}), **({"tracking": tracking} if tracking is not None else {})}
    if estimator is not None:
        changes["estimator"] = _section(estimator, "estimator=")
    rows, memory = None, {}
    if data is not None:
        rows, column = frame_of(data, target or _given_target(experiment, changes))
        kind = "frame" if hasattr(data, "columns") else "arrays"
        memory = {"data.source": MEMORY_SOURCES[kind], "data.target": column}
    settings = _resolve(experiment, changes, memory)
    source = str(experiment) if isinstance(experiment, str | Path) else None
    try:
        summary = execute(settings, runner, num_cpus=num_cpus, num_gpus=num_gpus, echo=echo, rows=rows)
    except ExperimentError as exc:
        raise _located(exc, source, [*changes, *memory]) from None
    return result_of(Path(summary["run_dir"]), summary)


def load_result(run_dir: str | Path) -> Result:
    """The `Result` of a finished run directory (its ``summary.json`` and best model)."""
    if is_uri(run_dir):
        raise ExperimentError("must be a local run directory (copy it down first)", where=str(run_dir))
    summary = read_summary(Path(run_dir))
    if summary is None:
        raise ExperimentError("has no summary.json: the run did not finish", where=str(run_dir))
    return result_of(Path(run_dir), summary)


def _given_target(experiment: Any, changes: dict[str, Any]) -> str | None:
    """``data.target`` as given (an override, the mapping, the file), before validation."""
    if "data.target" in changes:
        return changes["data.target"]
    if isinstance(experiment, Experiment):
        return experiment.data.target
    raw = experiment
    if isinstance(experiment, str | Path):
        try:
            raw = yaml.safe_load(Path(experiment).read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return None  # loading the file says what is wrong with it
    data = raw.get("data") if isinstance(raw, dict) else None
    return data.get("target") if isinstance(data, dict) else None


def _resolve(experiment: Any, changes: dict[str, Any], memory: dict[str, Any]) -> Experiment:
    """The validated experiment with ``changes`` (the user's) and ``memory`` (data=) applied."""
    sets = [f"{key}={json.dumps(value)}" for key, value in {**changes, **memory}.items()]
    if isinstance(experiment, str | Path):
        return load_experiment(experiment, sets)
    if isinstance(experiment, Experiment):
        raw = experiment.resolved()
    elif isinstance(experiment, dict):
        raw = copy.deepcopy(experiment)
        _objects_to_sections(raw)
    else:
        raise ExperimentError(
            f"must be a path, a dict or an Experiment; got {type(experiment).__name__}", where="experiment="
        )
    lines = {apply_override(raw, line): "--set" for line in sets}
    return validate(raw, source=DICT_SOURCE, lines=lines)


def _section(estimator: Any, where: str, key: str | None = None) -> dict[str, Any]:
    """`estimator_section` of an object, or `ExperimentError` located at ``where`` (and ``key``)."""
    try:
        return estimator_section(estimator)
    except ValueError as exc:
        raise ExperimentError(str(exc), where=where, key=key) from None


def _objects_to_sections(raw: dict[str, Any]) -> None:
    """An estimator object (or class) in a mapping, at ``estimator`` or ``estimator.class``: its section
    (the mapping's ``estimator.params`` win over the object's)."""
    given = raw.get("estimator")
    if given is not None and not isinstance(given, dict):
        raw["estimator"] = _section(given, DICT_SOURCE, "estimator")
    elif isinstance(given, dict) and given.get("class") is not None and not isinstance(given["class"], str):
        section = _section(given.pop("class"), DICT_SOURCE, "estimator.class")
        params = {**section.pop("params", {}), **given.pop("params", {})}
        given.update({**section, **({"params": params} if params else {})})


def _located(exc: ExperimentError, path: str | None, changed: list[str]) -> ExperimentError:
    """A run's error about a key, located as the command locates it (file:line or ``--set``)."""
    if exc.where or not exc.key:
        return exc
    key = exc.key
    if any(key == c or key.startswith(f"{c}.") or c.startswith(f"{key}.") for c in changed):
        where = "--set"
    else:
        where = locate(Path(path), key) if path else DICT_SOURCE
    return ExperimentError(str(exc).removeprefix(f"{key} "), where=where, key=key)
