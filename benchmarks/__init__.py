"""Benchmarks of the runners against their peers (see BENCHMARKS.md)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def use_development_data_cache() -> None:
    """Point scikit-learn at the development machines' data cache (``../shared``), if present."""
    shared = ROOT.parent / "shared" / "scikit_learn_data"
    if shared.is_dir():
        os.environ.setdefault("SCIKIT_LEARN_DATA", str(shared))
