"""The one exception type for bad user input, and how a command reports it."""

import re
import sys
from collections.abc import Callable

EXIT_BAD_INPUT = 2  # every command's exit code for bad input (`ExperimentError`)
# the userinfo of a URI (scheme://user:password@host): credentials, never repeated in a message
USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^@\s'\"]+@")


def redacted(text: str) -> str:
    """``text`` with each URI's userinfo replaced by ``***`` (``s3://***@bucket/...``)."""
    return USERINFO.sub(r"\g<scheme>***@", text)


class ExperimentError(ValueError):
    """Bad input: the CLI prints the message in one line and exits with code 2.

    Messages read ``<file>:<line>: <dotted.key> must be <constraint>; got <value>``
    where a file and key are known. Credentials in a URI are never repeated (`redacted`).
    """

    def __init__(self, message: str, *, where: str | None = None, key: str | None = None):
        self.where = where
        self.key = key
        prefix = f"{where}: " if where else ""
        subject = f"{key} " if key else ""
        super().__init__(redacted(f"{prefix}{subject}{message}"))


def run_command(action: Callable[[], object], debug: bool) -> int:
    """Run a command's action: bad input prints one line and gives exit code 2 (raises with --debug)."""
    try:
        action()
    except ExperimentError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
