"""``--set KEY.PATH=VALUE``: one change to the raw experiment mapping before validation."""

from __future__ import annotations

from typing import Any

import yaml

from tuning.errors import ExperimentError


def apply_override(raw: dict[str, Any], override: str) -> str:
    """Set ``KEY.PATH=VALUE`` (VALUE read as YAML) in the raw mapping; return the dotted key
    of what changed (for a list item, the list: errors about it are located at ``--set``).

    Missing mappings on the path are created (an unknown key is then reported by the
    schema, located at ``--set``); a list item is addressed by its index, as in
    ``space.n_estimators.0=5``.
    """
    changed = None
    key, sep, value = override.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not sep or not all(parts):
        raise ExperimentError(f"--set must be KEY.PATH=VALUE; got {override!r}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        raise ExperimentError(f"--set {key}: cannot parse value {value!r} as YAML") from None
    node: Any = raw
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[:depth]) or "the experiment"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ExperimentError(
                    f"--set {key}: {here} is a list of {len(node)}; {part!r} must be an index "
                    f"from 0 to {len(node) - 1}"
                )
            index: Any = int(part)
            changed = changed or here
        elif isinstance(node, dict):
            index = part
            if not last and index not in node:
                node[index] = {}
        else:
            raise ExperimentError(f"--set {key}: {here} is {node!r}, not a mapping or a list")
        if last:
            node[index] = parsed
        else:
            node = node[index]
    return changed or key
