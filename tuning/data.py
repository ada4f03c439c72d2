"""Rows in through Ray Data, out as one seeded train/test split shared by every trial."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.datasets import fetch_california_housing, get_data_home
from sklearn.model_selection import train_test_split

from tuning.config import DataConfig, SplitConfig
from tuning.errors import ExperimentError


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

    def fingerprint(self) -> dict[str, object]:
        """Row counts and a hash of the arrays, to tell whether two runs saw the same split."""
        digest = hashlib.sha256()
        for array in (self.X_train, self.y_train, self.X_test, self.y_test):
            if isinstance(array, pd.DataFrame):
                array = pd.util.hash_pandas_object(array, index=False).to_numpy()
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


def read_dataset(data: DataConfig):
    """A Ray Dataset of the configured rows, in a deterministic order."""
    import ray.data  # heavy: Ray Data only when rows are read

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the split must not depend on scheduling
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    if data.builtin:
        return ray.data.from_pandas(_fetch_california_housing())
    reader = ray.data.read_parquet if data.source.lower().endswith((".parquet", ".pq")) else ray.data.read_csv
    if "://" not in data.source and os.path.getsize(data.source) == 0:
        raise ExperimentError(f"must have rows; {data.source!r} is an empty file", key="data.source")
    quiet = logging.getLogger("ray.data")
    level, quiet.level = quiet.level, logging.CRITICAL  # the one-line error below says it all
    try:
        dataset = reader(data.source)
        dataset.schema()  # read now, so a bad file fails here with its own message
    except Exception as exc:  # Ray wraps pyarrow's and the filesystem's errors
        raise ExperimentError(f"cannot read {data.source!r}: {_reason(exc)}", key="data.source") from None
    finally:
        quiet.setLevel(level)
    return dataset


def _reason(exc: BaseException) -> str:
    """The line of a (Ray-wrapped) read error that says what is wrong with the file."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z.]*(Error|Exception|Invalid)\b", line)]
    return (errors or lines or [type(exc).__name__])[-1][:300]


def _fetch_california_housing():
    try:
        return fetch_california_housing(as_frame=True).frame
    except OSError as exc:  # URLError and socket errors are OSErrors
        raise ExperimentError(
            f"cannot download the California housing data and no copy is cached in "
            f"{get_data_home()} ({exc}); connect once, or set SCIKIT_LEARN_DATA to a folder "
            "holding cal_housing_py3.pkz",
            key="data.source",
        ) from None


def load_split(data: DataConfig, split: SplitConfig, seed: int) -> Split:
    """Read the rows through Ray Data and split them with scikit-learn's seeded shuffle.

    ``train_test_split(test_size, random_state=seed)`` on Ray Data's ordered rows is
    the tutorial's split, row for row, whatever the number of blocks or workers.
    """
    return split_frame(read_dataset(data).to_pandas(), data, split, seed)


def split_frame(frame: pd.DataFrame, data: DataConfig, split: SplitConfig, seed: int) -> Split:
    """Check the rows' target and features, and split them as `load_split` does (rows in memory)."""
    if frame.empty:
        raise ExperimentError(f"must have rows; {data.source!r} has none", key="data.source")
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
    if not is_numeric_dtype(frame[target]):
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
    y = frame[target].to_numpy(dtype=np.float64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=split.test_size, random_state=seed, shuffle=True
    )
    return Split(X_train, X_test, y_train, y_test, tuple(features), target, categorical, raw)


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
