"""Bad input a reliability probe fed the real command line (issue 33): each is refused in one
line naming the field, flag or file, with exit code 2, and nothing is written.

Every case runs ``python -m tuning.run`` in a subprocess with ``storage_path`` under the
test's folder, so `assert_rejected` can see a run directory that should not be there.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import yaml

from tests.conftest import experiment_dict
from tests.test_cli import assert_rejected, cli, write

BUILTIN_TARGET = "MedHouseVal"  # california_housing's target column

BAD_SETTINGS = [
    pytest.param(
        {"data": {"features": ["MedInc", BUILTIN_TARGET]}},
        f"data.features must not list the target column {BUILTIN_TARGET!r}",
        id="target-in-features-builtin",
    ),
    pytest.param({"seed": -1}, "seed must be greater than or equal to 0; got -1", id="seed-negative"),
    pytest.param(
        {"seed": 2**70}, f"seed must be less than or equal to {2**32 - 1}; got {2**70}", id="seed-huge"
    ),
    pytest.param(
        {"split": {"seed": -5}}, "split.seed must be greater than or equal to 0; got -5", id="split-seed"
    ),
    pytest.param(
        {"estimator": {"steps": [{"class": "sklearn.linear_model.Ridge", "parms": {}}]}},
        "estimator.steps.0.parms is not a known key (did you mean 'params'?); "
        "valid keys: name, class, params",
        id="nested-steps-key",
    ),
    pytest.param(
        {
            "space": {},
            "estimator": {"choice": {"r": {"class": "sklearn.linear_model.Ridge", "spaces": {}}}},
        },
        "estimator.choice.r.spaces is not a known key (did you mean 'space'?); valid keys: class, params, "
        "steps, space",
        id="nested-choice-key",
    ),
    pytest.param(
        {"search": {"stop": {"trails": 3}}},
        "search.stop.trails is not a known key (did you mean 'trials'?); valid keys: time, trials, plateau, "
        "target",
        id="nested-stop-key",
    ),
    pytest.param(
        {"space": {"n_estimators": {"start": 1, "stop": 10**9 + 1}}},
        "space.n_estimators must have at most 1000 values (range(1, 1000000001, 1) has 1000000000)",
        id="huge-range",
    ),
    pytest.param(
        {"space": {"n_estimators": {"start": 0.0, "stop": 1.0, "step": 1e-12}}},
        "space.n_estimators must have at most 1000 values (range(0.0, 1.0, 1e-12) has 1000000000000)",
        id="huge-float-range",
    ),
    pytest.param(
        {
            "space": {
                "n_estimators": {"start": 1, "stop": 101},
                "max_depth": {"start": 1, "stop": 101},
                "min_samples_leaf": {"start": 1, "stop": 101},
            }
        },
        "space must expand to at most 10000 trials; got 1000000 (100 n_estimators x 100 max_depth "
        "x 100 min_samples_leaf)",
        id="huge-grid-product",
    ),
    pytest.param(
        {"space": {"n_estimators": [4, 8]}, "search": {"num_samples": 10**9}},
        "search.num_samples must make at most 10000 trials; got 2000000000 (1000000000 samples x 2 grid "
        "points)",
        id="huge-num-samples",
    ),
    pytest.param(
        {
            "space": {"max_features": {"uniform": [0.1, 1.0]}},
            "search": {"algorithm": "random", "num_samples": 10**7},
        },
        "search.num_samples must make at most 10000 trials; got 10000000",
        id="huge-random-search",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD_SETTINGS)
def test_bad_settings_are_refused_in_one_line(tmp_path, change, message):
    path = write(tmp_path, experiment_dict(tmp_path, **change))
    assert_rejected(cli("tuning.run", str(path)), message, tmp_path)


def test_target_listed_in_the_features_of_a_file_is_refused(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i % 7},{i * 3}\n" for i in range(40)))
    raw = experiment_dict(tmp_path, data={"source": str(csv), "target": "y", "features": ["a", "y"]})
    result = cli("tuning.run", str(write(tmp_path, raw)))
    assert_rejected(result, "data.features must not list the target column 'y' (leakage", tmp_path)


def test_a_dry_run_of_a_huge_grid_answers_at_once(tmp_path):
    """10^9 values used to be built in memory (OOM-killed at 24 GB); now counted, then refused."""
    raw = experiment_dict(tmp_path, space={"n_estimators": {"start": 1, "stop": 10**9 + 1}})
    start = time.monotonic()
    result = cli("tuning.run", str(write(tmp_path, raw)), "--dry-run", timeout=60)
    assert time.monotonic() - start < 30  # the interpreter's start and imports, not 10^9 values
    assert_rejected(result, "space.n_estimators must have at most 1000 values", tmp_path)


ALIAS_BOMB = """\
name: bomb
storage_path: {storage}
a: &a [x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
space: {{n_estimators: *i}}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            ALIAS_BOMB,
            "exp.yaml: the file must expand to at most 1000000 values; "
            "its aliases (*name) repeat nodes to 926177121",
            id="alias-bomb",
        ),
        pytest.param(
            "name: loop\nstorage_path: {storage}\nspace: &s {{n_estimators: *s}}\n",
            "exp.yaml:3: the file must not contain an alias inside its own anchor",
            id="recursive-alias",
        ),
    ],
)
def test_yaml_that_expands_without_bound_is_refused_fast(tmp_path, text, message):
    path = write(tmp_path, text.format(storage=tmp_path / "results"))
    start = time.monotonic()
    result = cli("tuning.run", str(path), timeout=60)
    assert time.monotonic() - start < 30  # 9^9 values were built for 104 s before a MemoryError
    assert_rejected(result, message, tmp_path)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(
            ["--num-cpus", "-1"], "--num-cpus must be a number greater than 0; got -1", id="cpus-negative"
        ),
        pytest.param(
            ["--num-cpus", "nan"], "--num-cpus must be a number greater than 0; got nan", id="cpus-nan"
        ),
        pytest.param(
            ["--num-cpus", "0"], "--num-cpus must be a number greater than 0; got 0", id="cpus-zero"
        ),
        pytest.param(
            ["--num-cpus", "inf"], "--num-cpus must be a number greater than 0; got inf", id="cpus-inf"
        ),
        pytest.param(
            ["--num-gpus", "-1"], "--num-gpus must be a number at least 0; got -1", id="gpus-negative"
        ),
        pytest.param(["--num-gpus", "nan"], "--num-gpus must be a number at least 0; got nan", id="gpus-nan"),
        pytest.param(
            ["--wait-for-cluster", "nan"],
            "--wait-for-cluster must be a number at least 0; got nan",
            id="wait-nan",
        ),
    ],
)
def test_bad_resource_flags_are_blamed_on_the_flag(tmp_path, flags, message):
    path = write(tmp_path, experiment_dict(tmp_path))
    result = cli("tuning.run", str(path), *flags)
    assert_rejected(result, message, tmp_path)
    assert "resources.num_cpus" not in result.stderr  # the file is not at fault


def _fifo(tmp_path):
    path = tmp_path / "rows.csv"
    os.mkfifo(path)
    return path


def _folder(tmp_path):
    path = tmp_path / "rows.csv"
    path.mkdir()
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(_fifo, "is a named pipe (FIFO), not a regular file", id="fifo"),
        pytest.param(_folder, "is a folder, not a file", id="folder"),
        pytest.param(lambda _: "/dev/null", "is a device, not a regular file", id="device"),
    ],
)
def test_a_data_source_that_is_not_a_regular_file_is_named_as_such(tmp_path, make, message):
    """A FIFO would block the reader forever; none of these is "no such file"."""
    source = make(tmp_path)
    raw = experiment_dict(tmp_path, data={"source": str(source), "target": "y"})
    result = cli("tuning.run", str(write(tmp_path, raw)), timeout=60)
    assert_rejected(
        result, f"data.source must be a regular CSV/Parquet file; {str(source)!r} {message}", tmp_path
    )
    assert "no such file" not in result.stderr


def _rows(n: int, target=lambda i: i * 3) -> str:
    return "a,b,y\n" + "".join(f"{i},{i % 7},{target(i)}\n" for i in range(n))


BAD_DATA = [
    pytest.param(
        b"caf\xe9,b,y\n1,2,3\n4,5,6\n",
        {},
        "rows.csv': it is not UTF-8 text (byte 0xe9 on line 1); save it as UTF-8",
        id="latin-1-header",
    ),
    pytest.param(
        ("a,b,y\n" + "".join(f"r\xe9{i},{i},{i * 2}\n" for i in range(30))).encode("latin-1"),
        {},
        "rows.csv': it is not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8",
        id="latin-1-values",
    ),
    pytest.param(
        b"a,a,y\n" + "".join(f"{i},{i},{i}\n" for i in range(30)).encode(),
        {},
        "data.source must have one column of each name; 'a' appears 2 times in '",
        id="duplicate-columns",
    ),
    pytest.param(
        _rows(30, lambda i: "inf" if i == 4 else i).encode(),
        {},
        "data.target must be finite numbers; 'y' has 1 infinite value (drop those rows first)",
        id="inf-target",
    ),
    pytest.param(
        b"a,b,y\n" + "".join(f"{'-inf' if i == 2 else i},{i},{i}\n" for i in range(30)).encode(),
        {},
        "data.features must be finite numbers or missing; column 'a' has 1 infinite value",
        id="inf-feature",
    ),
    pytest.param(
        _rows(30, lambda i: 5).encode(),
        {},
        "data.target must vary (a constant has nothing to learn and r2 is undefined); "
        "'y' is 5 in all 30 rows",
        id="constant-target",
    ),
    pytest.param(
        _rows(2).encode(),
        {},
        "split.test_size must leave rows to train on and to test on; got 0.2 of 2 rows (1 test, 1 training);"
        " each needs at least 2",
        id="two-rows",
    ),
    pytest.param(
        _rows(40).encode(),
        {"test_size": 0.0001},
        "split.test_size must leave rows to train on and to test on; got 0.0001 of 40 rows (1 test, 39 "
        "training); each needs at least 2",
        id="one-test-row",
    ),
    pytest.param(
        _rows(10).encode(),
        {"cv": 5},
        "split.cv must leave at least 2 rows in each fold: 5 folds need 10 training rows; got 8",
        id="cv-too-few-rows",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("content", "split", "message"), BAD_DATA)
def test_bad_data_is_refused_before_any_trial(tmp_path, content, split, message):
    """Found when the rows are read (after Ray starts), before the run directory is made."""
    csv = tmp_path / "rows.csv"
    csv.write_bytes(content)
    raw = experiment_dict(
        tmp_path,
        data={"source": str(csv), "target": "y"},
        estimator={"class": "sklearn.linear_model.Ridge"},
        space={"alpha": [0.1, 1.0]},
        split=split,
    )
    result = cli("tuning.run", str(write(tmp_path, raw)), "--runner", "sequential", "--num-cpus", "1")
    assert_rejected(result, message, tmp_path)


def damaged_run(tmp_path, summary: bytes | None, state: bytes | None = None, pickle: bytes | None = None):
    """A run directory as the tool leaves it (experiment.yaml first), with damaged files."""
    from tuning.config import validate

    raw = experiment_dict(
        tmp_path, data={"source": "iris"}, estimator={"class": "sklearn.linear_model.LogisticRegression"}
    )
    raw["space"] = {"C": [0.1, 1.0]}
    run_dir = tmp_path / "results" / "small" / "2026-01-01_00-00-00"
    run_dir.mkdir(parents=True)
    saved = {**validate(raw).resolved(), "runner": "tune"}
    (run_dir / "experiment.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    for name, content in (
        ("summary.json", summary),
        ("experiment_state-2026-01-01_00-00-00.json", state),
        ("tuner.pkl", pickle),
    ):
        if content is not None:
            (run_dir / name).write_bytes(content)
    return run_dir


def snapshot(folder) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time: what a refusal must not change."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


INTERRUPTED = json.dumps({"status": "interrupted", "counts": {"trials": 2}}).encode()
EMPTY_STATE = json.dumps({"trial_data": [], "runner_data": {}, "stats": {}}).encode()
DAMAGED = [
    pytest.param(
        b'{\n  "status": "complete",\n  "best": {"ms',
        None,
        "summary.json: cannot be read: it is not valid JSON",
        id="cut-summary",
    ),
    pytest.param(
        b"\xff\xfe{}",
        None,
        "summary.json: cannot be read: it is not UTF-8 text (byte 0xff at offset 0)",
        id="not-utf8",
    ),
    pytest.param(
        b"[1, 2]",
        None,
        "summary.json: cannot be read: it holds a list, not a summary",
        id="summary-not-a-mapping",
    ),
]


INSPECT_ONLY = [  # the report reads summary.json alone
    pytest.param(
        None,
        b'{"trial_data": [["{\\n  \\"stub',
        "is not whole JSON, and no whole copy (.experiment_state.good.json) is kept",
        id="cut-experiment-state",
    ),
]


@pytest.mark.parametrize(
    ("command", "summary", "state", "message"),
    [
        pytest.param(c, *p.values, id=f"{p.id}-{c}")
        for c in ("tuning.inspect", "tuning.report")
        for p in DAMAGED
    ]
    + [pytest.param("tuning.inspect", *p.values, id=p.id) for p in INSPECT_ONLY],
)
def test_inspect_and_report_name_a_damaged_file(tmp_path, command, summary, state, message):
    run_dir = damaged_run(tmp_path, summary, state)
    before = snapshot(run_dir)
    result = cli(command, str(run_dir))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {run_dir}") and message in line, line
    assert "Traceback" not in result.stderr and snapshot(run_dir) == before  # no report.html


def test_resume_names_a_damaged_summary_before_starting(tmp_path):
    run_dir = damaged_run(tmp_path, b'{"status": "interr')
    before = snapshot(run_dir)
    result = cli("tuning.run", "--resume", str(run_dir))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line == (
        f"error: {run_dir}/summary.json: cannot be read: it is not valid JSON (Unterminated string starting "
        "at: line 1, column 12); the file is damaged"
    )
    assert snapshot(run_dir) == before


@pytest.mark.slow
@pytest.mark.parametrize(
    ("state", "pickle", "message"),
    [
        pytest.param(
            b'{"trial_data": [',
            b"garbage",
            "is not whole JSON, and no whole copy (.experiment_state.good.json) is kept",
            id="cut-state",
        ),
        pytest.param(
            EMPTY_STATE,
            b"garbage",
            "cannot be read: Tune's saved state (tuner.pkl, experiment_state-*.json) is "
            "damaged (UnpicklingError",
            id="garbage-tuner-pkl",
        ),
    ],
)
def test_resume_of_a_damaged_tune_state_is_refused_in_one_line(tmp_path, state, pickle, message):
    run_dir = damaged_run(tmp_path, INTERRUPTED, state, pickle)
    before = snapshot(run_dir)
    result = cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "1")
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    ("resources", "flags", "message"),
    [
        pytest.param(
            {"num_cpus": 1000},
            ["--num-cpus", "2"],
            "resources.num_cpus must be at most 2, the CPUs of this machine, where the sequential runner "
            "fits "
            "its trials one at a time; got 1000",
            id="cpus",
        ),
        pytest.param(
            {"num_cpus": 1, "num_gpus": 1},
            ["--num-cpus", "2", "--num-gpus", "0"],
            "resources.num_gpus must be at most 0, the GPUs of this machine, where the sequential runner "
            "fits "
            "its trials (it has none); got 1",
            id="gpus",
        ),
    ],
)
def test_the_sequential_runner_refuses_what_this_machine_lacks(tmp_path, resources, flags, message):
    """The baseline runs in this process: 1000 CPUs would be n_jobs=1000 on 2 cores."""
    path = write(tmp_path, experiment_dict(tmp_path, resources=resources, runner="sequential"))
    assert_rejected(cli("tuning.run", str(path), "--dry-run", *flags), message, tmp_path)


@pytest.mark.slow
def test_a_failing_trial_prints_one_line_per_failure_and_keeps_the_traceback_in_its_log(tmp_path):
    """Tune retried a deterministic error and printed a Ray traceback for each failure (3 with
    the default max_failures 2); now one line each, the traceback in the trial's error.txt."""
    raw = experiment_dict(
        tmp_path,
        estimator={"class": "tests.helpers.SleepyRegressor"},
        space={"n_estimators": [1], "fail": [True]},
        max_failures=1,
        refit=False,
    )
    result = cli("tuning.run", str(write(tmp_path, raw)), "--num-cpus", "1")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    failed = [line for line in result.stderr.splitlines() if "ValueError: this configuration fails" in line]
    assert len(failed) == 2, result.stderr  # the first try and its one retry
    assert all("failed: ValueError" in line and "error.txt" in line for line in failed), failed
    (error_txt,) = (tmp_path / "results").rglob("error.txt")
    log = error_txt.read_text()  # Ray's traceback: the frames, down to the line that raised
    assert log.count("Failure # ") == 2 and 'raise ValueError("this configuration fails at fit time")' in log


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("name: small\nmetric: [mse\n", "it is not valid YAML", id="cut"),
        pytest.param("- a list\n", "it is not a saved experiment (no name, metric and mode)", id="not-saved"),
    ],
)
def test_inspect_names_a_damaged_saved_experiment(tmp_path, text, message):
    run_dir = damaged_run(tmp_path, None)
    (run_dir / "experiment.yaml").write_text(text)
    result = cli("tuning.inspect", str(run_dir))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {run_dir}/experiment.yaml: cannot be read: {message}"), line
