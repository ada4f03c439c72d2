"""The best model: refit the selected configuration on the training rows, score it on the test
rows, and save it (joblib) with its configuration and metrics, as GridSearchCV's ``refit``.

That score is a *test* score only when selection never saw the test rows (``split.cv``,
``split.validation_size``); on one hold-out split the trials were scored on those very rows,
so it is stated as a *validation* score (`scored_on`).

A repeated run (``split.repeats``) has no fixed hold-out: the model is fitted on all the
rows and its stated score is the mean over the repeats (never one split's)."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from tuning.metrics import class_report, is_metric_key, scorer
from tuning.planning.search import best_config
from tuning.reports.summary import main_result
from tuning.run_files import MODEL_FILE, create_new, write_json
from tuning.runner_names import TUNE
from tuning.storage import is_uri
from tuning.summary_types import BestModel
from tuning.trial.data import Split
from tuning.trial.fit import TrialSpec, build_estimator, final_estimator, trial_threads
from tuning.trial.records import RunnerResult, TrialResult
from tuning.trial.shared_fits import FIT_FILE, INDEX_KEY, cut_model, size_key
from tuning.trial.validation import rows
from tuning.values import mean_std, score_text

MODEL_INFO = "best_model.json"


def refit(
    config: dict[str, Any], split: Split, spec: TrialSpec, run_dir: Path, kept: Any = None, **about: Any
) -> dict[str, Any]:
    """Fit ``config`` on every training row, score it on the test rows, save model and metadata.

    ``config`` is complete (a budget parameter holds the value the trial reached). The
    model is the estimator behind its preprocessing pipeline when the data need one, fitted
    on a DataFrame so that ``model.predict(rows)`` takes rows with the feature columns.
    ``about`` (the trial, its search metrics...) is saved in ``best_model.json``. The fit has a
    trial's threads (``n_jobs``, OpenMP, BLAS: `tuning.trial.fit.trial_threads`), the saved model one.
    ``kept``: that very model, already fitted by the trial (`kept_fit`): nothing is fitted.
    """
    spec = spec.without_budget()
    X, y = rows(split, spec)  # repeats: all the rows; else the training rows
    model, fit_time, threads = kept, 0.0, None
    with trial_threads(spec.threads):  # a trial's threads, whatever this process has
        if kept is None:
            model = build_estimator(config, split, spec)
            fit_time, threads = fit_as_a_trial(model, X, y, split), spec.threads
        metrics, classes = (None, {}) if spec.repeats else test_scores(model, split, spec)
    seen = metrics if spec.selects_on_test else None  # selection saw those rows: a validation score
    method = "predict_proba" if classes and hasattr(model, "predict_proba") else "predict"

    fd, tmp = create_new(run_dir, f".{MODEL_FILE}.")  # the umask's mode, not mkstemp's 0o600
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, run_dir / MODEL_FILE)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    info = {
        "model": MODEL_FILE,
        "estimator": spec.estimator or spec.describe(config),
        "steps": spec.describe(config),
        "config": config,
        "params": spec.params_of(config),
        "features": list(split.features),
        "categorical": list(split.categorical),
        "target": split.target,
        "test_metrics": None if seen else metrics,  # untouched by selection, or none
        "validation_metrics": seen,
        "scored_on": scored_on(spec),
        **classes,  # a classifier's classes_, confusion matrix and per-class scores on the held-out rows
        "train_rows": len(y),
        "test_rows": 0 if spec.repeats else len(split.y_test),
        "fit_time_s": fit_time,
        "fit_threads": threads,
        "fitted_by": "refit" if kept is None else "trial",  # trial: its fit (a shared one's, cut)
        "scikit-learn": sklearn.__version__,
        "load": f"joblib.load('{MODEL_FILE}').{method}(rows)  # rows: a DataFrame with the feature columns",
        **about,
    }
    write_json(run_dir / MODEL_INFO, info)
    return info


def scored_on(spec: TrialSpec) -> str:
    """What the saved model's stated score is: ``test`` (rows selection never saw),
    ``validation`` (the held-out rows the trials were scored on) or ``splits`` (a mean over repeats)."""
    if spec.repeats:
        return "splits"
    return "validation" if spec.selects_on_test else "test"


def fit_as_a_trial(model, X, y, split: Split) -> float:
    """Fit ``model`` on ``X`` as a DataFrame, as a trial fits it (with its ``n_jobs``, inside
    `tuning.trial.fit.trial_threads`), then leave it to predict with one thread; its fit time."""
    started = time.perf_counter()
    model.fit(split.frame(X), y)
    fit_time = time.perf_counter() - started
    if final_estimator(model).get_params(deep=False).get("n_jobs") not in (None, 1):
        final_estimator(model).set_params(n_jobs=1)  # score as the trials do (see run_trial)
    return fit_time


def kept_fit(trial: TrialResult, config: dict[str, Any], split: Split, spec: TrialSpec) -> Any:
    """The model of ``config`` as its Tune trial fitted it (None: no fit was kept).

    A trial fitted on the training rows (`TrialSpec.one_fit`) may checkpoint its model
    (`tuning.trial.shared_fits.FIT_FILE`): an unshared trial's is the model a refit would fit, to the last
    bit; a shared trial's is its group's largest, whose first n members are the n-member model.
    """
    folder = trial.path
    if folder is None or is_uri(folder) or not spec.one_fit:
        return None
    files = sorted(Path(folder).glob(f"checkpoint_*/{FIT_FILE}"))
    if not files:
        return None
    fit = joblib.load(files[-1], mmap_mode="r")  # its arrays mapped, not read: saved from there
    if INDEX_KEY not in trial.metrics:  # one trial, one configuration: its model as it is
        return with_feature_names(fit, split)
    key = size_key(spec, config)  # n_estimators, model__n_estimators, forest/n_estimators
    if not key:
        return None
    return with_feature_names(cut_model(fit, config[key], key), split)


def baseline_fit(result: RunnerResult, best: TrialResult, split: Split) -> Any:
    """The baseline's best model, kept in memory by its trial (`run_sequential`; None: none kept)."""
    if result.kept is None or result.kept[0] != best.name:
        return None
    return with_feature_names(result.kept[1], split)


def with_feature_names(model, split: Split) -> Any:
    """``model`` fitted on arrays with the feature names a fit on a DataFrame sets (None: it
    cannot take them)."""
    first = model.steps[0][1] if hasattr(model, "steps") else model  # what checks the names
    if not hasattr(first, "feature_names_in_"):
        try:
            first.feature_names_in_ = np.asarray(split.features, dtype=object)
        except AttributeError:  # e.g. a "passthrough" step: refit instead
            return None
    return model


def drop_kept_fits(run_dir: Path) -> None:
    """Delete the trials' kept fits (`FIT_FILE`) once the best model is saved: they served only
    to save it (an unshared run's improving trials, a shared group's largest fit), and would
    double or triple the run's size on disk. Their checkpoint folders stay, empty."""
    for fit in Path(run_dir).glob(f"*/checkpoint_*/{FIT_FILE}"):
        with contextlib.suppress(OSError):  # e.g. Windows keeps a mapped file (`kept_fit`): it stays
            fit.unlink(missing_ok=True)


def test_scores(model, split: Split, spec: TrialSpec) -> tuple[dict[str, float], dict[str, Any]]:
    """The model's recorded metrics on the test rows and, for a classifier, its class report."""
    X_test = split.frame(split.X_test)
    metrics = scorer(spec.metrics)(model, X_test, split.y_test)
    classes = class_report(split.y_test, model.predict(X_test), model.classes_) if spec.classifier else {}
    return metrics, classes


def refit_best(
    experiment, results, split: Split, spec: TrialSpec, run_dir: Path, echo, selected: str | None = None
) -> BestModel:
    """Refit the selected trial of the run (``selected``, `tuning.reports.selection`; None: the best),
    Tune's if it ran; a failure is reported, not raised."""
    runner = main_result(results).runner
    best = results[runner].best(experiment.metric, experiment.mode)
    if selected is not None:
        best = next((t for t in results[runner].trials if t.name == selected), best)
    if best is None:
        return {"error": "no trial finished"}
    config = best_config(best, experiment)
    search_metrics = {k: v for k, v in best.metrics.items() if is_metric_key(k)}
    try:
        if runner == TUNE:
            kept = kept_fit(best, config, split, spec)
        else:
            kept = baseline_fit(results[runner], best, split)
        info = refit(
            config, split, spec, run_dir, kept, trial=best.name, runner=runner, search_metrics=search_metrics
        )
    except Exception as exc:  # the search's results stand even if the refit fails
        echo(f"WARNING: refitting the best configuration failed: {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    drop_kept_fits(run_dir)
    test = info["test_metrics"]
    echo(_model_line(experiment, config, info, best.metrics, run_dir))
    classes = {k: info[k] for k in ("classes", "confusion_matrix", "per_class", "averages") if k in info}
    return {
        "path": str(run_dir / MODEL_FILE),
        "config": config,
        "trial": best.name,
        "test_metrics": test,
        "validation_metrics": info["validation_metrics"] or (None if test else search_metrics),
        "scored_on": info["scored_on"],
        "train_rows": info["train_rows"],
        **classes,
    }


def _model_line(
    experiment, config: dict[str, Any], info: dict[str, Any], metrics: dict, run_dir: Path
) -> str:
    """``Best model: PATH  (alpha=1.0; test mse 0.5494)``; a repeated run states the mean over its splits."""
    metric = experiment.metric
    label = "Model:     " if experiment.evaluation else "Best model:"
    about = ", ".join(f"{k}={v}" for k, v in config.items()) or info["estimator"].rsplit(".", 1)[-1]
    if info["test_metrics"] is not None:
        return (
            f"{label} {run_dir / MODEL_FILE}  ({about}; test {metric} "
            f"{score_text(info['test_metrics'][metric])}, on rows selection never saw)"
        )
    if info["validation_metrics"] is not None:
        return (
            f"{label} {run_dir / MODEL_FILE}  ({about}; validation {metric} "
            f"{score_text(info['validation_metrics'][metric])}: the held-out rows it was selected on, "
            "so no untouched test score; split.validation_size keeps one)"
        )
    splits = len(metrics.get(f"{metric}_repeats") or ())
    return (
        f"{label} {run_dir / MODEL_FILE}  ({about}, fitted on all {info['train_rows']} rows; "
        f"{metric} {mean_std(metrics, metric)}, the mean over {splits} splits)"
    )
