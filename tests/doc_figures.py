"""Every measured figure the README and the docs quote, and where it comes from.

`tests/test_docs.py` checks each entry (the figure is on its page, and its source gives it)
and that a page quotes no figure this registry lacks. Sources:

- `Bench`: a cell of a generated table of BENCHMARKS.md (``<!-- benchmark:ID:start -->``),
  or a figure computed from such cells;
- `Code`: a constant of the package or the tests (a rule, a default, a tolerance);
- `Example`: not a measurement: a value shown as an input or a format;
- `Measured`: taken by the named command on the named date but not (yet) a table of
  BENCHMARKS.md; the lead's list of figures to re-take or move into a table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = re.compile(
    r"<!-- benchmark:(?P<id>[\w-]+):start -->\n(?P<body>.*?)<!-- benchmark:(?P=id):end -->", re.S
)


def bench_tables(text: str | None = None) -> dict[str, dict[str, dict[str, str]]]:
    """BENCHMARKS.md's generated tables: table id -> first column's value -> column -> cell."""
    text = (ROOT / "BENCHMARKS.md").read_text() if text is None else text
    tables = {}
    for match in TABLE.finditer(text):
        rows = [line for line in match.group("body").splitlines() if line.startswith("|")]
        header = [cell.strip() for cell in rows[0].strip("|").split("|")]
        tables[match.group("id")] = {
            cells[0]: dict(zip(header, cells, strict=True))
            for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows[2:])
        }
    return tables


def cell(table: str, row: str, column: str) -> float:
    """A number of a BENCHMARKS.md table (units and ``x``/``%`` stripped)."""
    return float(re.sub(r"[^\d.]", "", bench_tables()[table][row][column]))


@dataclass(frozen=True)
class Figure:
    page: str  # relative to the repository root
    quoted: str  # exactly as the page writes it
    source: Bench | Code | Example | Measured


@dataclass(frozen=True)
class Bench:
    compute: Callable[[], str]  # the figure as the page should quote it, from BENCHMARKS.md's tables
    what: str

    def expected(self) -> str:
        return self.compute()


@dataclass(frozen=True)
class Code:
    compute: Callable[[], str]  # the figure from the constant it states
    what: str

    def expected(self) -> str:
        return self.compute()


@dataclass(frozen=True)
class Example:
    what: str

    def expected(self) -> None:
        return None


@dataclass(frozen=True)
class Measured:
    command: str
    date: str

    def expected(self) -> None:
        return None


TASKS_BENCH = Measured(
    "python -m benchmarks.compare --experiment experiments/mccv_linear.yaml (BENCHMARKS.md, tasks-*)",
    "2026-12-03",
)
SELECT_RUN = Measured("python -m tuning.run experiments/rf_select.yaml", "2026-12-03")


def _s(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f} s"


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _trial_seconds() -> str:
    from tuning.trial.validation import TRIAL_SECONDS

    return f"{TRIAL_SECONDS:g} s"


def _wait_s() -> str:
    from tuning.planning.cluster import DEFAULT_WAIT_S

    return f"{DEFAULT_WAIT_S:g} s"


def _connect_s() -> str:
    from tuning.planning.cluster import CONNECT_TIMEOUT_S

    return f"{CONNECT_TIMEOUT_S:g} s"


def _mlflow_check_s() -> str:
    from tuning.runners.tracking.mlflow import CHECK_TIMEOUT_S

    return f"{CHECK_TIMEOUT_S:g} s"


def _gpu_rtol() -> str:
    from benchmarks.gpu import RTOL

    return f"{RTOL:.0%}"


def _tutorial_tolerance() -> str:
    source = (ROOT / "tests" / "test_trial.py").read_text()
    rel = float(re.search(r"TUTORIAL_MSE\[n_estimators\], rel=([\d.]+)", source).group(1))
    return f"{rel:.1%}"


E2E = "end-to-end-2cpu"
RF = "rf-2cpu"
RF_COLD = "rf-2cpu-fresh"
MCCV = "mccv_linear-2cpu"
MCCV_1000 = "mccv_linear-1000-2cpu"
TRIAL = "trial phase s (median)"


def _behind(table: str, row: str, than: str) -> str:
    """How far this runner's trial phase is behind another approach's, in percent."""
    return f"{cell(table, 'project_tune', TRIAL) / cell(table, than, TRIAL) - 1:.0%}"


ASHA = Measured("PYTHONPATH=$PWD python benchmarks/asha_vs_grid.py --repeats 3", "2026-11-23")
SUITE = Measured("python -m pytest (the whole suite, 2 cores, CI: `issues ci`)", "2026-12-03")
SUITE_HERE = Measured("python -m pytest (.ci/run's main part on a fresh clone, 2 idle cores)", "2026-12-03")
STARTUP = Measured(
    "python -m benchmarks.startup --rounds 3 (BENCHMARKS.md, where a Tune run's trial phase goes)",
    "2026-11-23",
)
MUTATION = Measured("mutmut run --max-children 2 (docs/testing.md)", "2026-11-30")
MUTATION_27 = Measured(
    "mutmut run --max-children 1, stopping.py, then validation.py (docs/testing.md)", "2026-12-03"
)
MUTATION_27_EVENING = Measured(
    "mutmut run --max-children 1, metrics.py, then the split and the schema's defaults (docs/testing.md)",
    "2026-12-03",
)

FIGURES: list[Figure] = [
    # README.md
    Figure("README.md", "88%", Bench(lambda: bench_tables()[RF]["project_tune"]["efficiency"], "efficiency")),
    Figure(
        "README.md", "7%", Bench(lambda: _behind(RF, "project_tune", "gridsearchcv"), "behind GridSearchCV")
    ),
    Figure("README.md", "0.5 s", Code(_trial_seconds, "a chunk of repeats lasts at least this")),
    Figure("README.md", "12.1 s", Bench(lambda: _s(cell(E2E, "rf_shared", "end to end s")), "rf_shared e2e")),
    Figure("README.md", "38.3 s", Bench(lambda: _s(cell(E2E, "loop", "end to end s")), "loop e2e")),
    Figure("README.md", "0.32x", Bench(lambda: _x(cell(E2E, "rf_shared", "vs loop")), "rf_shared vs loop")),
    Figure("README.md", "46.0 s", Bench(lambda: _s(cell(E2E, "rf", "end to end s")), "rf e2e")),
    # docs/benchmarks.md
    Figure("docs/benchmarks.md", "0.5 s", Code(_trial_seconds, "chunk rule")),
    Figure("docs/benchmarks.md", "3 s", STARTUP),
    Figure(
        "docs/benchmarks.md",
        "88%",
        Bench(lambda: bench_tables()[RF]["project_tune"]["efficiency"], "efficiency"),
    ),
    Figure(
        "docs/benchmarks.md",
        "7%",
        Bench(lambda: _behind(RF, "project_tune", "gridsearchcv"), "behind GridSearchCV"),
    ),
    Figure(
        "docs/benchmarks.md",
        "6%",
        Bench(lambda: _behind(RF_COLD, "project_tune", "loop_all_cores"), "cold: behind the loop"),
    ),
    # docs/faq.md
    Figure("docs/faq.md", "35.28 s", Bench(lambda: _s(cell(RF, "project_tune", TRIAL), 2), "project runner")),
    Figure("docs/faq.md", "62.48 s", Bench(lambda: _s(cell(RF, "sequential", TRIAL), 2), "sequential")),
    Figure("docs/faq.md", "1.77x", Bench(lambda: bench_tables()[RF]["project_tune"]["speedup"], "speedup")),
    Figure(
        "docs/faq.md", "88%", Bench(lambda: bench_tables()[RF]["project_tune"]["efficiency"], "efficiency")
    ),
    Figure("docs/faq.md", "3 s", STARTUP),
    Figure("docs/faq.md", "0.47 s", Bench(lambda: _s(cell(MCCV, "sequential", TRIAL), 2), "MCCV sequential")),
    Figure("docs/faq.md", "3.00 s", Bench(lambda: _s(cell(MCCV, "project_tune", TRIAL), 2), "MCCV Tune")),
    Figure(
        "docs/faq.md", "6.81 s", Bench(lambda: _s(cell(MCCV_1000, "sequential", TRIAL), 2), "MCCV 1000 seq")
    ),
    Figure(
        "docs/faq.md",
        "8.48 s",
        Bench(lambda: _s(cell(MCCV_1000, "project_tune", TRIAL), 2), "MCCV 1000 Tune"),
    ),
    Figure("docs/faq.md", "600 s", Code(_wait_s, "the default wait for a cluster's node")),
    # docs/how-to
    Figure("docs/how-to/clusters.md", "600 s", Code(_wait_s, "the default wait for a cluster's node")),
    Figure("docs/how-to/errors.md", "10 s", Code(_connect_s, "the address probe's timeout")),
    Figure("docs/how-to/tracking.md", "5 s", Code(_mlflow_check_s, "the MLflow server check's timeout")),
    Figure("docs/how-to/gpus.md", "126 MiB", Example("the size of XGBoost's CUDA wheel on PyPI")),
    Figure("docs/how-to/gpus.md", "5 MiB", Example("the size of the xgboost-cpu wheel on PyPI")),
    Figure("docs/how-to/gpus.md", "1%", Code(_gpu_rtol, "benchmarks.gpu's CPU/GPU tolerance")),
    Figure("docs/how-to/own-data.md", "0.5 s", Code(_trial_seconds, "chunk rule")),
    Figure("docs/how-to/errors.md", "8 MB", Example("the free space a run keeps (RESERVE_BYTES)")),
    Figure("docs/how-to/errors.md", "1.0 MB", Example("a sample message's free space")),
    Figure("docs/how-to/runners.md", "0.99x", TASKS_BENCH),
    Figure("docs/how-to/runners.md", "1.04x", TASKS_BENCH),
    Figure("docs/how-to/runners.md", "1.12x", TASKS_BENCH),
    Figure("docs/how-to/runners.md", "1.3x", Example("issue 34's target over plain Ray Core")),
    Figure("docs/how-to/selection.md", "0.046 s", SELECT_RUN),
    Figure("docs/how-to/selection.md", "0.119 s", SELECT_RUN),
    Figure("docs/how-to/selection.md", "46.4 MB", SELECT_RUN),
    Figure("docs/how-to/selection.md", "92.9 MB", SELECT_RUN),
    Figure("docs/how-to/selection.md", "95%", Example("the interval's level")),
    Figure("docs/reference/experiment.md", "1%", Example("what a tolerance of 0.01 means")),
    Figure("docs/how-to/runs.md", "100%", Example("the definition of efficiency: every core busy")),
    Figure("docs/how-to/runs.md", "250 KB", Measured("ls -l results/quick/*/report.html", "2026-11-30")),
    Figure("docs/how-to/search.md", "30%", ASHA),
    Figure("docs/how-to/search.md", "39.1 s", ASHA),
    Figure("docs/how-to/search.md", "0.67x", ASHA),
    Figure("docs/how-to/search.md", "58.5 s", ASHA),
    Figure("docs/how-to/search.md", "1.00x", ASHA),
    Figure("docs/how-to/search.md", "66.8 s", ASHA),
    Figure("docs/how-to/search.md", "1.14x", ASHA),
    Figure("docs/how-to/search.md", "64%", ASHA),
    Figure("docs/how-to/search.md", "90s", Example("a search.stop.time value")),
    Figure("docs/how-to/search.md", "98%", Example("the form of the text report's Importance line")),
    Figure("docs/reference/experiment.md", "90s", Example("a search.stop.time value")),
    Figure(
        "docs/how-to/shared-fits.md",
        "3.4 s",
        Measured("the refit a kept fit saves (BENCHMARKS.md, rf refit)", "2026-11-30"),
    ),
    Figure(
        "docs/how-to/shared-fits.md",
        "38.3 s",
        Bench(lambda: _s(cell(E2E, "loop", "end to end s")), "loop e2e"),
    ),
    Figure(
        "docs/how-to/shared-fits.md", "46.0 s", Bench(lambda: _s(cell(E2E, "rf", "end to end s")), "rf e2e")
    ),
    Figure(
        "docs/how-to/shared-fits.md", "1.20x", Bench(lambda: _x(cell(E2E, "rf", "vs loop")), "rf vs loop")
    ),
    Figure(
        "docs/how-to/shared-fits.md",
        "12.1 s",
        Bench(lambda: _s(cell(E2E, "rf_shared", "end to end s")), "shared e2e"),
    ),
    Figure(
        "docs/how-to/shared-fits.md", "0.32x", Bench(lambda: _x(cell(E2E, "rf_shared", "vs loop")), "shared")
    ),
    Figure(
        "docs/how-to/shared-fits.md",
        "6.1 s",
        Bench(lambda: _s(cell(E2E, "rf_shared", "trial phase s")), "phase"),
    ),
    Figure(
        "docs/how-to/shared-fits.md",
        "36.2 s",
        Bench(lambda: _s(cell(E2E, "loop", "trial phase s")), "loop phase"),
    ),
    Figure("docs/concepts.md", "0.5 s", Code(_trial_seconds, "chunk rule")),
    # docs/testing.md (contributing): the suite's own figures
    Figure("docs/testing.md", "1.5%", Code(_tutorial_tolerance, "tests/test_trial.py's tolerance")),
    Figure("docs/testing.md", "35 min", SUITE),
    Figure("docs/testing.md", "30 min", SUITE_HERE),
    Figure("docs/testing.md", "13 s", SUITE_HERE),
    Figure("docs/testing.md", "3 s", SUITE),
    Figure(
        "docs/testing.md", "6 s", Measured("python -m pytest -p no:xdist tests/test_units_*.py", "2026-11-30")
    ),
    Figure("docs/testing.md", "0.2 s", MUTATION),
    Figure("docs/testing.md", "7.4 min", MUTATION),
    Figure("docs/testing.md", "4 min", MUTATION),
    Figure("docs/testing.md", "3.8 min", MUTATION_27),
    Figure("docs/testing.md", "34 min", MUTATION_27),
    Figure("docs/testing.md", "3.6 min", MUTATION_27_EVENING),
    Figure("docs/testing.md", "7.6 min", MUTATION_27_EVENING),
    Figure("docs/testing.md", "100%", Example("kill rates: computed from the mutation table (checked)")),
]
