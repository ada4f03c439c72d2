"""The documentation: the site builds strictly, the generated reference and JSON Schema match
the models, and every command, experiment and file a page shows works."""

from __future__ import annotations

import contextlib
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
from tests.doc_figures import FIGURES, Bench, Code, bench_tables
from tuning import cli_reference
from tuning.config import locate, reference, validate
from tuning.run import main, parse_args

PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md", ROOT / "CHANGELOG.md"]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../docs/experiment.schema.json"
NEEDS = "# needs:"  # a command that needs a cluster, S3 or a run directory: only its arguments are checked
FENCE = re.compile(r"^ *```(\w*)\n(.*?)^ *```", flags=re.M | re.S)  # list items indent theirs
PYTHON = re.compile(r"^(?:\.venv/bin/)?python3?$")


# What a page says about its next fenced block, in an HTML comment on the line above it:
MARKERS = {
    "not-run": "a Python block the suite does not run; the reason follows",
    "needs-run": "a Python block's results/... paths are those of this run (tuning.run's arguments)",
    "output-of": "the block is what this command prints (a dry run, head), or 'the python block above'",
    "output-of-run": "the block is what a run of this experiment prints (checked on a real run)",
    "sample-run": "the block is what this command printed once (too long for the suite): checked to add up",
    "file": "the block is this file of the repository, exactly",
    "fragment": "a YAML block that is not an experiment's top level; the reason follows",
    "part-of": "a YAML block's keys replace those of this experiment file (else experiments/quick.yaml)",
}
MARKER = re.compile(r"^\s*<!--\s*([a-z-]+):\s+(.*?)\s*-->\s*$")
RUN_DIR = re.compile(r"\bresults/(?P<name>[\w.-]+)/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d\b")


class Block(NamedTuple):
    page: Path
    line: int  # the block's first line
    language: str
    text: str
    marker: tuple[str, str] | None  # the HTML comment just above the fence: (kind, argument)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _all_blocks() -> list[Block]:
    """Every fenced block of the pages, with the marker above it."""
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            above = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marked = MARKER.match(above)
            line = text.count("\n", 0, match.start(2)) + 1
            found.append(
                Block(page, line, match.group(1), match.group(2), marked.groups() if marked else None)
            )
    return found


BLOCKS = _all_blocks()


class Command(NamedTuple):
    where: str  # page:line
    module: str  # python -m MODULE, or the script's path
    args: list[str]
    needs: bool


def _blocks(language: str) -> list[tuple[Path, int, str]]:
    """Every fenced block of a language in the pages, with its page and first line."""
    return [(b.page, b.line, b.text) for b in BLOCKS if b.language == language]


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


GENERATED = [
    (reference.PAGE, reference.page),
    (reference.SCHEMA, reference.schema_text),
    (cli_reference.PAGE, lambda: cli_reference.page((ROOT / cli_reference.PAGE).read_text())),
]


@pytest.mark.parametrize(("path", "generate"), GENERATED, ids=[str(path) for path, _ in GENERATED])
def test_generated_files_match_the_models(path, generate):
    committed = (ROOT / path).read_text() if (ROOT / path).is_file() else ""
    command = cli_reference.COMMAND if path == cli_reference.PAGE else reference.COMMAND
    stale = f"{path} differs from what its generator makes now: run {command}"
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


PAGE_EXPERIMENTS = [
    b for b in _blocks("yaml") if re.search(r"^name:", b[2], re.M) and re.search(r"^space:", b[2], re.M)
]


def test_pages_show_whole_experiments():
    """The pages' whole experiments are found (an empty list would pass the next test)."""
    pages = {page.relative_to(ROOT).as_posix() for page, _, _ in PAGE_EXPERIMENTS}
    assert len(PAGE_EXPERIMENTS) >= 5 and {"docs/tutorial.md", "README.md"} <= pages, pages


@pytest.mark.parametrize("block", PAGE_EXPERIMENTS, ids=lambda b: f"{b[0].relative_to(ROOT)}:{b[1]}")
def test_page_experiment_is_valid(block):
    """A whole experiment shown on a page loads, with the estimator and data checks, and means
    what the page shows: every value it sets is the resolved experiment's."""
    page, line, text = block
    shown = yaml.safe_load(text)
    resolved = validate(shown, source=f"{page.relative_to(ROOT)}:{line}").resolved()
    for key, value in shown.items():
        if isinstance(value, dict):  # a section: each key it sets, the defaults filled beside them
            assert set(value) <= set(resolved[key]), (key, set(value) - set(resolved[key]))
        elif value is None:  # "the default", which the resolved experiment fills in
            assert key in resolved, key
        elif key == "metrics":  # the ranking metric is recorded first, beside them
            assert resolved[key] == [resolved["metric"], *(m for m in value if m != resolved["metric"])], key
        else:
            assert resolved[key] == value, key


# ---- markers, Python snippets, outputs ------------------------------------------------------


def test_markers_are_known_and_not_run_says_why():
    marked = [b for b in BLOCKS if b.marker]
    unknown = [f"{b.where}: {b.marker[0]}" for b in marked if b.marker[0] not in MARKERS]
    assert not unknown, f"unknown markers (known: {sorted(MARKERS)}): {unknown}"
    silent = [
        b.where for b in marked if b.marker[0] in ("not-run", "fragment") and len(b.marker[1].split()) < 3
    ]
    assert not silent, f"say why a block is not run or not checked whole: {silent}"
    assert len(marked) >= 10  # the pages carry markers: an empty list would pass the tests below


def _next_block(block: Block) -> Block | None:
    later = [b for b in BLOCKS if b.page == block.page and b.line > block.line]
    return min(later, key=lambda b: b.line, default=None)


def _in_order(shown: str, printed: str) -> list[str]:
    """The lines of ``shown`` (``...`` lines skipped) missing from ``printed``, or out of order."""
    lines, at, missing = printed.splitlines(), 0, []
    for line in shown.splitlines():
        if line.strip() == "...":
            continue
        try:
            at = lines.index(line, at) + 1
        except ValueError:
            missing.append(line)
    return missing


def _output_of(command: str, capsys) -> str:
    """What a command shown on a page prints: ``python -m tuning.run ...`` (in process), ``head -N``."""
    words = shlex.split(command)
    if words[:3] == ["python", "-m", "tuning.run"]:
        assert "--dry-run" in words, f"only a dry run is run here: {command}"
        assert main(words[3:]) == 0, capsys.readouterr().err
        return capsys.readouterr().out
    if words[0] == "head" and len(words) == 3:
        return "".join((ROOT / words[2]).read_text().splitlines(keepends=True)[: int(words[1].lstrip("-n"))])
    raise AssertionError(f"no way to run {command!r} for an output-of marker")


OUTPUTS = [
    b for b in BLOCKS if b.marker and b.marker[0] == "output-of" and not b.marker[1].startswith("the ")
]


@pytest.mark.parametrize("block", OUTPUTS, ids=lambda b: b.where)
def test_page_shows_what_the_command_prints(block, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    printed = _output_of(block.marker[1], capsys)
    missing = _in_order(block.text, printed)
    assert not missing, f"{block.where}: not printed by `{block.marker[1]}`: {missing}\nprinted:\n{printed}"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.marker and b.marker[0] == "file"], ids=lambda b: b.where
)
def test_page_shows_the_file_as_it_is(block):
    assert block.text == (ROOT / block.marker[1]).read_text(), f"{block.where} differs from {block.marker[1]}"


SNIPPETS = [b for b in BLOCKS if b.language == "python" and not (b.marker and b.marker[0] == "not-run")]


def test_python_snippets_are_found():
    assert {b.page.name for b in SNIPPETS} >= {"tutorial.md", "api.md", "own-data.md", "run-directory.md"}


@pytest.fixture(scope="module")
def doc_runs(ray_session, tmp_path_factory):
    """Runs the snippets read (one per argument list, made once): arguments -> (run dir, printed lines)."""
    from tuning.api import run_experiment

    made: dict[str, tuple[Path, str]] = {}

    def run(arguments: str) -> tuple[Path, str]:
        if arguments not in made:
            args = parse_args(shlex.split(arguments))
            printed: list[str] = []
            storage = tmp_path_factory.mktemp("doc_runs")
            sets = (o.split("=", 1) for o in args.overrides)  # values read as YAML, as --set reads them
            overrides = {key: yaml.safe_load(value) for key, value in sets} | {"storage_path": str(storage)}
            with contextlib.chdir(ROOT):
                result = run_experiment(
                    args.experiment, overrides=overrides, runner=args.runner, echo=printed.append
                )
            made[arguments] = (result.run_dir, "\n".join(printed))
        return made[arguments]

    return run


def _stand_in(block: Block) -> str | None:
    """The run a snippet's ``results/NAME/TIMESTAMP`` paths need: its marker's, else NAME's file."""
    if block.marker and block.marker[0] == "needs-run":
        return block.marker[1]
    names = {m.group("name") for m in RUN_DIR.finditer(block.text)}
    if not names:
        return None
    (name,) = names
    return f"experiments/{name}.yaml --runner sequential"


@pytest.mark.slow
@pytest.mark.parametrize("block", SNIPPETS, ids=lambda b: b.where)
def test_python_snippet_runs(block, doc_runs, tmp_path, monkeypatch, capsys):
    """Each Python block of a page runs (from a folder with the repository's experiments/); the
    ``results/NAME/TIMESTAMP`` it names is a real run's, and its output is the next block's if marked so."""
    code = block.text
    if (arguments := _stand_in(block)) is not None:
        run_dir, _ = doc_runs(arguments)
        code = RUN_DIR.sub(str(run_dir), code)
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    exec(compile(code, block.where, "exec"), {"__name__": "__doc_snippet__"})
    printed = capsys.readouterr().out
    after = _next_block(block)
    if after and after.marker == ("output-of", "the python block above"):
        assert printed == after.text, f"{block.where} printed:\n{printed}\nthe page shows:\n{after.text}"


VOLATILE = ("Fixed costs:", "Trial phase:", "Speedup:", "Efficiency:", "Run directory:", "TensorBoard:")
VOLATILE += ("HTML report:", "Best model:", "Importance:", "[tune]", "[sequential]", "Repeats:")


def _steady(output: str) -> list[str]:
    """A run's printed lines without what differs between runs and runners: times, paths,
    trial names (the first column of the table) and the runners' time columns."""
    lines = []
    for line in output.splitlines():
        if line.startswith(VOLATILE) or not line.strip():
            continue
        cells = re.split(r"\s{2,}", line.strip())
        if re.match(r"(trial|trial_\w+|sequential_\d+)$", cells[0]):  # a row (or the header) of the table
            cells = [
                c for c in cells[1:] if not re.fullmatch(r"(tune|sequential) s|\d+\.\d\d", c) or "±" in c
            ]
            line = "  ".join(cells)
        lines.append(line)
    return lines


@pytest.mark.slow
@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.marker and b.marker[0] == "output-of-run"], ids=lambda b: b.where
)
def test_page_shows_what_a_run_prints(block, doc_runs):
    """The scores, table and best configuration a page shows are a real run's (the sequential
    runner's, which scores every configuration as Tune does)."""
    _, printed = doc_runs(f"{block.marker[1]} --runner sequential")
    assert _steady(block.text) == [line for line in _steady(printed) if line in _steady(block.text)]
    assert set(_steady(block.text)) <= set(_steady(printed)), _steady(printed)


SAMPLES = [b for b in BLOCKS if b.marker and b.marker[0] == "sample-run"]


def _could_be(shown: float, shown_half: float, numerator: float, denominator: float, half: float) -> bool:
    """Whether ``shown`` (rounded to +-shown_half) can be numerator / denominator (each rounded to +-half)."""
    low, high = (numerator - half) / (denominator + half), (numerator + half) / (denominator - half)
    return low - shown_half <= shown <= high + shown_half


def _field(text: str, label: str) -> str:
    return re.search(rf"^{label}:\s+(.*)$", text, re.M).group(1)


@pytest.mark.parametrize("block", SAMPLES, ids=lambda b: b.where)
def test_sample_run_adds_up(block):
    """A run's output too long to make in the suite (rf.yaml --runner both) is one run's, every
    copy alike, its figures consistent with each other, its labels the report's, its best MSE
    the benchmark's. Refresh it from a real run of the marker's command."""
    assert all(b.text == block.text for b in SAMPLES if b.marker == block.marker), "copies differ"
    text = block.text
    sequential, tune = map(float, re.findall(r"(?:sequential|tune) ([\d.]+) s", _field(text, "Trial phase")))
    ideal = float(re.search(r"\(([\d.]+) s\)", _field(text, "Efficiency")).group(1))
    speedup = float(re.match(r"([\d.]+)x", _field(text, "Speedup")).group(1))
    efficiency = float(re.match(r"(\d+)%", _field(text, "Efficiency")).group(1)) / 100
    assert _could_be(speedup, 0.005, sequential, tune, 0.05), "Speedup is not sequential / tune"
    assert _could_be(efficiency, 0.005, ideal, tune, 0.05), "Efficiency is not ideal / tune"
    rows = [line.split() for line in text.splitlines() if line.startswith("trial_")]
    assert _field(text, "Best") == f"n_estimators={rows[0][1]}  (validation mse {rows[0][2]})"
    best = float(bench_tables()["rf-2cpu"]["sequential"]["best MSE"])
    assert float(rows[0][2]) == round(best, 4), "the sample's best MSE is not the benchmark's"
    code = "".join(path.read_text() for path in (ROOT / "tuning").rglob("*.py"))
    labels = re.findall(r"^([A-Z][\w ]+):\s", text, re.M)
    unknown = [label for label in labels if f'"{label}:' not in code and f'("{label}",' not in code]
    assert labels and not unknown, f"labels the code never prints: {unknown}"


# ---- YAML, files, file:line -----------------------------------------------------------------


def _yaml_fragments() -> list[Block]:
    return [
        b
        for b in BLOCKS
        if b.language == "yaml"
        and not (b.marker and b.marker[0] in ("fragment", "file"))
        and not (re.search(r"^name:", b.text, re.M) and re.search(r"^space:", b.text, re.M))
    ]


@pytest.mark.parametrize("block", _yaml_fragments(), ids=lambda b: b.where)
def test_page_yaml_fragment_is_valid_in_an_experiment(block, monkeypatch):
    """A part of an experiment shown on a page, put in place of the same keys of the file its
    marker names (else experiments/quick.yaml), passes the JSON Schema and the full validation."""
    monkeypatch.chdir(ROOT)
    fragment = yaml.safe_load(block.text)
    assert isinstance(fragment, dict), f"{block.where}: not a mapping; mark it <!-- fragment: why -->"
    base = block.marker[1] if block.marker and block.marker[0] == "part-of" else "experiments/quick.yaml"
    raw = {**yaml.safe_load((ROOT / base).read_text()), **fragment}
    jsonschema.validate(raw, reference.json_schema(), cls=jsonschema.Draft202012Validator)
    validate(raw, source=block.where)


REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:tuning|tests|benchmarks|experiments|docs|\.ci)/[\w./*-]*[\w*]"
    r"|(?:setup\.cfg|constraints\.txt|mkdocs\.yml|pyproject\.toml|ruff\.toml|BENCHMARKS\.md|CHANGELOG\.md)\b)"
)
RAY_PATH = re.compile(r"`(ray/[\w/]+\.py)`")
PLACEHOLDERS = ("docs/**/*.md",)  # globs and such that name no one file


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_paths_a_page_names_exist(page):
    """Every file or folder of the repository a page names exists, and every file of Ray's."""
    import ray

    text = page.read_text()
    named = {p.rstrip(".") for p in REPO_PATH.findall(text)} - set(PLACEHOLDERS)
    missing = [p for p in sorted(named) if "*" not in p and not (ROOT / p).exists()]
    ray_root = Path(ray.__file__).parent.parent
    missing += [p for p in RAY_PATH.findall(text) if not (ray_root / p).is_file()]
    assert not missing, f"{page.relative_to(ROOT)} names {missing}"


FILE_LINE = re.compile(r"((?:experiments|tuning|tests|benchmarks|docs)/[\w./-]+\.\w+):(\d+)(?::\s*([\w.]+))?")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_file_lines_a_page_names_hold_what_it_says(page):
    """``file:line`` exists; ``experiments/X.yaml:N: a.key ...`` (an error line) has that key at line N."""
    wrong = []
    for path, line, key in FILE_LINE.findall(page.read_text()):
        lines = (ROOT / path).read_text().splitlines() if (ROOT / path).is_file() else []
        if int(line) > len(lines):
            wrong.append(f"{path}:{line} (the file has {len(lines)} lines)")
        elif key and path.endswith(".yaml") and locate(ROOT / path, key) != f"{ROOT / path}:{line}":
            wrong.append(f"{path}:{line}: {key} is at {locate(ROOT / path, key)}")
    assert not wrong, f"{page.relative_to(ROOT)}: {wrong}"


# ---- figures --------------------------------------------------------------------------------

FIGURE = re.compile(r"(?<![\w.±])\d+(?:\.\d+)?\s?(?:s|x|%|ms|MB|MiB|KB|GB|min)(?!\w)")


def _prose(page: Path) -> str:
    """A page without its fenced blocks (outputs are checked above) and its HTML comments."""
    return re.sub(r"<!--.*?-->", "", FENCE.sub("", page.read_text()), flags=re.S)


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f"{f.page}:{f.quoted}")
def test_quoted_figure_comes_from_its_source(figure):
    assert figure.quoted in _prose(ROOT / figure.page), f"{figure.page} no longer quotes {figure.quoted}"
    if isinstance(figure.source, Bench | Code):
        assert figure.source.expected() == figure.quoted, (
            f"{figure.page} quotes {figure.quoted}; {figure.source.what} is {figure.source.expected()} now"
        )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_figure_a_page_quotes_is_registered(page):
    """A measured figure (seconds, ratios, percentages, sizes) on a page is in tests/doc_figures.py."""
    where = str(page.relative_to(ROOT))
    known = {f.quoted for f in FIGURES if f.page == where}
    quoted = {m.group(0) for m in FIGURE.finditer(_prose(page))}
    unknown = sorted(quoted - known)
    assert not unknown, f"{where} quotes {unknown}: add each to tests/doc_figures.py with its source"


# ---- statements the pages make about the code -----------------------------------------------


def test_python_requires_is_what_the_pinned_packages_need():
    """setup.cfg's python_requires is the highest Requires-Python of the installed requirements,
    and the set-up pages ask for that Python."""
    import configparser
    import importlib.metadata

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    ours = config["options"]["python_requires"]
    needed = []
    for requirement in config["options"]["install_requires"].split():
        name = re.split(r"[\[<>=]", requirement)[0]
        spec = importlib.metadata.metadata(name).get("Requires-Python") or ""
        needed += [tuple(map(int, v.split("."))) for v in re.findall(r">=\s*([\d.]+)", spec)]
    assert ours == f">={'.'.join(map(str, max(needed)))}", (
        f"python_requires {ours}; the requirements need {max(needed)}"
    )
    version = ours.removeprefix(">=")
    for page in ("README.md", "docs/getting-started.md", "docs/tutorial.md"):
        assert f"Python {version} or newer" in (ROOT / page).read_text(), page


def test_mode_defaults_as_the_reference_says():
    from tuning.metrics import METRICS

    minimised = sorted(name for name, metric in METRICS.items() if metric.mode == "min")
    assert minimised == ["mae", "mse", "rmse"]
    row = next(
        line for line in (ROOT / reference.PAGE).read_text().splitlines() if line.startswith("| `mode` |")
    )
    assert "`min` for mse, rmse, mae; `max` for r2 and every scikit-learn scorer" in row


def test_api_reference_documents_the_public_api():
    import tuning

    page = (ROOT / "docs" / "reference" / "api.md").read_text()
    missing = [name for name in tuning.__all__ if f"heading: tuning.{name}\n" not in page]
    assert not missing, f"docs/reference/api.md has no entry for tuning.{missing}"
    assert "tuning._experiment" not in page  # the dict-returning internals are not the public face


def test_summary_fields_are_documented():
    """Every key a summary.json gets (tuning/reports/summary.py builds it, tuning/_experiment.py adds to it)
    is a row of run-directory.md's table, and best_model's keys are named in its row."""
    import ast

    built = next(
        node
        for node in ast.walk(ast.parse((ROOT / "tuning" / "reports" / "summary.py").read_text()))
        if isinstance(node, ast.FunctionDef) and node.name == "build_summary"
    )
    keys = {k.value for node in ast.walk(built) if isinstance(node, ast.Return) for k in node.value.keys}
    keys |= set(re.findall(r'summary\["(\w+)"\]\s*(?:,|=)', (ROOT / "tuning" / "_experiment.py").read_text()))
    table = (ROOT / "docs" / "reference" / "run-directory.md").read_text().split("## `summary.json`")[1]
    documented = {
        key
        for row in table.splitlines()
        if row.startswith("| `")
        for key in re.findall(r"`(\w+)`", row.split("|")[1])
    }
    assert keys - documented == set(), f"summary.json keys missing from run-directory.md: {keys - documented}"
    refit = (ROOT / "tuning" / "reports" / "best_model.py").read_text()
    returned = re.search(r'return \{\n\s+"path":.*?\n    \}', refit, re.S).group(0)
    model_row = next(row for row in table.splitlines() if row.startswith("| `best_model` |"))
    missing = [k for k in re.findall(r'"(\w+)":', returned) if f"`{k}`" not in model_row]
    assert not missing, f"best_model keys missing from its row: {missing}"


def test_ci_does_what_the_readme_says():
    ci = (ROOT / ".ci" / "run").read_text()
    for step in (
        "python3 -m venv .venv",
        "pip install -q --upgrade pip",
        "SCIKIT_LEARN_DATA",
        "-c constraints.txt -e .",
        "-c constraints.txt -e '.[test]'",
        ".venv/bin/python -m pytest",
    ):
        assert step in ci, step
    assert "tuning.run" not in ci
    readme = (ROOT / "README.md").read_text()
    assert "upgrades pip" in readme and "(not `experiments/rf.yaml`)" in readme


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {name.lower(): version for name, version in (line.split("==") for line in lines if line)}


def test_lowest_constraints_are_the_lower_ends_of_setup_cfgs_ranges():
    """constraints-lowest.txt pins each requirement of setup.cfg at the lower end of its range
    and every other package as constraints.txt does; .ci/run runs the fast tests on it."""
    import configparser

    from packaging.version import Version  # Ray's dependency: "2.4" is "2.4.0"

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    required = [
        line.strip()
        for line in config["options"]["install_requires"].splitlines()
        if line.strip()[:1].isalpha()
    ]
    lowest, lock = _pins(ROOT / "constraints-lowest.txt"), _pins(ROOT / "constraints.txt")
    ends = {}
    for requirement in required:
        match = re.fullmatch(r"([\w-]+)(?:\[[\w,]+\])?>=([\w.]+),<[\w.]+", requirement)
        assert match, requirement
        ends[match.group(1).lower()] = match.group(2)
    assert {name: Version(lowest.get(name, "0")) for name in ends} == {n: Version(v) for n, v in ends.items()}
    assert {name: v for name, v in lowest.items() if name not in ends} == {
        name: v for name, v in lock.items() if name not in ends
    }
    ci = (ROOT / ".ci" / "run").read_text()
    main, lowest_job = ci.split("-c constraints-lowest.txt")
    assert ".venv/bin/python -m pytest\n" in main  # the README's whole suite first
    assert lowest_job.strip().endswith('.venv-lowest/bin/python -m pytest -m "not slow" -n 2')


def test_benchmarks_count_their_approaches():
    from benchmarks.compare import APPROACHES

    words = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}
    text = (ROOT / "BENCHMARKS.md").read_text()
    assert f"runs {words[len(APPROACHES)]} ways" in text
    table = text.split("| approach | what it is |")[1].split("\n\n")[0]
    assert re.findall(r"^\| (\w+) \|", table, re.M) == list(APPROACHES)


def test_index_and_readme_link_every_page():
    nav = re.findall(r":\s+([\w/.-]+\.md)$", (ROOT / "mkdocs.yml").read_text(), re.M)
    index, readme = (ROOT / "docs" / "index.md").read_text(), (ROOT / "README.md").read_text()
    missing = [page for page in nav if page != "index.md" and f"]({page}" not in index]
    assert not missing, f"docs/index.md does not link {missing}"
    missing = [p for p in nav if p not in ("index.md", "changelog.md") and f"](docs/{p}" not in readme]
    assert not missing, f"README.md does not link {missing}"


def test_getting_started_lists_every_extra():
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    page = (ROOT / "docs" / "getting-started.md").read_text()
    missing = [extra for extra in config["options.extras_require"] if f"| `{extra}` |" not in page]
    assert not missing, f"docs/getting-started.md does not list the extras {missing}"


def test_mutation_table_adds_up():
    """docs/testing.md's mutation table: the `all` row is the sum of the others, the kill rates
    are what the counts give, and the prose names the same total."""
    text = (ROOT / "docs" / "testing.md").read_text()
    rows = [line for line in text.splitlines() if re.match(r"\| [^|]+ \| \d+ \|", line)]
    counts = {
        r.split("|")[1].strip(): [int(re.match(r"\s*(\d+)", c).group(1)) for c in r.split("|")[2:6]]
        for r in rows
    }
    total = counts.pop("all")
    assert total == [sum(column) for column in zip(*counts.values(), strict=True)]
    for row in rows:
        mutants, killed, _, equivalent = (int(re.match(r"\s*(\d+)", c).group(1)) for c in row.split("|")[2:6])
        assert row.split("|")[6].strip() == f"{killed / (mutants - equivalent):.0%}", row
    assert f"total to {total[0]} mutants" in text


ENV_NAME = re.compile(
    r"""(?:environ(?:\.\w+)?\(|environ\[|getenv\(|_ENV\s*=\s*\(?)\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def test_environment_reference_names_every_variable_the_code_reads():
    code = "\n".join(path.read_text() for path in (ROOT / "tuning").rglob("*.py"))
    read = set(ENV_NAME.findall(code)) | set(re.findall(r'"(RAY_TLS_\w+)"', code))
    read |= set(re.findall(r"environment\(\s*(\w+)=", code)) | set(re.findall(r"\b(MLFLOW_\w+)=", code))
    page = (ROOT / "docs" / "reference" / "environment.md").read_text()
    missing = sorted(name for name in read if f"`{name}`" not in page)
    assert len(read) >= 10 and not missing, f"docs/reference/environment.md lacks {missing}"


def test_changelog_names_the_version():
    import tuning

    assert f"\n## {tuning.__version__} - " in (ROOT / "CHANGELOG.md").read_text()


def test_benchmarks_prose_dates_every_table_as_its_header_does():
    """BENCHMARKS.md's list of its tables names each generated table once, with the date,
    machine and load its header line records."""
    text = (ROOT / "BENCHMARKS.md").read_text()
    listed = dict(re.findall(r"^- `([\w-]+)`: (\d{4}-\d\d-\d\d, [\w ]+, load [\d.]+)", text, re.M))
    assert sorted(listed) == sorted(bench_tables(text)), "the list and the generated tables differ"
    words = {4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight", 9: "Nine", 10: "Ten", 11: "Eleven"}
    assert f"{words[len(listed)]} generated tables" in text
    for table, said in listed.items():
        header = re.search(rf"benchmark:{table}:start -->\n###.*\n\n(.*)\n", text).group(1)
        date = re.search(r"— (\d{4}-\d\d-\d\d)T", header).group(1)
        machine = re.search(r"\d+ CPUs[^,]*, ([^,]+), load average ([\d.]+)", header)
        cpu = "Intel Xeon" if "Xeon" in machine.group(1) else machine.group(1)
        assert said == f"{date}, {cpu}, load {machine.group(2)}", (
            f"{table}: {said} vs its header {header[:200]}"
        )


def test_doc_samples_keeps_the_report_with_the_best_rows():
    """benchmarks.doc_samples (which refreshes the sample-run blocks) cuts a run's output as
    the pages show it: from the table, its best rows, ``...``, then the lines after it."""
    from benchmarks.doc_samples import sample

    block = next(b for b in BLOCKS if b.marker and b.marker[0] == "output-of-run")
    printed = "[tune] 6/6 done | 19 s in all\nBest model: results/churn/x/best_model.joblib\n" + block.text
    lines = sample(printed, rows=2).splitlines()
    table = block.text.splitlines()
    assert lines[:4] == [*table[:4], "..."][:4] and lines[4] == "..."
    assert lines[5:] == [line for line in table[9:] if line.strip()]
