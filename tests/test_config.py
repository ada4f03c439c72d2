"""The experiment schema: good files load, bad ones name the file, line and key."""

from __future__ import annotations

import ast
import graphlib
import re
import subprocess
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, experiment_dict
from tuning.config import load_experiment, validate
from tuning.errors import ExperimentError


def write(tmp_path: Path, raw: dict | str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_experiments_are_valid_and_resolve_without_warnings(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run prints no warning its user did not cause
        experiment = load_experiment(path)
        resolved = experiment.resolved()  # what the run saves beside its results
    assert validate(resolved) == experiment  # the saved experiment reads back as the same one


def test_tutorial_experiment_is_the_tutorials_grid():
    experiment = load_experiment(ROOT / "experiments" / "rf.yaml")
    assert experiment.space == {"n_estimators": {"grid": list(range(8, 88, 4))}}
    assert len(experiment.space["n_estimators"]["grid"]) == 20
    assert (experiment.split.test_size, experiment.split.seed, experiment.seed) == (0.2, 201, 201)
    assert experiment.resources.num_cpus == 1
    assert experiment.estimator.class_path == "sklearn.ensemble.RandomForestRegressor"


def test_defaults_are_filled_and_saved(tmp_path):
    experiment = validate(experiment_dict(tmp_path, metric="r2"))
    assert experiment.mode == "max"
    resolved = experiment.resolved()
    assert resolved["estimator"]["class"] == "sklearn.ensemble.RandomForestRegressor"
    assert resolved["split"] == {
        "test_size": 0.2,
        "seed": 201,
        "cv": None,
        "repeats": None,
        "stratify": True,
        "validation_size": None,
    }
    assert validate(resolved) == experiment


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ([3, 1, 2], {"grid": [3, 1, 2]}),
        ({"start": 8, "stop": 20, "step": 4}, {"grid": [8, 12, 16]}),
        ({"start": 0.1, "stop": 0.4, "step": 0.1}, {"grid": [0.1, 0.2, 0.3]}),
        ({"choice": ["sqrt", 1.0]}, {"choice": ["sqrt", 1.0]}),
        ({"randint": [2, 10]}, {"randint": [2, 10]}),
    ],
)
def test_space_forms(tmp_path, spec, values):
    name = (
        "max_features"
        if "choice" in str(spec)
        else "min_samples_leaf"
        if "0.1" in str(spec)
        else "n_estimators"
    )
    assert validate(experiment_dict(tmp_path, space={name: spec})).space[name] == values


def test_overrides_are_validated_like_the_file(tmp_path):
    path = write(tmp_path, experiment_dict(tmp_path))
    experiment = load_experiment(path, ["resources.num_cpus=2", "space.n_estimators=[5, 6]"])
    assert experiment.resources.num_cpus == 2
    assert experiment.space["n_estimators"] == {"grid": [5, 6]}
    with pytest.raises(ExperimentError, match=r"^--set: resources.num_cpus must be greater than 0; got 0$"):
        load_experiment(path, ["resources.num_cpus=0"])


BAD = [
    # (change to the small experiment, expected message after "<file>:<line>: ")
    (
        {"resourcez": {"num_cpus": 1}},
        r"resourcez is not a known key \(did you mean 'resources'\?\); valid keys: name, ",
    ),
    ({"resources": {"num_cpus": -1}}, r"resources.num_cpus must be greater than 0; got -1"),
    ({"resources": {"num_cpus": float("nan")}}, r"resources.num_cpus must be a finite number; got nan"),
    ({"resources": {"num_gpus": 1.5}}, r"resources.num_gpus must be a whole number when above 1 .*; got 1.5"),
    ({"resources": {"num_cpus": "two"}}, r"resources.num_cpus must be a valid number; got 'two'"),
    (
        {"space": {"n_estimators": []}},
        r"space.n_estimators must be a non-empty list of grid values; got \[\]",
    ),
    (
        {"space": {"n_estimators": [4, 4]}},
        r"space.n_estimators must not repeat a grid value \(4 is repeated\)",
    ),
    ({"space": {"n_estimators": {"start": 9, "stop": 8}}}, r"space.n_estimators must give a non-empty grid"),
    ({"space": {}}, r"space must have at least 1 parameter to search; got \{\} \(or set split.repeats"),
    (
        {"metric": "accuracy"},
        r"metric must be a regression metric for RandomForestRegressor .*; got 'accuracy'",
    ),
    ({"mode": "best"}, r"mode must be one of 'min' or 'max'; got 'best'"),
    ({"split": {"test_size": 1.5}}, r"split.test_size must be less than 1; got 1.5"),
    ({"name": "../escape"}, r"name must be 1-100 letters, digits.*; got '../escape'"),
    (
        {"estimator": {"class": "sklearn.ensemble.NoSuchForest"}},
        r"estimator.class must be an importable class",
    ),
    (
        {"estimator": {"class": "os.system"}},
        r"estimator.class must be an estimator class; it is a builtin_function",
    ),
    (
        {"estimator": {"class": "tests.helpers.not_a_class"}},
        r"estimator.class must be an estimator class; it is a function",
    ),
    (
        {"estimator": {"class": "collections.OrderedDict"}},
        r"estimator.class must be a scikit-learn-style estimator class; it has no fit, predict, get_params",
    ),
    (
        {"estimator": {"params": {"n_estimatorz": 3}}},
        r"estimator.params.n_estimatorz is not a parameter of RandomForestRegressor"
        r" \(did you mean 'n_estimators'\?\)",
    ),
    (
        {"estimator": {"params": {"max_depth": -3}}},
        r"estimator.params.max_depth must be an int in the range \[1, inf\) or None; got -3",
    ),
    (
        {"space": {"n_estimators": [4, 0]}},
        r"space.n_estimators must be an int in the range \[1, inf\); got 0",
    ),
    ({"space": {"max_featurez": [1.0]}}, r"space.max_featurez is not a parameter of RandomForestRegressor"),
    (
        {"data": {"source": "missing.csv", "target": "y"}},
        r"data.source must be a built-in data set .*no such file",
    ),
    ({"data": {"source": "rows.csv"}}, r"data.target must name the target column when data.source is a file"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[str(b[0])[:40] for b in BAD])
def test_bad_values_name_file_line_and_key(tmp_path, change, message):
    path = write(tmp_path, experiment_dict(tmp_path, **change))
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    assert info.value.where and info.value.where.startswith(f"{path}:"), str(info.value)
    assert int(info.value.where.rsplit(":", 1)[1]) >= 1
    assert len(str(info.value).splitlines()) == 1
    rest = str(info.value).split(": ", 1)[1]
    assert __import__("re").match(message, rest), rest


def test_line_number_points_at_the_key(tmp_path):
    path = write(tmp_path, "name: x\nspace:\n  n_estimators: [4]\nresources:\n  num_cpus: 0\n")
    with pytest.raises(
        ExperimentError, match=r"exp.yaml:5: resources.num_cpus must be greater than 0; got 0$"
    ):
        load_experiment(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nspace: [unclosed\n", r"exp.yaml:3: invalid YAML"),
        ("- just\n- a list\n", r"exp.yaml: the top level must be a mapping of keys; got list"),
        ("", r"exp.yaml: the top level must be a mapping of keys; got an empty file"),
        (
            "name: x\nname: y\nspace: {n_estimators: [4]}\n",
            r"exp.yaml:2: name must appear once; it is repeated",
        ),
    ],
)
def test_malformed_files(tmp_path, text, message):
    with pytest.raises(ExperimentError, match=message):
        load_experiment(write(tmp_path, text))


def test_missing_file():
    with pytest.raises(ExperimentError, match=r"^nope.yaml: experiment file not found$"):
        load_experiment("nope.yaml")


def test_config_and_package_never_import_ray():
    code = (
        "import sys, tuning, tuning.config; tuning.load_experiment('experiments/rf.yaml');"
        " print('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_runner_settings_are_the_runner_names_settings():
    """The schema's ``runner`` literal (kept literal for the JSON Schema) is `tuning.runner_names.RUNNERS`'
    settings, each runs the baseline first, and the named orders hold each runner once."""
    from typing import get_args

    from tuning.config.schema import Experiment
    from tuning.runner_names import ALL, IN_ORDER, PARALLEL, RUNNERS, SEQUENTIAL, SHOWN_FIRST, TUNE

    assert set(get_args(Experiment.model_fields["runner"].annotation)) == set(RUNNERS)
    assert Experiment.model_fields["runner"].default == TUNE
    assert RUNNERS[ALL] == IN_ORDER == tuple(reversed(SHOWN_FIRST))
    assert {name for ran in RUNNERS.values() for name in ran} == set(IN_ORDER)
    assert all(ran[0] == SEQUENTIAL for ran in RUNNERS.values() if len(ran) > 1)
    assert SEQUENTIAL not in PARALLEL and set(PARALLEL) | {SEQUENTIAL} == set(IN_ORDER)


def tuning_modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__.py``)."""
    modules = {}
    for path in sorted((ROOT / "tuning").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


# Each module imported with no module of the package loaded before it (a circle or a missing
# import shows), in one interpreter: the libraries stay loaded, so it takes seconds, not minutes.
IMPORT_EACH = """
import importlib, sys, traceback
failed = {}
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "tuning" or m.startswith("tuning.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc()
print(repr(failed))
"""


def test_every_module_imports_on_its_own():
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH, *tuning_modules()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "{}", out.stdout


def run_at_import(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when a module is imported: not in functions, not for type checkers."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from run_at_import(node.orelse)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for block in ("body", "orelse", "finalbody"):  # if, try, with, for, class bodies
                yield from run_at_import(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from run_at_import(handler.body)


def imported_modules(
    name: str, path: Path, modules: set[str], nodes: Iterable[ast.Import | ast.ImportFrom]
) -> set[str]:
    """The package's modules that ``nodes`` import: ``from tuning.config import X`` is the package's
    ``__init__`` (so a submodule importing its own package is a circle), unless X is a submodule."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:  # relative: level 1 is this module's package
            anchor = package.rsplit(".", node.level - 1)[0]
            base = f"{anchor}.{base}".rstrip(".")
        found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return (found & modules) - {name}


def test_no_module_level_import_circle():
    modules = tuning_modules()
    graph = {
        name: imported_modules(name, path, set(modules), run_at_import(ast.parse(path.read_text()).body))
        for name, path in modules.items()
    }
    assert {"tuning.config.schema", "tuning.config.checks"} <= graph["tuning.config.loading"]  # parsed
    assert "tuning.estimators.classes" in graph["tuning.config.checks"]
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"module-level import circle: {' imports '.join(reversed(exc.args[1]))}")


def test_estimator_imports_nothing_from_config():
    path = ROOT / "tuning" / "estimators" / "classes.py"
    everywhere = [
        n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))
    ]
    imported = imported_modules("tuning.estimators.classes", path, set(tuning_modules()), everywhere)
    assert not {m for m in imported if m.startswith("tuning.config")}, imported


def test_code_is_ruff_clean():
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "tuning", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_defaults_resolve_without_warnings(tmp_path):
    """A file that leaves ``resources`` out still saves its resolved form silently."""
    raw = experiment_dict(tmp_path)
    del raw["resources"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolved = validate(raw).resolved()
    assert resolved["resources"]["num_cpus"] == 1


def layout_floors() -> dict[str, int]:
    """docs/testing.md's layout: module path -> the number of the ``### Floor N`` heading it is under."""
    text = (ROOT / "docs" / "testing.md").read_text()
    section = text[text.index("## Layout") :].split("\n## ")[0]
    floors = {}
    for number, body in re.findall(r"^### Floor (\d+):.*?\n(.*?)(?=^### |\Z)", section, flags=re.M | re.S):
        for cell in re.findall(r"^\| (.+?) \|", body, flags=re.M):
            paths = re.findall(r"`([\w/.]+\.py)`", cell)
            folder = paths[0].rsplit("/", 1)[0] if paths else ""
            floors.update({p if "/" in p else f"{folder}/{p}": int(number) for p in paths})
    return floors


def test_imports_run_down_the_floors():
    """Every import of every module, at the top of a file or inside a function, is of a module on
    the same floor of docs/testing.md's layout or one below: the data flows one way."""
    floors = layout_floors()
    assert set(floors.values()) == set(range(1, 9)) and floors["tuning/trial/fit.py"] == 4

    def floor(path: Path) -> int:
        if path.name != "__init__.py":
            return floors[str(path.relative_to(ROOT))]
        folder = str(path.parent.relative_to(ROOT))
        inside = [f for p, f in floors.items() if p.startswith(f"{folder}/")]
        return 8 if folder == "tuning" else min(inside)  # a package's face: with its lowest module

    modules = tuning_modules()
    up = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
        for imported in imported_modules(name, path, set(modules), nodes):
            if floor(modules[imported]) > floor(path):
                up.append(
                    f"{name} (floor {floor(path)}) imports {imported} (floor {floor(modules[imported])})"
                )
    assert not up, up


def test_no_function_is_over_60_lines():
    """Every function of the package, docstring included, fits in 60 lines: a reader sees it whole."""
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in (ROOT / "tuning").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60
    ]
    assert not long, long


def test_layout_table_names_every_module():
    """The layout table (docs/testing.md) names each module of the package, and only real files."""
    text = (ROOT / "docs" / "testing.md").read_text()
    start = text.index("## Layout")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]  # to the next section, or the end of the page
    named = set()
    for cell in re.findall(r"^\| (.+?) \|", section, flags=re.M):
        paths = re.findall(r"`([\w/.]+\.py)`", cell)
        folder = paths[0].rsplit("/", 1)[0] if paths else ""
        named.update(p if "/" in p else f"{folder}/{p}" for p in paths)
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "tuning").rglob("*.py") if p.name != "__init__.py"}
    assert named == modules


def function_local_imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, ast.stmt | None]]:
    """Each import inside a function (nested blocks too), with the statement before it in its block."""
    seen: set[int] = set()
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            for block in ("body", "orelse", "finalbody"):
                statements = getattr(node, block, None)
                if not isinstance(statements, list):
                    continue
                for before, statement in zip([None, *statements], statements, strict=False):
                    if isinstance(statement, (ast.Import, ast.ImportFrom)) and id(statement) not in seen:
                        seen.add(id(statement))
                        yield statement, before


def unexplained_imports(source: str) -> tuple[int, list[int]]:
    """How many function-local imports ``source`` has, and the lines of those with no reason: a
    comment on the import's lines or the line above, or a run of imports headed by one with it."""
    lines, explained, silent, total = source.splitlines(), set(), [], 0
    for node, before in function_local_imports(ast.parse(source)):
        total += 1
        own = any("#" in line for line in lines[node.lineno - 1 : node.end_lineno])
        above = node.lineno > 1 and lines[node.lineno - 2].lstrip().startswith("#")
        grouped = id(before) in explained and before.end_lineno == node.lineno - 1
        if own or above or grouped:
            explained.add(id(node))
        else:
            silent.append(node.lineno)
    return total, silent


def test_every_function_local_import_says_why():
    """An import inside a function says why it is not at the top of its module (Ray on first use,
    an optional extra, import cost, a circle): an import that needn't be local moves up."""
    sample = "def f():\n    import a  # heavy\n    import b\n\n    import c\n    # a circle\n    import d\n"
    assert unexplained_imports(sample) == (4, [5])
    total, silent = 0, []
    for path in sorted((ROOT / "tuning").rglob("*.py")):
        count, lines = unexplained_imports(path.read_text())
        total += count
        silent += [f"{path.relative_to(ROOT)}:{line}" for line in lines]
    assert total > 50 and not silent, silent


@pytest.mark.parametrize(
    ("metric", "mode", "right", "better"),
    [
        ("neg_mean_squared_error", "min", "max", "higher"),  # scikit-learn's neg_* scorers: greater is better
        ("mse", "max", "min", "lower"),
        ("r2", "min", "max", "higher"),
    ],
)
def test_a_mode_against_the_metrics_direction_is_refused(tmp_path, metric, mode, right, better):
    with pytest.raises(ExperimentError) as info:
        validate(experiment_dict(tmp_path, metric=metric, mode=mode))
    assert info.value.key == "mode"
    assert str(info.value) == (
        f"<experiment>: mode must be {right} for metric {metric} ({better} is better; or leave mode out); "
        f"got {mode}"
    )
    assert validate(experiment_dict(tmp_path, metric=metric, mode=right)).mode == right
