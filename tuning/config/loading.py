"""Reading an experiment file: YAML, ``--set`` overrides, the schema, the checks, the messages.

Errors name the file, the line and the dotted key, as in ``rf.yaml:7: resources.num_cpus
must be greater than 0; got -1``; a key set by an override is located at ``--set``.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tuning.config.checks import check_experiment
from tuning.config.overrides import apply_override
from tuning.config.schema import (
    BudgetConfig,
    DataConfig,
    EstimatorConfig,
    Experiment,
    MlflowConfig,
    ResourcesConfig,
    SearchConfig,
    SplitConfig,
    TrackingConfig,
    WandbConfig,
)
from tuning.errors import ExperimentError

Lines = dict[str, Any]  # dotted key -> 1-based line, or "--set" where an override set it


def load_experiment(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Read, override and validate an experiment file; raise `ExperimentError` if bad."""
    path = Path(path)
    raw, lines = _read(path)
    for override in overrides:
        _mark_overridden(lines, apply_override(raw, override))
    return validate(raw, source=str(path), lines=lines)


def validate(raw: dict[str, Any], *, source: str = "<experiment>", lines: Lines | None = None) -> Experiment:
    """Validate a mapping as an `Experiment`, with the estimator and data checks."""
    lines = lines or {}
    try:
        experiment = Experiment.model_validate(raw)
    except ValidationError as exc:
        raise _to_experiment_error(exc, source, lines) from None
    check_experiment(experiment, lambda key: _where(source, lines, key))
    return experiment


def locate(path: Path, key: str) -> str:
    """``file:line`` of a dotted key, for errors found after the file was loaded."""
    try:
        lines = _key_lines(yaml.compose(path.read_text()))
    except (OSError, yaml.YAMLError, _DuplicateKey):
        lines = {}
    return _where(str(path), lines, key)


def _read(path: Path) -> tuple[dict[str, Any], Lines]:
    """The file's top-level mapping and the line of each dotted key in it."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ExperimentError("experiment file not found", where=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"cannot read experiment file ({exc})", where=str(path)) from None
    try:
        raw = yaml.safe_load(text)
        lines = _key_lines(yaml.compose(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ExperimentError(f"invalid YAML: {problem}", where=where) from None
    except _DuplicateKey as dup:
        raise ExperimentError(
            "must appear once; it is repeated", where=f"{path}:{dup.line}", key=dup.key
        ) from None
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else type(raw).__name__
        raise ExperimentError(f"the top level must be a mapping of keys; got {got}", where=str(path))
    return raw, lines


def _mark_overridden(lines: Lines, key: str) -> None:
    """Locate ``key``, and the mappings an override created on its way, at ``--set``."""
    for known in [k for k in lines if k.startswith(f"{key}.")]:
        del lines[known]  # the file's lines under a replaced value no longer apply
    parts = key.split(".")
    for end in range(1, len(parts)):
        lines.setdefault(".".join(parts[:end]), "--set")  # mappings the override created
    lines[key] = "--set"


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int):
        self.key, self.line = key, line


def _key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """Map each dotted key of a composed YAML document to its 1-based line."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            if key in lines:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            lines[key] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, f"{key}."))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[f"{prefix}{i}"] = item.start_mark.line + 1
            lines.update(_key_lines(item, f"{prefix}{i}."))
    return lines


def _where(source: str, lines: Lines, key: str) -> str:
    """``file:line`` of the deepest known prefix of ``key`` (``--set`` if an override set it
    or changed something inside it)."""
    if key and any(line == "--set" and known.startswith(f"{key}.") for known, line in lines.items()):
        return "--set"
    parts = key.split(".")
    for end in range(len(parts), 0, -1):
        line = lines.get(".".join(parts[:end]))
        if line == "--set":
            return "--set"
        if line:
            return f"{source}:{line}"
    return source


_MODELS: dict[str, type[BaseModel]] = {
    "": Experiment,
    "data": DataConfig,
    "split": SplitConfig,
    "estimator": EstimatorConfig,
    "resources": ResourcesConfig,
    "search": SearchConfig,
    "search.budget": BudgetConfig,
    "tracking": TrackingConfig,
    "tracking.mlflow": MlflowConfig,
    "tracking.wandb": WandbConfig,
}


def _to_experiment_error(exc: ValidationError, source: str, lines: Lines) -> ExperimentError:
    """The first schema error as one line naming the file, the line and the key."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    kind = err["type"]
    if kind == "keyed":  # a check across fields names its own key (see `schema.keyed`)
        ctx = err["ctx"]
        return ExperimentError(ctx["message"], where=_where(source, lines, ctx["key"]), key=ctx["key"])
    if kind == "extra_forbidden":
        parent = ".".join(loc[:-1])
        model = _MODELS.get(parent)
        valid = [f.alias or n for n, f in model.model_fields.items()] if model else []
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"is not a known key{hint}; valid keys: {', '.join(valid)}"
    elif kind == "missing":
        message = "is required"
    else:
        text = err["msg"].removeprefix("Value error, ")
        text = re.sub(r"^(Input|Dictionary|List|String|Value) should ", "must ", text)
        text = re.sub(r" after validation, not \d+$", "", text)
        text = re.sub(r", (unable to parse|got) .*$", "", text)
        if kind == "literal_error":
            text = text.replace("must be ", "must be one of ", 1)
        message = f"{text}; got {err['input']!r}"
    return ExperimentError(message, where=_where(source, lines, key), key=key or None)
