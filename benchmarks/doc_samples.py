"""Refresh the pages' sample outputs from a real run: every block marked
``<!-- sample-run: COMMAND -->`` in README.md and docs/ gets what COMMAND prints now.

    python -m benchmarks.doc_samples            # runs each marker's command once, rewrites the blocks

The block keeps the report from its first line (``Trials of ...``) to the end, with the
table cut to its best ``--rows`` rows and ``...``. Run it on a quiet machine: the timings are
quoted as they come (tests/test_docs.py then checks that they add up).
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"(<!-- sample-run: (?P<command>.+?) -->\n```\n)(?P<text>.*?)(```)", re.S)


def sample(printed: str, rows: int) -> str:
    """The report part of a run's output, its table cut to the best ``rows`` rows."""
    lines = printed[printed.index("Trials of ") :].splitlines()
    table_end = next(i for i, line in enumerate(lines) if not line.strip())
    if table_end > rows + 2:
        lines = [*lines[: rows + 2], "...", *lines[table_end + 1 :]]
    return "\n".join(line for line in lines if line.strip()) + "\n"


def run(command: str) -> str:
    """What ``command`` (``python -m ...``) prints, run with this interpreter from the repository root."""
    words = shlex.split(command)
    if words[0] == "python":
        words[0] = sys.executable
    return subprocess.run(words, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.doc_samples", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rows", type=int, default=2, help="table rows kept (default %(default)s)")
    args = parser.parse_args(argv)
    outputs: dict[str, str] = {}
    for page in PAGES:
        text = page.read_text()
        for match in BLOCK.finditer(text):
            command = match.group("command")
            if command not in outputs:
                print(f"running: {command}", file=sys.stderr)
                outputs[command] = sample(run(command), args.rows)
        new = BLOCK.sub(lambda m: m.group(1) + outputs[m.group("command")] + m.group(4), text)
        if new != text:
            page.write_text(new)
            print(f"rewrote {page.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
