"""The Python API (`tuning.api`), the `tuning` command and a notebook, run as a user would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, experiment_dict
from tuning import ExperimentError, load_result, run_experiment

TUNING = Path(sys.executable).parent / "tuning"  # the console script of `pip install -e .`


def housing(rows: int = 600) -> pd.DataFrame:
    from sklearn.datasets import fetch_california_housing

    return fetch_california_housing(as_frame=True).frame.sample(rows, random_state=0)


def tiny(tmp_path: Path, **changes) -> dict:
    """Two forests of depth 2: a run in seconds."""
    small = {
        "estimator": {"class": "sklearn.ensemble.RandomForestRegressor", "params": {"max_depth": 2}},
        "space": {"n_estimators": [2, 4]},
    }
    return experiment_dict(tmp_path, **{**small, **changes})


def assert_matches_run_dir(result, runner: str) -> None:
    """Every field of a `Result` is what its run directory holds."""
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert result.summary == summary and summary["status"] == "complete"
    metric = summary["metric"]
    assert result.best_score == summary["best"][metric]
    assert result.best_params == summary["best_model"]["config"] == summary["best"]["config"]
    rows = summary["trials"][runner]
    assert len(result.trials) == len(rows) == 2
    for row in rows:
        (match,) = result.trials[result.trials["name"] == row["name"]].to_dict("records")
        assert match["n_estimators"] == row["config"]["n_estimators"]
        assert match[metric] == row["metrics"][metric] and match["duration_s"] == row["duration_s"]
    saved = joblib.load(result.run_dir / "best_model.joblib")
    X = np.random.default_rng(0).random((5, len(summary["split"]["features"])))
    frame = pd.DataFrame(X, columns=summary["split"]["features"])
    assert np.array_equal(result.best_model.predict(frame), saved.predict(frame))


def event_tags(folder: Path) -> dict[str, set[str]]:
    """The scalar tags and plugins (HParams: ``hparams``) of a trial folder's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    plugins = {metadata.plugin_data.plugin_name for metadata in events.summary_metadata.values()}
    return {"scalars": set(events.Tags()["scalars"]), "plugins": plugins}


def test_bad_dict_is_rejected_like_a_file(tmp_path):
    raw = tiny(tmp_path, resources={"num_cpus": 0})
    with pytest.raises(ExperimentError, match=r"^<dict>: resources.num_cpus must be greater than 0; got 0$"):
        run_experiment(raw)
    with pytest.raises(ExperimentError, match=r"^--set: split.test_size must be less than 1; got 2$"):
        run_experiment(tiny(tmp_path), overrides={"split.test_size": 2})
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(ExperimentError, match=r"exp.yaml:\d+: resources.num_cpus must be greater than 0"):
        run_experiment(path)
    assert not (tmp_path / "results").exists()


def test_data_needs_a_target_or_arrays(tmp_path):
    with pytest.raises(ExperimentError, match=r"data\.target must name the target column when data= is a"):
        run_experiment(tiny(tmp_path), data=housing(50))
    with pytest.raises(ExperimentError, match="data=: must be a pandas DataFrame or"):
        run_experiment(tiny(tmp_path), data=[1, 2, 3])
    with pytest.raises(ExperimentError, match="y must be one value per row of X"):
        run_experiment(tiny(tmp_path), data=(np.zeros((5, 2)), np.zeros(4)))


def test_api_import_starts_nothing():
    code = "import sys; from tuning import run_experiment, load_result, Result; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_in_memory_rows_split_like_the_file(housing_split):
    from sklearn.datasets import fetch_california_housing

    from tuning.config import DataConfig, SplitConfig
    from tuning.trial.data import split_frame

    frame = fetch_california_housing(as_frame=True).frame
    split = split_frame(frame, DataConfig(), SplitConfig(test_size=0.2), 201)
    assert split.fingerprint() == housing_split.fingerprint()


@pytest.mark.slow
def test_api_on_a_dataframe_and_on_arrays(tmp_path, ray_session):
    df = housing()
    result = run_experiment(tiny(tmp_path, runner="both"), data=df, target="MedHouseVal")
    assert_matches_run_dir(result, "tune")
    assert result.compare["identical"].all() and len(result.compare) == 2
    saved = yaml.safe_load((result.run_dir / "experiment.yaml").read_text())
    assert saved["data"] == {
        "source": "memory://DataFrame",
        "target": "MedHouseVal",
        "features": None,
        "reader": "auto",
    }
    assert "<b>small</b>: complete" in result._repr_html_()
    tune_tags, sequential_tags = (
        event_tags(Path(result.summary["trials"][r][0]["path"])) for r in ("tune", "sequential")
    )
    assert sequential_tags["scalars"] == {f"ray/tune/{m}" for m in ("mse", "rmse", "mae", "r2", "fit_time_s")}
    assert sequential_tags["scalars"] <= tune_tags["scalars"]
    assert "hparams" in sequential_tags["plugins"] and "hparams" in tune_tags["plugins"]
    loaded = load_result(result.run_dir)
    assert loaded.summary == result.summary and loaded.best_params == result.best_params
    pd.testing.assert_frame_equal(loaded.trials, result.trials)
    pd.testing.assert_frame_equal(loaded.compare, result.compare)

    X, y = df.drop(columns="MedHouseVal").to_numpy(), df["MedHouseVal"].to_numpy()
    again = run_experiment(tiny(tmp_path), data=(X, y), runner="sequential")  # the same Ray, joined
    assert_matches_run_dir(again, "sequential")
    assert again.summary["split"]["features"] == [f"x{i}" for i in range(X.shape[1])]
    assert again.summary["cluster"]["address"] == result.summary["cluster"]["address"]
    assert again.compare is None
    # the same rows, the same split: the same scores whichever way the rows came in
    assert again.best_score == result.best_score


def console(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(TUNING), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_tuning_version_and_bad_input():
    from tuning import __version__

    assert TUNING.is_file(), "pip install -e . installs the `tuning` command"
    version = console("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"tuning {__version__}"
    bad = console("run", "no_such.yaml")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: no_such.yaml: experiment file not found"
    assert console("run", "--help").stdout.startswith("usage: tuning run")


@pytest.mark.slow
def test_tuning_run_inspect_report(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(tiny(tmp_path), sort_keys=False))
    ran = console("run", str(path), "--runner", "sequential", "--num-cpus", "1")
    assert ran.returncode == 0, ran.stderr[-2000:]
    (run_dir,) = (tmp_path / "results" / "small").iterdir()
    shown = console("inspect", str(run_dir))
    best = json.loads((run_dir / "summary.json").read_text())["best"]["mse"]
    assert shown.returncode == 0 and f"{best:.4f}" in shown.stdout
    (run_dir / "report.html").unlink()
    report = console("report", str(run_dir))
    assert report.returncode == 0 and report.stdout.strip() == str(run_dir / "report.html")
    assert (run_dir / "report.html").is_file()


NOTEBOOK = [
    "import pandas as pd\nfrom sklearn.datasets import fetch_california_housing\n"
    "from tuning import run_experiment\n"
    "df = fetch_california_housing(as_frame=True).frame.sample(400, random_state=0)",
    "experiment = {{'name': 'nb', 'estimator': {{'params': {{'max_depth': 2}}}}, "
    "'space': {{'n_estimators': [2, 4, 6]}}, 'storage_path': {storage!r}}}\n"
    "result = run_experiment(experiment, data=df, target='MedHouseVal', num_cpus=2)",
    "again = run_experiment(experiment, data=df, target='MedHouseVal')  # the same kernel: Ray is reused",
    "again",
    "again.plot()",
]


@pytest.mark.slow
def test_a_notebook_runs_top_to_bottom(tmp_path):
    import nbclient
    import nbformat

    cells = [nbformat.v4.new_code_cell(source.format(storage=str(tmp_path))) for source in NOTEBOOK]
    notebook = nbformat.v4.new_notebook(cells=cells)
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}}
    ).execute()
    printed = [
        "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        for cell in notebook.cells
    ]
    for cell, text in zip(notebook.cells[1:3], printed[1:3], strict=True):
        assert "[tune] " not in text, text  # no printed line per trial: one output, updated in place
        assert "Trial status" not in text and "Tune" not in text.replace("Ray Tune: ", ""), text
        shown = [o["data"] for o in cell.outputs if o.output_type == "display_data"]
        (line,) = [d["text/plain"] for d in shown if d.get("text/plain", "").startswith("[tune] ")]
        assert re.fullmatch(r"\[tune\] 3/3 done \| best mse \d\.\d{4} \(n_estimators=\d\) \| .+ in all", line)
        assert all(d.get("text/html", "x").strip() for d in shown), shown  # no empty HTML output
    assert "error" not in "".join(o.output_type for c in notebook.cells for o in c.outputs)
    (html,) = [o["data"]["text/html"] for o in notebook.cells[3].outputs if "data" in o]
    assert "<b>nb</b>: complete" in html and "n_estimators" in html
    (plots,) = [o["data"]["text/html"] for o in notebook.cells[4].outputs if "data" in o]
    assert (
        plots.count("<img ") == plots.count("<h4>") >= 3
        and "<h4>mse against each searched parameter" in plots
    )
    assert len(list((tmp_path / "nb").iterdir())) == 2
    assert os.environ.get("SCIKIT_LEARN_DATA")  # the kernel read the cached data set


def test_a_command_ends_its_process_with_mains_code_and_its_objects_frozen(monkeypatch):
    import gc

    from tuning import cli

    monkeypatch.setattr(cli, "main", lambda: 3)
    try:
        with pytest.raises(SystemExit) as ended:
            cli.console()  # the `tuning` command's entry point: main, then exit_process
        assert ended.value.code == 3
        assert gc.get_freeze_count() > 0  # left out of the interpreter's last collections
    finally:
        gc.unfreeze()
