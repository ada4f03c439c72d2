"""What every command prints through: one line at a time, flushed."""

from __future__ import annotations


def say(line: str) -> None:
    """Print a line now (a module function: Tune pickles its callbacks, and print may be patched)."""
    print(line, flush=True)
