"""The one exception type for bad user input, and how a command reports it."""

import sys
from collections.abc import Callable


class ExperimentError(ValueError):
    """Bad input: the CLI prints the message in one line and exits with code 2.

    Messages read ``<file>:<line>: <dotted.key> must be <constraint>; got <value>``
    where a file and key are known.
    """

    def __init__(self, message: str, *, where: str | None = None, key: str | None = None):
        self.where = where
        self.key = key
        prefix = f"{where}: " if where else ""
        subject = f"{key} " if key else ""
        super().__init__(f"{prefix}{subject}{message}")


def run_command(action: Callable[[], object], debug: bool) -> int:
    """Run a command's action: bad input prints one line and gives exit code 2 (raises with --debug)."""
    try:
        action()
    except ExperimentError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
