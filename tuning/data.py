"""Rows in through Ray Data, out as one seeded train/test split shared by every trial."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.csv
import pyarrow.parquet
import sklearn.datasets
from pandas.api.types import is_float_dtype, is_numeric_dtype
from sklearn.datasets import get_data_home
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import type_of_target

from tuning.config import BUILTIN_DATASETS, DataConfig, SplitConfig
from tuning.errors import ExperimentError

DIRECT_READ_BYTES = 64 * 2**20  # local files up to this size skip Ray Data's start-up


@dataclass(frozen=True)
class Split:
    """The materialised split: put in Ray's object store once, read by every trial."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    features: tuple[str, ...]
    target: str
    categorical: tuple[str, ...] = ()  # non-numeric feature columns, encoded in the trial's pipeline
    raw: bool = False  # X_* are DataFrames (categories or missing values) that a pipeline prepares
    stratified: bool = False  # a classifier's split: folds and re-splits keep each class's share

    def fingerprint(self) -> dict[str, object]:
        """Row counts and a hash of the arrays, to tell whether two runs saw the same split."""
        digest = hashlib.sha256()
        for array in (self.X_train, self.y_train, self.X_test, self.y_test):
            if isinstance(array, pd.DataFrame) or array.dtype == object:  # e.g. string labels
                array = pd.util.hash_pandas_object(pd.DataFrame(array), index=False).to_numpy()
            digest.update(np.ascontiguousarray(array).tobytes())
        return {
            "train_rows": len(self.y_train),
            "test_rows": len(self.y_test),
            "features": list(self.features),
            "target": self.target,
            "categorical": list(self.categorical),
            "sha256": digest.hexdigest(),
        }

    def frame(self, X):
        """``X`` as a DataFrame with the feature names (what a saved model is fitted on)."""
        return X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=list(self.features))


def read_frame(data: DataConfig) -> pd.DataFrame:
    """The configured rows as a DataFrame, in file order.

    Ray Data reads remote URIs and large files (partitioned, in parallel on the cluster);
    a built-in data set and a local file up to `DIRECT_READ_BYTES` are read here, where a
    Ray Data pipeline would only add its start-up (the rows and the split are the same).
    """
    if data.builtin:
        return builtin_frame(data.source)
    if "://" not in data.source and os.path.getsize(data.source) <= DIRECT_READ_BYTES:
        return _read_local(data.source)
    return read_dataset(data).to_pandas()


def _read_local(path: str) -> pd.DataFrame:
    """A local CSV or Parquet file through pyarrow, the reader Ray Data itself uses."""
    if os.path.getsize(path) == 0:
        raise ExperimentError(f"must have rows; {path!r} is an empty file", key="data.source")
    csv = not path.lower().endswith((".parquet", ".pq"))
    try:
        table = pyarrow.csv.read_csv(path) if csv else pyarrow.parquet.read_table(path)
        binary = any(pyarrow.types.is_binary(field.type) for field in table.schema)
        if csv and binary and (reason := _not_utf8(path)):  # pyarrow reads non-UTF-8 text as bytes
            raise ExperimentError(f"cannot read {path!r}: {reason}", key="data.source")
        return table.to_pandas()
    except (pyarrow.ArrowException, OSError, UnicodeDecodeError) as exc:
        reason = (csv and _not_utf8(path)) or _reason(exc)
        raise ExperimentError(f"cannot read {path!r}: {reason}", key="data.source") from None


def _not_utf8(path: str) -> str | None:
    """Where a local text file stops being UTF-8 (what CSV readers read), or None if it is UTF-8."""
    with open(path, "rb") as handle:
        data = handle.read(DIRECT_READ_BYTES + 1)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= DIRECT_READ_BYTES - 4:  # the read cut a character: what was read is UTF-8
            return None
        line = data.count(b"\n", 0, exc.start) + 1
        return (
            f"it is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8, "
            "e.g. iconv -f latin1 -t utf-8 if it is Latin-1"
        )
    return None


def read_dataset(data: DataConfig):
    """A Ray Dataset of the configured rows, in a deterministic order."""
    import ray.data  # heavy: Ray Data only when rows are read

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the split must not depend on scheduling
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if data.builtin:
        return ray.data.from_pandas(builtin_frame(data.source))
    reader = ray.data.read_parquet if data.source.lower().endswith((".parquet", ".pq")) else ray.data.read_csv
    if "://" not in data.source and os.path.getsize(data.source) == 0:
        raise ExperimentError(f"must have rows; {data.source!r} is an empty file", key="data.source")
    quiet = logging.getLogger("ray.data")
    level, quiet.level = quiet.level, logging.CRITICAL  # the one-line error below says it all
    try:
        dataset = reader(data.source)
        dataset.schema()  # read now, so a bad file fails here with its own message
    except Exception as exc:  # Ray wraps pyarrow's and the filesystem's errors
        local = "://" not in data.source
        reason = (local and _not_utf8(data.source)) or _reason(exc)
        raise ExperimentError(f"cannot read {data.source!r}: {reason}", key="data.source") from None
    finally:
        quiet.setLevel(level)
    return dataset


def _reason(exc: BaseException) -> str:
    """The line of a (Ray-wrapped) read error that says what is wrong with the file."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z.]*(Error|Exception|Invalid)\b", line)]
    return (errors or lines or [type(exc).__name__])[-1][:300]


def builtin_frame(name: str) -> pd.DataFrame:
    """A built-in data set's rows: features and target (``sklearn.datasets``' own loader)."""
    try:
        return getattr(sklearn.datasets, BUILTIN_DATASETS[name].loader)(as_frame=True).frame
    except OSError as exc:  # URLError and socket errors are OSErrors
        raise ExperimentError(
            f"cannot download the California housing data and no copy is cached in "
            f"{get_data_home()} ({exc}); connect once, or set SCIKIT_LEARN_DATA to a folder "
            "holding cal_housing_py3.pkz",
            key="data.source",
        ) from None


def load_split(data: DataConfig, split: SplitConfig, seed: int, classifier: bool = False) -> Split:
    """Read the rows through Ray Data and split them with scikit-learn's seeded shuffle.

    ``train_test_split(test_size, random_state=seed)`` on Ray Data's ordered rows is
    the tutorial's split, row for row, whatever the number of blocks or workers. A
    ``classifier``'s target is class labels, and its split is stratified unless
    ``split.stratify`` is false (`split_rows`).
    """
    return split_frame(read_frame(data), data, split, seed, classifier)


def split_frame(
    frame: pd.DataFrame, data: DataConfig, split: SplitConfig, seed: int, classifier: bool = False
) -> Split:
    """Check the rows' target and features, and split them as `load_split` does (rows in memory)."""
    if frame.empty:
        raise ExperimentError(f"must have rows; {data.source!r} has none", key="data.source")
    repeated = frame.columns[frame.columns.duplicated()]
    if len(repeated):
        name = repeated[0]
        raise ExperimentError(
            f"must have one column of each name; {name!r} appears {list(frame.columns).count(name)} times "
            f"in {data.source!r}",
            key="data.source",
        )
    target = data.target_column
    if target not in frame.columns:
        raise ExperimentError(
            f"must be a column of {data.source!r}; got {target!r}; columns: {', '.join(frame.columns)}",
            key="data.target",
        )
    features = list(data.features or [c for c in frame.columns if c != target])
    unknown = [c for c in features if c not in frame.columns]
    if unknown:
        raise ExperimentError(
            f"must be columns of {data.source!r}; got {unknown}; columns: {', '.join(frame.columns)}",
            key="data.features",
        )
    if not classifier and not is_numeric_dtype(frame[target]):
        raise ExperimentError(
            f"must be a numeric column (the estimators are regressors); {target!r} is {frame[target].dtype}",
            key="data.target",
        )
    if frame[target].isna().any():
        raise ExperimentError(
            f"must have no missing values; {target!r} has {int(frame[target].isna().sum())} "
            "(drop those rows first)",
            key="data.target",
        )
    check_finite(frame, target, features, classifier)
    categorical = tuple(c for c in features if not is_numeric_dtype(frame[c]))
    for column in features:  # one dtype and one missing marker (NaN) whatever the reader produced
        if column in categorical:  # CSV readers give "" for an empty text field
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna() & (values.astype(str).str.strip() != ""), np.nan)
        else:
            frame[column] = frame[column].astype(np.float64)
    raw = bool(categorical) or bool(frame[features].isna().any().any())
    # All numeric and complete: plain float arrays, exactly as the tutorial. Otherwise the
    # DataFrame columns as read; the trial's pipeline imputes and encodes them.
    X = frame[features] if raw else frame[features].to_numpy(dtype=np.float64)
    y = class_labels(frame[target]) if classifier else frame[target].to_numpy(dtype=np.float64)
    check_rows(len(y), split)
    stratify = classifier and split.stratify
    X_train, X_test, y_train, y_test = split_rows(X, y, split, seed, stratify)
    return Split(X_train, X_test, y_train, y_test, tuple(features), target, categorical, raw, stratify)


def check_finite(frame: pd.DataFrame, target: str, features: list[str], classifier: bool) -> None:
    """No infinite value in a numeric column, and a regression target that varies."""
    for column, key in [(target, "data.target"), *((c, "data.features") for c in features)]:
        values = frame[column]
        if not is_numeric_dtype(values) or values.dtype == bool:
            continue
        infinite = int(np.isinf(values.to_numpy(dtype=np.float64)).sum())
        if infinite:
            what = f"{column!r} has" if key == "data.target" else f"column {column!r} has"
            plural = "s" if infinite != 1 else ""
            raise ExperimentError(
                f"must be finite numbers{'' if key == 'data.target' else ' or missing'}; {what} "
                f"{infinite} infinite value{plural} (drop those rows first)",
                key=key,
            )
    if not classifier and frame[target].nunique() == 1:
        raise ExperimentError(
            f"must vary (a constant has nothing to learn and r2 is undefined); {target!r} is "
            f"{frame[target].iloc[0]:g} in all {len(frame)} rows",
            key="data.target",
        )


def class_labels(column: pd.Series) -> np.ndarray:
    """A classifier's target as labels: strings, booleans or integers as they are (a float
    column of whole numbers as integers); `ExperimentError` unless there are two classes or more."""
    name = column.name
    values = column.to_numpy()
    if is_float_dtype(column):
        if not np.all(np.mod(values, 1) == 0):
            example = next(v for v in values if v % 1)
            raise ExperimentError(
                f"must hold class labels (strings, booleans or integers) for a classifier; {name!r} "
                f"has fractional numbers such as {example:g} (a regression target: use a regressor)",
                key="data.target",
            )
        values = values.astype(np.int64)
    elif values.dtype != object and not np.issubdtype(values.dtype, np.integer) and values.dtype != bool:
        values = values.astype(object)  # e.g. pandas' string dtype: labels as Python strings
    try:
        kind = type_of_target(values)
    except (TypeError, ValueError):  # e.g. strings mixed with numbers
        kind = "unknown"
    classes = pd.Series(values).value_counts()
    if kind not in ("binary", "multiclass") or len(classes) < 2:
        got = f"one class, {_label(classes.index[0])!r}" if len(classes) == 1 else f"{kind} values"
        raise ExperimentError(
            f"must hold at least two classes of one type (strings, booleans or integers) for a "
            f"classifier; {name!r} has {got}",
            key="data.target",
        )
    return values


def split_rows(X, y, split: SplitConfig, seed: int, stratify: bool):
    """``train_test_split`` of the rows; stratified: each class keeps its share of both parts,
    and has rows enough for that and for every fold of ``split.cv``."""
    if not stratify:
        return train_test_split(X, y, test_size=split.test_size, random_state=seed, shuffle=True)
    classes = pd.Series(y).value_counts()
    if classes.iloc[-1] < 2:
        raise ExperimentError(
            f"must have at least 2 rows of each class to stratify the split; class "
            f"{_label(classes.index[-1])!r} has {classes.iloc[-1]} (drop it, or set split.stratify: false)",
            key="data.target",
        )
    try:
        parts = train_test_split(X, y, test_size=split.test_size, random_state=seed, stratify=y)
    except ValueError as exc:  # e.g. fewer test rows than classes
        raise ExperimentError(f"must leave room for every class; {exc}", key="split.test_size") from None
    if split.cv:
        trained = pd.Series(parts[2]).value_counts()
        if trained.iloc[-1] < split.cv:
            raise ExperimentError(
                f"must have at least {split.cv} training rows of each class to fill every fold of "
                f"split.cv: {split.cv}; class {_label(trained.index[-1])!r} has {trained.iloc[-1]}",
                key="data.target",
            )
    return parts


def _label(value):
    """A class label as Python writes it (``3``, not ``np.int64(3)``)."""
    return value.item() if isinstance(value, np.generic) else value


MIN_SCORED_ROWS = 2  # the fewest rows a score is taken on: r2 of one row is undefined (NaN)


def check_rows(n_rows: int, split: SplitConfig) -> None:
    """Refuse a ``test_size`` that leaves fewer than `MIN_SCORED_ROWS` rows to train on or to test
    on (the hold-out split's, every repeat's), and ``cv`` folds of fewer rows."""
    test = math.ceil(split.test_size * n_rows)  # as train_test_split and ShuffleSplit count them
    train = n_rows - test
    if min(train, test) < MIN_SCORED_ROWS:
        raise ExperimentError(
            f"must leave rows to train on and to test on; got {split.test_size} of {n_rows} rows "
            f"({test} test, {train} training); each needs at least {MIN_SCORED_ROWS}",
            key="split.test_size",
        )
    folded = n_rows if split.repeats else train  # repeats fold all the rows; else the training rows
    if split.cv and folded < MIN_SCORED_ROWS * split.cv:
        which = "rows" if split.repeats else "training rows"
        raise ExperimentError(
            f"must leave at least {MIN_SCORED_ROWS} rows in each fold: {split.cv} folds need "
            f"{MIN_SCORED_ROWS * split.cv} {which}; got {folded}",
            key="split.cv",
        )


def frame_of(rows: object, target: str | None) -> tuple[pd.DataFrame, str]:
    """In-memory rows as one DataFrame and its target column: a DataFrame (``target`` names a
    column) or ``(X, y)`` arrays (columns ``x0, x1, ...`` unless X is a DataFrame; the target
    is ``y``'s name, else ``target``, else ``"y"``)."""
    if isinstance(rows, pd.DataFrame):
        if not target:
            raise ExperimentError(
                "must name the target column when data= is a DataFrame (data.target, or target=)",
                key="data.target",
            )
        return rows, target
    if not (isinstance(rows, tuple | list) and len(rows) == 2):
        raise ExperimentError(
            f"must be a pandas DataFrame or (X, y) arrays; got {type(rows).__name__}", where="data="
        )
    X, y = rows
    frame = X.reset_index(drop=True) if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    if not isinstance(X, pd.DataFrame):
        if frame.ndim != 2 or np.asarray(X).ndim != 2:
            raise ExperimentError(f"X must be 2-dimensional; got shape {np.shape(X)}", where="data=")
        frame.columns = [f"x{i}" for i in range(frame.shape[1])]
    target = getattr(y, "name", None) or target or "y"
    if len(y) != len(frame) or np.ndim(y) != 1:
        raise ExperimentError(
            f"y must be one value per row of X; got shape {np.shape(y)} for {len(frame)} rows", where="data="
        )
    if target in frame.columns:
        raise ExperimentError(f"the target {target!r} must not also be a column of X", where="data=")
    frame = frame.copy()
    frame[target] = np.asarray(y)
    return frame, str(target)
