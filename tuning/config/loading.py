"""Reading an experiment file: YAML, ``--set`` overrides, the schema, the checks, the messages.

Errors name the file, the line and the dotted key, as in ``rf.yaml:7: resources.num_cpus
must be greater than 0; got -1``; a key set by an override is located at ``--set``.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tuning.config.checks import check_experiment
from tuning.config.overrides import apply_override
from tuning.config.schema import Experiment
from tuning.errors import ExperimentError

MAX_VALUES = 1_000_000  # the most values an experiment file may expand to (its aliases repeat nodes)
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
        lines = _parse(path.read_text(), str(path))[1]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, _DuplicateKey, ExperimentError, RecursionError):
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
        raw, lines = _parse(text, str(path))
    except RecursionError:
        raise ExperimentError("the file nests its values too deeply to read", where=str(path)) from None
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


def _parse(text: str, source: str) -> tuple[Any, Lines]:
    """The document of a YAML text (PyYAML's safe loader) and the line of each dotted key, once
    its size is known to be bounded (`expanded_size`): an alias bomb is refused before it grows."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        size = expanded_size(node, source)
        if size > MAX_VALUES:
            raise ExperimentError(
                f"the file must expand to at most {MAX_VALUES} values; its aliases (*name) repeat "
                f"nodes to {size}",
                where=source,
            )
        return loader.construct_document(node), _key_lines(node)
    finally:
        loader.dispose()


def expanded_size(node: yaml.Node, source: str, seen: dict[int, int] | None = None) -> int:
    """How many nodes a composed YAML document has once its aliases are expanded.

    PyYAML shares an aliased node (the document itself stays small), but whatever walks it
    visits every copy; counted once per distinct node, so a bomb of 9 levels is counted in
    microseconds. An alias inside its own anchor is refused: it would expand forever.
    """
    seen = {} if seen is None else seen
    if id(node) in seen:
        if seen[id(node)] < 0:
            raise ExperimentError(
                "the file must not contain an alias inside its own anchor (it would expand forever)",
                where=f"{source}:{node.start_mark.line + 1}",
            )
        return seen[id(node)]
    seen[id(node)] = -1  # being counted: met again below it, it contains itself
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(expanded_size(item, source, seen) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(expanded_size(k, source, seen) + expanded_size(v, source, seen) for k, v in node.value)
    seen[id(node)] = size
    return size


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


def model_at(loc: list[str]) -> type[BaseModel] | None:
    """The schema model at a dotted location of the experiment (``estimator.steps.0``: a step),
    found by walking the models' fields, their lists and their mappings; None if not a model."""
    node: Any = Experiment
    for part in loc:
        node = _unwrap(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            field = next((f for n, f in node.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            node = field.annotation
        elif typing.get_origin(node) in (list, dict):
            node = typing.get_args(node)[-1]  # a list's items, a mapping's values
        else:
            return None
    node = _unwrap(node)
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``X`` of ``X | None`` (and of ``Optional[X]``)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kept = [a for a in typing.get_args(annotation) if a is not type(None)]
        return kept[0] if len(kept) == 1 else annotation
    return annotation


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
        model = model_at(loc[:-1])
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
