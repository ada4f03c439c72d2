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
import pyarrow.fs
import pyarrow.parquet
import sklearn.datasets
from pandas.api.types import is_float_dtype, is_numeric_dtype
from sklearn.datasets import get_data_home
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import type_of_target

from tuning.config import BUILTIN_DATASETS, DataConfig, SplitConfig
from tuning.errors import ExperimentError

UTF8_CHECK_BYTES = 64 * 2**20  # how much of a local CSV is checked for UTF-8
ROW_TEXT = r"(Expected \d+ columns?, got \d+): .*"  # pyarrow's CSV errors quote the row after this


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


def choose_reader(data: DataConfig) -> tuple[str, str]:
    """Who reads and splits the rows, ``ray_data`` or ``in_process``, and why (the dry run says it).

    ``data.reader`` names one; ``auto``: a built-in data set and a local file of any size in
    process, a URI through Ray Data (read where the cluster is). On a file of 2 million rows
    Ray Data took 5-13 times as long as this process and 1.7-3 times the memory, for the same
    split (BENCHMARKS.md, ``python -m benchmarks.large_file``): both end with every row here.
    """
    if data.reader != "auto":
        return data.reader, f"data.reader: {data.reader}"
    if data.builtin:
        return "in_process", "auto: a built-in data set, in memory in this process"
    if "://" in data.source:
        return "ray_data", "auto: a URI, read by Ray Data on the cluster"
    return "in_process", "auto: a local file, read fastest in this process"


def read_frame(data: DataConfig) -> pd.DataFrame:
    """The configured rows as a DataFrame, in file order, read in this process: a built-in
    data set by scikit-learn's loader, a file or a URI by pyarrow (the reader Ray Data uses)."""
    if data.builtin:
        return builtin_frame(data.source)
    return _read_file(data.source)


def _read_file(source: str) -> pd.DataFrame:
    """A CSV or Parquet file, a local path or a URI pyarrow knows (``s3://``, ``gs://``...)."""
    check_source(source)
    try:
        filesystem, path = pyarrow.fs.FileSystem.from_uri(source) if "://" in source else (None, source)
        if source.lower().endswith((".parquet", ".pq")):
            table = pyarrow.parquet.read_table(path, filesystem=filesystem)
        elif filesystem is None:
            table = pyarrow.csv.read_csv(path)
        else:
            with filesystem.open_input_stream(path) as stream:
                table = pyarrow.csv.read_csv(stream)
    except (pyarrow.ArrowException, OSError, UnicodeDecodeError) as exc:  # a non-UTF-8 header
        raise _unreadable(source, exc) from None
    binary = any(pyarrow.types.is_binary(field.type) for field in table.schema)
    if filesystem is None and binary and (reason := _not_utf8(source)):  # pyarrow reads non-UTF-8 as bytes
        raise ExperimentError(f"cannot read {source!r}: {reason}", key="data.source")
    try:
        return table.to_pandas()
    except UnicodeDecodeError as exc:  # a column name that is not UTF-8
        raise _unreadable(source, exc) from None


def _not_utf8(path: str) -> str | None:
    """Where a local text file stops being UTF-8 (what CSV readers read), or None if it is UTF-8."""
    with open(path, "rb") as handle:
        data = handle.read(UTF8_CHECK_BYTES + 1)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= UTF8_CHECK_BYTES - 4:  # the read cut a character: what was read is UTF-8
            return None
        line = data.count(b"\n", 0, exc.start) + 1
        return (
            f"it is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8, "
            "e.g. iconv -f latin1 -t utf-8 if it is Latin-1"
        )
    return None


def check_source(source: str) -> None:
    """The file exists and has bytes, a local path or behind a URI: one line, whichever
    reader follows (`ExperimentError`). A scheme that pyarrow does not know but fsspec does
    is left to the reader."""
    try:
        if "://" in source:
            filesystem, path = pyarrow.fs.FileSystem.from_uri(source)
        else:
            filesystem, path = pyarrow.fs.LocalFileSystem(), os.path.abspath(source)
    except pyarrow.ArrowInvalid as exc:  # "Unrecognized filesystem type in URI"
        if _fsspec_knows(source.split("://", 1)[0]):
            return  # Ray Data reads it through fsspec (this process does not: it says so)
        raise _unreadable(source, exc) from None
    try:
        info = filesystem.get_file_info(path)
    except (pyarrow.ArrowException, OSError) as exc:  # e.g. a bucket that cannot be reached
        raise _unreadable(source, exc) from None
    if info.type == pyarrow.fs.FileType.NotFound:
        raise ExperimentError(f"cannot read {source!r}: no such file", key="data.source")
    if info.type == pyarrow.fs.FileType.File and info.size == 0:
        raise ExperimentError(f"must have rows; {source!r} is an empty file", key="data.source")


def _fsspec_knows(scheme: str) -> bool:
    """Whether fsspec (optional: Ray Data's other way to a filesystem) has this scheme."""
    try:
        import fsspec  # optional, and only for a scheme pyarrow does not know
    except ImportError:
        return False
    try:
        fsspec.get_filesystem_class(scheme)
    except (ValueError, ImportError):  # an unknown protocol, or its package is missing
        return False
    return True


def _unreadable(source: str, exc: BaseException) -> ExperimentError:
    local_csv = "://" not in source and not source.lower().endswith((".parquet", ".pq"))
    reason = (local_csv and os.path.isfile(source) and _not_utf8(source)) or _reason(exc)
    return ExperimentError(f"cannot read {source!r}: {reason}", key="data.source")


def read_dataset(data: DataConfig):
    """A Ray Dataset of the configured rows, in file order, read (a bad file fails here)."""
    import ray.data  # heavy: Ray Data only when it reads

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the split must not depend on scheduling
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if data.builtin:
        return ray.data.from_pandas(builtin_frame(data.source))
    reader = ray.data.read_parquet if data.source.lower().endswith((".parquet", ".pq")) else ray.data.read_csv
    check_source(data.source)
    quiet = logging.getLogger("ray.data")
    level, quiet.level = quiet.level, logging.CRITICAL  # the one-line error below says it all
    try:
        return reader(data.source).materialize()
    except Exception as exc:  # Ray wraps pyarrow's and the filesystem's errors
        raise _unreadable(data.source, exc) from None
    finally:
        quiet.setLevel(level)


def _reason(exc: BaseException) -> str:
    """The line of a (Ray-wrapped) read error that says what is wrong with the file."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z.]*(Error|Exception|Invalid)\b", line)]
    line = (errors or lines or [type(exc).__name__])[-1]
    # pyarrow's and Ray's wrappers: "pyarrow.lib.ArrowInvalid: ", "Could not open ... '<path>': "
    # (the message names the file already): the same words from either reader
    line = re.sub(r"^[A-Za-z_.]*(Error|Exception|Invalid): ", "", line)
    line = re.sub(r"^[^']*'[^']*': (?=.)", "", line)
    return re.sub(ROW_TEXT, r"\1", line)[:300]  # a row of a file is data, never part of a message


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
    """Read the rows and split them with scikit-learn's seeded shuffle, through the reader
    `choose_reader` names: Ray Data (`ray_data_split`) or this process (`split_frame`).

    Either way the split is ``train_test_split(test_size, random_state=seed)`` of the rows in
    file order, row for row, whatever the number of blocks or workers. A ``classifier``'s
    target is class labels, and its split is stratified unless ``split.stratify`` is false.
    """
    reader, _ = choose_reader(data)
    if reader == "ray_data":
        return ray_data_split(data, split, seed, classifier)
    return split_frame(read_frame(data), data, split, seed, classifier)


def split_frame(
    frame: pd.DataFrame, data: DataConfig, split: SplitConfig, seed: int, classifier: bool = False
) -> Split:
    """Check the rows' target and features, and split them as `load_split` does (rows in memory)."""
    X, y, features, categorical = prepare(frame, data, classifier)
    check_rows(len(y), split)
    stratify = classifier and split.stratify
    X_train, X_test, y_train, y_test = split_rows(X, y, split, seed, stratify)
    raw = isinstance(X, pd.DataFrame)
    return Split(X_train, X_test, y_train, y_test, features, data.target_column, categorical, raw, stratify)


def ray_data_split(data: DataConfig, split: SplitConfig, seed: int, classifier: bool = False) -> Split:
    """`split_frame`'s split with Ray Data reading the rows and putting them in the split's order.

    ``train_test_split`` picks the row numbers of each side (of the target column for a
    stratified split); Ray Data takes the rows in that order and cuts the training rows from
    the test rows (`ordered_sides`): the same rows, in the same order, as `split_frame`'s.
    """
    dataset = read_dataset(data)
    n_rows, target = dataset.count(), data.target_column
    if not n_rows:
        raise ExperimentError(f"must have rows; {data.source!r} has none", key="data.source")
    stratify = classifier and split.stratify
    labels = None
    if stratify and target in dataset.columns():  # else prepare() below names the missing column
        labels = target_values(dataset.select_columns([target]).to_pandas()[target], classifier)
    check_rows(n_rows, split)
    train, test = row_numbers(n_rows, labels, split, seed)
    frame = ordered_sides(dataset, train, test)
    X, y, features, categorical = prepare(frame, data, classifier)
    cut, raw = len(train), isinstance(X, pd.DataFrame)
    # as train_test_split gives them: DataFrame rows, or C-ordered copies of the array's rows
    X_train, X_test = (
        (X.iloc[:cut], X.iloc[cut:])
        if raw
        else (np.ascontiguousarray(X[:cut]), np.ascontiguousarray(X[cut:]))
    )
    if stratify:
        check_folds(y[:cut], split)
    return Split(X_train, X_test, y[:cut], y[cut:], features, target, categorical, raw, stratify)


def ordered_sides(dataset, train: np.ndarray, test: np.ndarray) -> pd.DataFrame:
    """The rows of ``dataset`` (in file order) in the order ``train`` then ``test``, taken by
    Ray Data in one task (``map_batches`` over the rows as one block, pyarrow's ``take``) and cut
    into the two sides (``split_at_indices``). The frame's index is each row's number in the
    file, as ``train_test_split`` of a DataFrame keeps it."""
    rows = np.concatenate([train, test])
    if dataset.num_blocks() > 1:  # the rows as one block: one task takes them in the split's order
        dataset = dataset.repartition(1)
    taken = dataset.map_batches(_take, fn_args=(rows,), batch_size=None, batch_format="pyarrow")
    sides = taken.split_at_indices([len(train)])
    frame = pd.concat([side.to_pandas() for side in sides], ignore_index=True)
    frame.index = rows
    return frame


def _take(batch: pyarrow.Table, rows: np.ndarray) -> pyarrow.Table:
    """The rows of ``batch`` at ``rows``, in that order (a Ray Data task)."""
    return batch.take(rows)


def prepare(frame: pd.DataFrame, data: DataConfig, classifier: bool) -> tuple:
    """The checked features ``X`` and target ``y`` of the rows, with the feature and the
    categorical column names. ``X`` is a float array when every feature is numeric and
    complete (exactly as the tutorial), else the DataFrame columns that a pipeline prepares."""
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
    y = target_values(frame[target], classifier)
    check_finite(frame, target, features, classifier)
    categorical = tuple(c for c in features if not is_numeric_dtype(frame[c]))
    for column in features:  # one dtype and one missing marker (NaN) whatever the reader produced
        if column in categorical:  # CSV readers give "" for an empty text field
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna() & (values.astype(str).str.strip() != ""), np.nan)
        else:
            frame[column] = frame[column].astype(np.float64)
    raw = bool(categorical) or bool(frame[features].isna().any().any())
    X = frame[features] if raw else frame[features].to_numpy(dtype=np.float64)
    return X, y, tuple(features), categorical


def target_values(column: pd.Series, classifier: bool) -> np.ndarray:
    """The target column as the estimators take it: floats, or a classifier's labels;
    `ExperimentError` for a non-numeric regression target or missing values."""
    name = column.name
    if not classifier and not is_numeric_dtype(column):
        raise ExperimentError(
            f"must be a numeric column (the estimators are regressors); {name!r} is {column.dtype}",
            key="data.target",
        )
    if column.isna().any():
        raise ExperimentError(
            f"must have no missing values; {name!r} has {int(column.isna().sum())} (drop those rows first)",
            key="data.target",
        )
    return class_labels(column) if classifier else column.to_numpy(dtype=np.float64)


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
    check_classes(y)
    try:
        parts = train_test_split(X, y, test_size=split.test_size, random_state=seed, stratify=y)
    except ValueError as exc:  # e.g. fewer test rows than classes
        raise ExperimentError(f"must leave room for every class; {exc}", key="split.test_size") from None
    check_folds(parts[2], split)
    return parts


def row_numbers(n_rows: int, labels, split: SplitConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and the test row numbers of `split_rows`' split: ``train_test_split`` of
    the row numbers (stratified by ``labels`` unless None), the same rows in the same order."""
    rows = np.arange(n_rows)
    if labels is None:
        train, test = train_test_split(rows, test_size=split.test_size, random_state=seed, shuffle=True)
        return train, test
    check_classes(labels)
    try:
        train, test = train_test_split(rows, test_size=split.test_size, random_state=seed, stratify=labels)
    except ValueError as exc:  # e.g. fewer test rows than classes
        raise ExperimentError(f"must leave room for every class; {exc}", key="split.test_size") from None
    return train, test


def check_classes(y) -> None:
    """Each class has the 2 rows a stratified split needs (one on each side)."""
    classes = pd.Series(y).value_counts()
    if classes.iloc[-1] < 2:
        raise ExperimentError(
            f"must have at least 2 rows of each class to stratify the split; class "
            f"{_label(classes.index[-1])!r} has {classes.iloc[-1]} (drop it, or set split.stratify: false)",
            key="data.target",
        )


def check_folds(y_train, split: SplitConfig) -> None:
    """Each class has a training row for every fold of ``split.cv`` (stratified folds)."""
    if split.cv:
        trained = pd.Series(y_train).value_counts()
        if trained.iloc[-1] < split.cv:
            raise ExperimentError(
                f"must have at least {split.cv} training rows of each class to fill every fold of "
                f"split.cv: {split.cv}; class {_label(trained.index[-1])!r} has {trained.iloc[-1]}",
                key="data.target",
            )


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
