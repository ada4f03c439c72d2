"""The command line reference, generated from the commands' own argparse parsers.

``docs/reference/cli.md`` holds hand-written prose and, between
``<!-- cli:MODULE:start -->`` and ``<!-- cli:MODULE:end -->`` markers, each command's usage
and options as its parser states them (the ``help=`` strings are the one source)::

    python -m tuning.cli_reference           # rewrites the marked sections of the page
    python -m tuning.cli_reference --check   # exit 1 if the committed page is out of date
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
PAGE = Path("docs/reference/cli.md")
COMMAND = "python -m tuning.cli_reference"
# each documented command: its module, the function that builds and parses its arguments, the
# arguments that function is called with (a valid command line, so that parsing would succeed)
COMMANDS: dict[str, tuple[str, str, list[str]]] = {
    "tuning.run": ("tuning.run", "parse_args", ["x.yaml"]),
    "tuning.inspect": ("tuning.inspect", "main", ["RUN_DIR"]),
    "tuning.report": ("tuning.reports.html.page", "main", ["RUN_DIR"]),
    "tuning.config.reference": ("tuning.config.reference", "main", []),
    "tuning.cli_reference": ("tuning.cli_reference", "main", []),
    "tuning": ("tuning.cli", "main", ["run"]),
}
SECTION = re.compile(r"(<!-- cli:(?P<name>[\w.]+):start -->\n)(.*?)(<!-- cli:(?P=name):end -->)", re.S)


class _Parsed(Exception):
    """Raised in place of parsing: carries the parser the command built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__()
        self.parser = parser


def parser_of(name: str) -> argparse.ArgumentParser:
    """The parser command ``name`` builds, caught at its ``parse_args`` (nothing else runs)."""
    module, function, argv = COMMANDS[name]
    build: Callable = getattr(importlib.import_module(module), function)

    def caught(parser: argparse.ArgumentParser, *args, **kwargs):
        raise _Parsed(parser)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", caught):
        try:
            build(argv)
        except _Parsed as parsed:
            return parsed.parser
    raise RuntimeError(f"{module}.{function} parsed no arguments")


def _option(action: argparse.Action) -> str:
    """An option as it is typed: ``--set KEY.PATH=VALUE``, ``--runner {tune,sequential,both}``."""
    names = " / ".join(action.option_strings) or action.dest
    if action.nargs == 0:
        return f"`{names}`"
    if not action.option_strings:  # a positional: its name, or its choices
        choices = "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest
        return f"`{action.metavar or choices}`"
    shown = action.metavar or (
        "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest.upper()
    )
    return f"`{names} {shown}`"


def section(name: str) -> str:
    """A command's usage and a table of its arguments, from its parser."""
    parser = parser_of(name)
    with mock.patch.dict(os.environ, {"COLUMNS": "100"}):  # argparse wraps at the terminal's width
        usage = parser.format_usage().removeprefix("usage: ").strip()
    formatter = parser._get_formatter()  # argparse's own expansion of %(default)s in a help string
    rows = [
        f"| {_option(action)} | {formatter._expand_help(action).replace('|', '&#124;')} |"
        for action in parser._actions  # argparse has no public list of a parser's arguments
        if action.help not in (None, argparse.SUPPRESS)
    ]
    return "\n".join(["```", usage, "```", "", "| argument | what it does |", "| --- | --- |", *rows, ""])


def page(text: str) -> str:
    """``text`` with every marked section regenerated from its command's parser."""
    return SECTION.sub(lambda m: m.group(1) + section(m.group("name")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed page is out of date")
    args = parser.parse_args(argv)
    path = ROOT / PAGE
    text = path.read_text()
    if page(text) == text:
        return 0
    if args.check:
        print(f"out of date: {PAGE}; regenerate with: {COMMAND}", file=sys.stderr)
        return 1
    path.write_text(page(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
