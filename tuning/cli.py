"""tuning: run an experiment, inspect a run directory, write its HTML report.

``tuning run FILE``, ``tuning inspect RUN_DIR``, ``tuning report RUN_DIR``, ``tuning schema``.

Each subcommand is the module command of the same name (``python -m tuning.run`` ...) with
the same options and exit codes; ``tuning schema`` prints the experiment file's JSON Schema
(``python -m tuning.config.reference --schema``); ``tuning --version`` prints the package's
version.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable
from typing import NoReturn

from tuning import __version__

# Each command's own main (``module`` or ``module:function``), imported when it is run (the run
# imports more than the others).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("tuning.run", "run an experiment file (the options of python -m tuning.run)"),
    "inspect": ("tuning.inspect", "the report of a run directory, read from disk"),
    "report": ("tuning.reports.html", "write a run directory's HTML report (report.html)"),
    "schema": ("tuning.config.reference:schema_main", "print the experiment file's JSON Schema"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tuning",
        description=__doc__.splitlines()[0],
        epilog="\n".join(f"  {name:8} {about}" for name, (_, about) in COMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tuning {__version__}")
    parser.add_argument("command", choices=list(COMMANDS), help="see below; `tuning COMMAND --help`")
    argv = sys.argv[1:] if argv is None else list(argv)
    # the command's own options follow its name: `tuning run FILE --set ...`
    name_at = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), len(argv))
    args = parser.parse_args(argv[: name_at + 1])
    return command_main(args.command)(argv[name_at + 1 :], prog=f"tuning {args.command}")


def console() -> NoReturn:
    """The ``tuning`` command's entry point: `main`, then `exit_process`."""
    exit_process(main())


def exit_process(code: int) -> NoReturn:
    """End a command's process with ``code``, skipping the interpreter's last garbage collections.

    A run leaves millions of objects (Ray, Tune, pandas, scikit-learn) that Python's exit
    collects again before the operating system frees them anyway: ~0.6 s after a run.
    `gc.freeze` leaves them out of those collections; atexit handlers, finalizers and file
    closing run as usual. Only for a process that ends here, never for an in-process ``main``.
    """
    gc.freeze()
    sys.exit(code)


def command_main(name: str) -> Callable[..., int]:
    """The ``main`` of a subcommand's module (or the function its entry names)."""
    module, _, function = COMMANDS[name][0].partition(":")
    return getattr(importlib.import_module(module), function or "main")


if __name__ == "__main__":
    exit_process(main())
