"""The split of `tuning.trial.data` in process: scikit-learn's ``train_test_split`` itself is the
reference (the tutorial's split), and each refusal is one line naming its key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from tuning.config import DataConfig, SplitConfig
from tuning.errors import ExperimentError
from tuning.trial import data

ROWS = 40
X = np.arange(ROWS * 2, dtype=float).reshape(ROWS, 2)
Y = np.arange(ROWS, dtype=float) / 3
LABELS = np.array([0, 1, 1, 2] * (ROWS // 4))


def refusal(call, *args) -> tuple[str, str]:
    with pytest.raises(ExperimentError) as caught:
        call(*args)
    return caught.value.key, str(caught.value)


@pytest.mark.parametrize(("test_size", "seed"), [(0.2, 201), (0.25, 7), (0.5, 0)])
def test_split_rows_is_train_test_split_with_the_seed(test_size, seed):
    parts = data.split_rows(X, Y, SplitConfig(test_size=test_size), seed, stratify=False)
    expected = train_test_split(X, Y, test_size=test_size, random_state=seed, shuffle=True)
    assert len(parts) == 4
    for got, want in zip(parts, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_stratified_split_keeps_each_class_share():
    # 3 folds: 8, 16 and 8 training rows of the classes fill them (2, 4 and 2 test rows would not)
    parts = data.split_rows(X, LABELS, SplitConfig(test_size=0.2, cv=3), 201, stratify=True)
    expected = train_test_split(X, LABELS, test_size=0.2, random_state=201, stratify=LABELS)
    for got, want in zip(parts, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert np.bincount(parts[3]).tolist() == [2, 4, 2]  # a quarter, a half, a quarter of 8 test rows


@pytest.mark.parametrize("labels", [None, LABELS])
def test_row_numbers_are_the_rows_split_rows_takes(labels):
    split = SplitConfig(test_size=0.2)
    train, test = data.row_numbers(ROWS, labels, split, 201)
    rows = np.arange(ROWS)
    want = train_test_split(
        rows, test_size=0.2, random_state=201, **({} if labels is None else {"stratify": labels})
    )
    np.testing.assert_array_equal(train, want[0])
    np.testing.assert_array_equal(test, want[1])
    X_train, X_test, *_ = data.split_rows(X, Y if labels is None else labels, split, 201, labels is not None)
    np.testing.assert_array_equal(X[train], X_train)
    np.testing.assert_array_equal(X[test], X_test)


@pytest.mark.parametrize("call", ["split_rows", "row_numbers"])
def test_too_few_test_rows_for_the_classes_is_refused(call):
    labels = np.array([0, 0, 1, 1, 2, 2])
    split = SplitConfig(test_size=0.1)  # one test row for three classes
    args = (np.zeros((6, 1)), labels, split, 1, True) if call == "split_rows" else (6, labels, split, 1)
    key, message = refusal(getattr(data, call), *args)
    assert key == "split.test_size"
    assert message == (
        "split.test_size must leave room for every class; The test_size = 1 should be greater or equal "
        "to the number of classes = 3"
    )


@pytest.mark.parametrize("labels", [np.array([0, 0, 1, 1, 2]), np.array(["a", "a", "b", "c", "c"])])
def test_a_class_of_one_row_cannot_be_stratified(labels):
    only = "2" if labels.dtype.kind == "i" else "'b'"
    for call, args in [
        (data.check_classes, (labels,)),
        (data.row_numbers, (5, labels, SplitConfig(test_size=0.4), 1)),
        (data.split_rows, (np.zeros((5, 1)), labels, SplitConfig(test_size=0.4), 1, True)),
    ]:
        assert refusal(call, *args) == (
            "data.target",
            f"data.target must have at least 2 rows of each class to stratify the split; class {only} "
            "has 1 (drop it, or set split.stratify: false)",
        )
    data.check_classes(np.array(["a", "a", "b", "b"]))  # two of each: accepted


def test_every_fold_needs_a_training_row_of_each_class():
    y_train = np.array([0, 0, 0, 1, 1])
    assert refusal(data.check_folds, y_train, SplitConfig(cv=3)) == (
        "data.target",
        "data.target must have at least 3 training rows of each class to fill every fold of split.cv: 3; "
        "class 1 has 2",
    )
    data.check_folds(y_train, SplitConfig(cv=2))
    # the least frequent class is named: 4, 2 and 1 rows
    assert refusal(data.check_folds, np.array([0, 0, 0, 0, 1, 1, 2]), SplitConfig(cv=3))[1].endswith(
        "class 2 has 1"
    )
    with pytest.raises(ExperimentError, match="class 2 has 2"):  # 4, 3 and 2 rows: the second has enough
        data.check_folds(np.array([0, 0, 0, 0, 1, 1, 1, 2, 2]), SplitConfig(cv=3))
    data.check_folds(y_train, SplitConfig())  # no folds: nothing to fill
    labels = np.array([0] * 8 + [1] * 4)  # 3 training rows of class 1 after a 0.25 test split
    with pytest.raises(ExperimentError, match="at least 4 training rows of each class"):
        data.split_rows(np.zeros((12, 1)), labels, SplitConfig(test_size=0.25, cv=4), 1, True)


@pytest.mark.parametrize(
    ("rows", "split", "refused"),
    [
        (10, SplitConfig(test_size=0.8), None),  # 8 test, 2 training: the fewest
        (10, SplitConfig(test_size=0.2), None),
        (10, SplitConfig(test_size=0.1), ("split.test_size", "got 0.1 of 10 rows (1 test, 9 training)")),
        (10, SplitConfig(test_size=0.85), ("split.test_size", "got 0.85 of 10 rows (9 test, 1 training)")),
        (10, SplitConfig(test_size=0.2, cv=4), None),
        (10, SplitConfig(test_size=0.2, cv=5), ("split.cv", "5 folds need 10 training rows; got 8")),
        (10, SplitConfig(test_size=0.2, cv=5, repeats=3), None),  # repeats fold all the rows
        (10, SplitConfig(test_size=0.2, cv=6, repeats=3), ("split.cv", "6 folds need 12 rows; got 10")),
    ],
)
def test_check_rows_leaves_two_rows_to_each_side_and_fold(rows, split, refused):
    if refused is None:
        data.check_rows(rows, split)
        return
    key, message = refusal(data.check_rows, rows, split)
    assert key == refused[0] and refused[1] in message
    if key == "split.test_size":
        assert message.startswith("split.test_size must leave rows to train on and to test on; ")
        assert message.endswith("; each needs at least 2")
    else:
        assert message.startswith("split.cv must leave at least 2 rows in each fold: ")


def test_split_frame_splits_a_frame_as_the_tutorial_does():
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "target": Y})
    split = data.split_frame(
        frame, DataConfig(source="rows.csv", target="target"), SplitConfig(test_size=0.2), 201
    )
    want = train_test_split(X, Y, test_size=0.2, random_state=201)
    for got, expected in zip((split.X_train, split.X_test, split.y_train, split.y_test), want, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert (split.features, split.target, split.raw, split.stratified) == (("a", "b"), "target", False, False)
    assert split.categorical == ()


def test_split_frame_stratifies_a_classifier_unless_told_not_to():
    words = np.array(["low", "mid", "high"])[LABELS]  # text labels: only a classifier's target can be text
    frame = pd.DataFrame({"a": X[:, 0], "label": words})
    source = DataConfig(source="rows.csv", target="label")
    stratified = data.split_frame(frame, source, SplitConfig(test_size=0.2), 201, classifier=True)
    plain = data.split_frame(frame, source, SplitConfig(test_size=0.2, stratify=False), 201, classifier=True)
    assert stratified.stratified and not plain.stratified
    np.testing.assert_array_equal(
        stratified.y_test, train_test_split(words, test_size=0.2, random_state=201, stratify=words)[1]
    )
    np.testing.assert_array_equal(plain.y_test, train_test_split(words, test_size=0.2, random_state=201)[1])
    numbers = pd.DataFrame({"a": X[:, 0], "label": LABELS})
    regression = data.split_frame(numbers, source, SplitConfig(test_size=0.2), 201)
    assert not regression.stratified  # only a classifier's split is stratified
    with pytest.raises(ExperimentError, match=r"data\.target"):
        data.split_frame(frame, source, SplitConfig(test_size=0.2), 201)  # a regressor's text target
    with pytest.raises(ExperimentError, match=r"split\.test_size must leave rows"):
        data.split_frame(frame.head(4), source, SplitConfig(test_size=0.2), 201, classifier=True)
