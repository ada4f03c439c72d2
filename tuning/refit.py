"""The best model: refit the best configuration on the training rows, score it on the test
rows, and save it (joblib) with its configuration and metrics, as GridSearchCV's ``refit``."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib
import sklearn

from tuning.config import SPLIT_SEED
from tuning.data import Split
from tuning.metrics import class_report, is_metric_key, scorer
from tuning.results import write_json
from tuning.search import best_config
from tuning.trial import TrialSpec, build_estimator, final_estimator

MODEL_FILE = "best_model.joblib"
MODEL_INFO = "best_model.json"


def refit(
    config: dict[str, Any], split: Split, spec: TrialSpec, run_dir: Path, **about: Any
) -> dict[str, Any]:
    """Fit ``config`` on every training row, score it on the test rows, save model and metadata.

    ``config`` is complete (a budget parameter holds the value the trial reached). The
    model is the estimator behind its preprocessing pipeline when the data need one, fitted
    on a DataFrame so that ``model.predict(rows)`` takes rows with the feature columns.
    ``about`` (the trial, its search metrics...) is saved in ``best_model.json``. The fit uses
    every local core (``n_jobs``; a forest's trees do not depend on it), the saved model one.
    """
    budget_param = spec.budget[0] if spec.budget else None
    params = {k: v for k, v in spec.params.items() if not (k == "warm_start" and budget_param)}
    config = {k: v for k, v in config.items() if k != SPLIT_SEED}  # a trial's own split: not the model's
    model = build_estimator(config, split, TrialSpec(spec.estimator, params, metrics=spec.metrics))
    threads = None
    if "n_jobs" in final_estimator(model).get_params(deep=False):
        threads = joblib.cpu_count()  # the trials are over: the refit has this machine to itself
        final_estimator(model).set_params(n_jobs=threads)
    started = time.perf_counter()
    model.fit(split.frame(split.X_train), split.y_train)
    fit_time = time.perf_counter() - started
    if threads is not None:
        final_estimator(model).set_params(n_jobs=1)  # score as the trials do (see run_trial)
    X_test = split.frame(split.X_test)
    metrics = scorer(spec.metrics)(model, X_test, split.y_test)
    classes = class_report(split.y_test, model.predict(X_test), model.classes_) if spec.classifier else {}
    method = "predict_proba" if classes and hasattr(model, "predict_proba") else "predict"

    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=f".{MODEL_FILE}.")
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, run_dir / MODEL_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    info = {
        "model": MODEL_FILE,
        "estimator": spec.estimator,
        "config": config,
        "params": {**params, **config},
        "features": list(split.features),
        "categorical": list(split.categorical),
        "target": split.target,
        "test_metrics": metrics,
        **classes,  # a classifier's classes_, confusion matrix and per-class scores on the test rows
        "train_rows": len(split.y_train),
        "test_rows": len(split.y_test),
        "fit_time_s": fit_time,
        "fit_threads": threads,
        "scikit-learn": sklearn.__version__,
        "load": f"joblib.load('{MODEL_FILE}').{method}(rows)  # rows: a DataFrame with the feature columns",
        **about,
    }
    write_json(run_dir / MODEL_INFO, info)
    return info


def refit_best(experiment, results, split: Split, spec: TrialSpec, run_dir: Path, echo) -> dict[str, Any]:
    """Refit the best trial of the run (Tune's if it ran); a failure is reported, not raised."""
    runner = "tune" if "tune" in results else "sequential"
    best = results[runner].best(experiment.metric, experiment.mode)
    if best is None:
        return {"error": "no trial finished"}
    config = best_config(best, experiment)
    search_metrics = {k: v for k, v in best.metrics.items() if is_metric_key(k)}
    try:
        info = refit(
            config, split, spec, run_dir, trial=best.name, runner=runner, search_metrics=search_metrics
        )
    except Exception as exc:  # the search's results stand even if the refit fails
        echo(f"WARNING: refitting the best configuration failed: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    test = info["test_metrics"]
    echo(
        f"Best model: {run_dir / MODEL_FILE}  ({', '.join(f'{k}={v}' for k, v in config.items())}; "
        f"test {experiment.metric} {test[experiment.metric]:.4f})"
    )
    classes = {k: info[k] for k in ("classes", "confusion_matrix", "per_class", "averages") if k in info}
    return {
        "path": str(run_dir / MODEL_FILE),
        "config": config,
        "trial": best.name,
        "test_metrics": test,
        **classes,
    }
