"""Small value helpers every layer shares: what counts as a number, and how one is shown."""

from __future__ import annotations

import math
from typing import Any


def is_number(value: Any) -> bool:
    """A finite int or float (``True`` and ``False`` are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any) -> str:
    """A parameter value as tables show it: floats to 4 significant digits, the rest as ``str``."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def params_text(config: dict[str, Any]) -> str:
    """``n_estimators=84, max_depth=8``: a configuration in one line."""
    return ", ".join(f"{k}={fmt(v)}" for k, v in config.items())
