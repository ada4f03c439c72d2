"""``data.reader``: Ray Data or this process reads and splits the rows; the same split either
way (scikit-learn's ``train_test_split``, row for row), the same one-line errors, and a choice
that the dry run states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import fetch_california_housing
from sklearn.model_selection import train_test_split

from tests.conftest import ROOT, experiment_dict
from tests.test_config import write
from tuning.config import DataConfig, SplitConfig, load_experiment, validate
from tuning.errors import ExperimentError
from tuning.planning.dry_run import data_line
from tuning.trial import data

READERS = ["ray_data", "in_process"]


# --------------------------------------------------------------------------- the choice


@pytest.mark.parametrize(
    ("source", "reader", "expected"),
    [
        pytest.param("california_housing", "auto", ("in_process", "a built-in data set"), id="builtin"),
        pytest.param("rows.csv", "auto", ("in_process", "a local file, read fastest"), id="local-file"),
        pytest.param("s3://bucket/rows.csv", "auto", ("ray_data", "a URI"), id="uri"),
        pytest.param("california_housing", "ray_data", ("ray_data", "data.reader: ray_data"), id="chosen"),
        pytest.param(
            "s3://bucket/rows.csv", "in_process", ("in_process", "data.reader: in_process"), id="uri-here"
        ),
    ],
)
def test_the_reader_and_why(tmp_path, source, reader, expected):
    if source == "rows.csv":
        source = tmp_path / source
        source.write_text("x,y\n" + "1,2\n" * 256)
    chosen, why = data.choose_reader(DataConfig(source=str(source), target="y", reader=reader))
    assert chosen == expected[0] and expected[1] in why


def test_the_dry_run_line_names_the_source_reader_and_reason():
    config = DataConfig(source="s3://bucket/rows.csv", target="y")
    assert (
        data_line(config)
        == "s3://bucket/rows.csv: Ray Data reads and splits (auto: a URI, read by Ray Data on the cluster)"
    )


def test_the_tutorial_reads_through_ray_data_and_the_dry_run_says_so():
    experiment = load_experiment(ROOT / "experiments" / "rf.yaml")
    assert experiment.data.reader == "ray_data"
    assert (
        data_line(experiment.data) == "california_housing: Ray Data reads and splits (data.reader: ray_data)"
    )


def test_a_bad_reader_names_its_key_line_and_the_choices(tmp_path):
    path = write(
        tmp_path, experiment_dict(tmp_path, data={"source": "california_housing", "reader": "spark"})
    )
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "reader:" in text)
    assert str(caught.value) == (
        f"{path}:{line}: data.reader must be one of 'auto', 'ray_data' or 'in_process'; got 'spark'"
    )


def test_the_reader_is_kept_in_the_resolved_experiment(tmp_path):
    experiment = validate(experiment_dict(tmp_path, data={"source": "wine", "reader": "in_process"}))
    assert experiment.resolved()["data"]["reader"] == "in_process"


# --------------------------------------------------------------------------- the same split


@pytest.mark.slow
def test_ray_data_makes_scikit_learns_split_of_the_tutorial(housing_split, ray_session):
    """The tutorial's split through Ray Data: scikit-learn's own train_test_split, to the bit."""
    through_ray = data.load_split(DataConfig(reader="ray_data"), SplitConfig(test_size=0.2), seed=201)
    X, y = fetch_california_housing(return_X_y=True)
    expected = train_test_split(X, y, test_size=0.2, random_state=201)
    got = (through_ray.X_train, through_ray.X_test, through_ray.y_train, through_ray.y_test)
    for ours, theirs in zip(got, expected, strict=True):
        assert ours.dtype == theirs.dtype and ours.flags.c_contiguous == theirs.flags.c_contiguous
        assert ours.tobytes() == theirs.tobytes()
    assert through_ray.fingerprint() == housing_split.fingerprint()  # and the in-process reader's


@pytest.mark.slow
@pytest.mark.parametrize("stratify", [True, False], ids=["stratified", "plain"])
def test_both_readers_split_a_classifiers_rows_alike(ray_session, stratify):
    config = {"source": "wine"}
    split = SplitConfig(test_size=0.25, stratify=stratify)
    ours = [data.load_split(DataConfig(**config, reader=r), split, seed=3, classifier=True) for r in READERS]
    assert ours[0].fingerprint() == ours[1].fingerprint() and ours[0].stratified == stratify
    X, y = data.builtin_frame("wine").drop(columns="target").to_numpy(), data.builtin_frame("wine")["target"]
    expected = train_test_split(
        X, y.to_numpy(), test_size=0.25, random_state=3, stratify=y if stratify else None
    )
    assert np.array_equal(ours[0].X_test, expected[1]) and np.array_equal(ours[0].y_train, expected[2])


@pytest.mark.slow
def test_both_readers_keep_a_frames_rows_and_index(ray_session):
    """Categories and gaps stay a DataFrame, with the row numbers train_test_split keeps."""
    cars = str(ROOT / "experiments" / "data" / "cars.csv")
    ours = [
        data.load_split(
            DataConfig(source=cars, target="price", reader=r), SplitConfig(test_size=0.25), seed=7
        )
        for r in READERS
    ]
    frame = pd.read_csv(cars)
    X_train, X_test, *_ = train_test_split(
        frame.drop(columns="price"), frame["price"], test_size=0.25, random_state=7
    )
    for split in ours:
        assert split.raw and list(split.X_train.index) == list(X_train.index)
        assert list(split.X_test.index) == list(X_test.index)
    assert ours[0].fingerprint() == ours[1].fingerprint()
    assert ours[0].X_train.dtypes.equals(ours[1].X_train.dtypes)


# --------------------------------------------------------------------------- the same errors


def _bad_source(tmp_path, case: str) -> tuple[str, str]:
    """A source that cannot be split, and the error every reader gives for it."""
    if case == "missing":
        source = str(tmp_path / "missing.csv")
        return source, f"data.source cannot read {source!r}: no such file"
    if case == "empty":
        (tmp_path / "empty.csv").write_bytes(b"")
        source = str(tmp_path / "empty.csv")
        return source, f"data.source must have rows; {source!r} is an empty file"
    if case == "header-only":
        (tmp_path / "header.csv").write_text("a,b,y\n")
        source = str(tmp_path / "header.csv")
        return source, f"data.source must have rows; {source!r} has none"
    if case == "corrupt-parquet":
        (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet at all")
        source = str(tmp_path / "broken.parquet")
        return source, f"data.source cannot read {source!r}: "
    if case == "missing-uri":
        source = f"file://{tmp_path}/nowhere/rows.csv"
        return source, f"data.source cannot read {source!r}: no such file"
    source = "nosuchscheme://bucket/rows.csv"
    return source, f"data.source cannot read {source!r}: "


BAD = ["missing", "empty", "header-only", "corrupt-parquet", "missing-uri", "unknown-scheme"]


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_the_same_one_line_error_from_either_reader(ray_session, tmp_path, case):
    source, expected = _bad_source(tmp_path, case)
    messages = []
    for reader in READERS:
        with pytest.raises(ExperimentError) as caught:
            data.load_split(DataConfig(source=source, target="y", reader=reader), SplitConfig(), seed=0)
        messages.append(str(caught.value))
    assert messages[0] == messages[1], messages
    assert messages[0].startswith(expected) and "\n" not in messages[0]
    assert len(messages[0]) > len(expected) or expected.endswith(("file", "none"))
