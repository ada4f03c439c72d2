"""The documentation: the site builds strictly, the generated reference and JSON Schema match
the models, and every command, experiment and file a page shows works."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import jsonschema
import pytest
import yaml

from tests.conftest import ROOT
from tuning import reference
from tuning.config import validate
from tuning.run import main, parse_args

PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../docs/experiment.schema.json"
NEEDS = "# needs:"  # a command that needs a cluster, S3 or a run directory: only its arguments are checked
FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```", flags=re.M | re.S)  # list items indent theirs
PYTHON = re.compile(r"^(?:\.venv/bin/)?python3?$")


class Command(NamedTuple):
    where: str  # page:line
    module: str  # python -m MODULE, or the script's path
    args: list[str]
    needs: bool


def _blocks(language: str) -> list[tuple[Path, int, str]]:
    """Every fenced block of a language in the pages, with its page and first line."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match.group(1) == language:
                found.append((page, text.count("\n", 0, match.start(2)) + 1, match.group(2)))
    return found


def _logical_lines(block: str) -> list[tuple[int, str]]:
    """The block's lines with their offsets, a line ending in a backslash joined to the next."""
    joined: list[tuple[int, str]] = []
    for index, line in enumerate(block.splitlines()):
        if joined and joined[-1][1].endswith("\\"):
            joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + line)
        else:
            joined.append((index, line))
    return joined


def _commands() -> list[Command]:
    """Each ``python ...`` command of the pages' bash blocks (continued lines joined, ``&&`` split)."""
    commands = []
    for page, first, block in _blocks("bash"):
        for offset, line in _logical_lines(block):
            tokens = shlex.split(line, comments=True)
            while tokens:
                cut = next((i for i, t in enumerate(tokens) if t in ("&&", ";", "|", ">")), len(tokens))
                words = [t for t in tokens[:cut] if not re.match(r"^[A-Z_]+=", t)]  # no VAR=value
                tokens = tokens[cut + 1 :] if tokens[cut : cut + 1] != [">"] else []
                if not words or not PYTHON.match(words[0]) or len(words) < 2:
                    continue
                module, args = (words[2], words[3:]) if words[1] == "-m" else (words[1], words[2:])
                where = f"{page.relative_to(ROOT)}:{first + offset}"
                commands.append(Command(where, module, args, NEEDS in line))
    return commands


COMMANDS = _commands()
RUNS = [c for c in COMMANDS if c.module == "tuning.run"]


def test_site_builds_strictly(tmp_path):
    """``mkdocs build --strict``: a broken link or anchor, or a page missing from the nav, fails it."""
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "site" / "reference" / "experiment" / "index.html").is_file()


GENERATED = [(reference.PAGE, reference.page), (reference.SCHEMA, reference.schema_text)]


@pytest.mark.parametrize(("path", "generate"), GENERATED, ids=[str(path) for path, _ in GENERATED])
def test_generated_files_match_the_models(path, generate):
    committed = (ROOT / path).read_text() if (ROOT / path).is_file() else ""
    stale = f"{path} differs from what tuning/config/schema.py generates: run {reference.COMMAND}"
    assert committed == generate(), stale


def test_every_key_has_a_one_line_description():
    """The field docstrings are the reference's descriptions: a new key without one fails here."""
    schema = reference.json_schema()
    missing = [
        f"{model}.{key}"
        for model, definition in [("Experiment", schema), *schema["$defs"].items()]
        for key, prop in definition["properties"].items()
        if not prop.get("description") or "\n" in prop["description"]
    ]
    assert not missing, f"give each field a one-line docstring under it in tuning/config/schema.py: {missing}"


def test_reference_names_every_key():
    page = (ROOT / reference.PAGE).read_text()
    for key in ("name", "split.cv", "estimator.class", "search.budget.step", "resources.num_cpus", "refit"):
        assert f"| `{key}` |" in page


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_shipped_experiment_names_and_passes_the_schema(path):
    assert path.read_text().splitlines()[0] == SCHEMA_LINE
    schema = json.loads((ROOT / reference.SCHEMA).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(path.read_text()), schema, cls=jsonschema.Draft202012Validator)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        pytest.param({"resourcez": {}}, "'resourcez' was unexpected", id="unknown-key"),
        pytest.param({"space": {"n_estimators": {"uniform": [1]}}}, "not valid under any", id="bad-domain"),
        pytest.param({"resources": {"num_cpus": 0}}, "not valid under any", id="zero-cpus"),
        pytest.param({"search": {"algorithm": "bayes"}}, "is not one of", id="bad-choice"),
        pytest.param({"split": {"test_size": 1.5}}, "maximum of 1", id="out-of-range"),
    ],
)
def test_schema_flags_what_an_editor_should(change, fragment):
    raw = {**yaml.safe_load((ROOT / "experiments" / "quick.yaml").read_text()), **change}
    errors = [e.message for e in jsonschema.Draft202012Validator(reference.json_schema()).iter_errors(raw)]
    assert any(fragment in e for e in errors), errors


def test_schema_command_prints_the_schema(capsys):
    assert reference.main(["--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == reference.json_schema()


def test_pages_have_commands():
    """The extraction below finds the pages' commands (an empty list would pass every test)."""
    pages = {c.where.split(":")[0] for c in RUNS}
    assert len(RUNS) >= 20 and {"docs/how-to/search.md", "docs/how-to/own-data.md", "README.md"} <= pages


@pytest.mark.parametrize("command", RUNS, ids=lambda c: c.where)
def test_page_command_runs_dry(command, monkeypatch, capsys):
    """Each ``python -m tuning.run`` of a page validates and plans (``--dry-run``: no Ray, no trial)."""
    if command.needs:  # a cluster, S3 or a run directory: the arguments at least parse
        assert parse_args(command.args).experiment or parse_args(command.args).resume
        return
    monkeypatch.chdir(ROOT)
    args = command.args if "--dry-run" in command.args else [*command.args, "--dry-run"]
    shown = f"{command.where}: python -m tuning.run {shlex.join(args)}"
    assert main(args) == 0, f"{shown}\n{capsys.readouterr().err}"
    assert "Dry run of" in capsys.readouterr().out


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.module != "tuning.run"], ids=lambda c: c.where)
def test_page_command_names_a_real_module(command):
    found = (ROOT / command.module).is_file() or importlib.util.find_spec(command.module) is not None
    assert found, f"{command.where}: no module or script {command.module}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_a_page_names_exist(page):
    named = set(re.findall(r"\bexperiments/[\w./-]+\.(?:yaml|csv)\b", page.read_text()))
    missing = [p for p in sorted(named) if not (ROOT / p).is_file()]
    assert not missing, f"{page.relative_to(ROOT)} names {missing}"


@pytest.mark.parametrize(
    "block",
    [b for b in _blocks("yaml") if re.search(r"^name:", b[2], re.M) and re.search(r"^space:", b[2], re.M)],
    ids=lambda b: f"{b[0].relative_to(ROOT)}:{b[1]}",
)
def test_page_experiment_is_valid(block):
    """A whole experiment shown on a page loads, with the estimator and data checks."""
    page, line, text = block
    validate(yaml.safe_load(text), source=f"{page.relative_to(ROOT)}:{line}")
