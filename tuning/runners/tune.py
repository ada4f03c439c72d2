"""The parallel runner: Ray Tune's Tuner, one resource-specified trial per configuration."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from tuning.config import Experiment
from tuning.data import Split
from tuning.progress import Progress, tune_callback
from tuning.runners.common import RunnerResult, TrialResult
from tuning.search import param_space, scheduler, search_alg
from tuning.storage import is_uri, join, remote, tune_storage_path
from tuning.trial import TrialSpec, run_trial


def trial(config: dict, split: Split, spec: TrialSpec) -> None:
    """Tune's trainable: `run_trial` plus where it ran, reported after each step (once without a budget)."""
    import ray
    from ray import tune

    sys.unraisablehook = quiet_exit_in_callbacks  # this actor process's; set once or again: the same
    where = {
        "node_id": ray.get_runtime_context().get_node_id(),
        "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    }
    run_trial(config, split, spec, report=lambda result: tune.report({**result, **where}))


def quiet_exit_in_callbacks(unraisable) -> None:
    """Python's unraisable-exception hook, minus `SystemExit`.

    Ray's SIGTERM handler raises `SystemExit` in a worker that is being stopped; when the
    signal lands in a weakref callback, Python prints it as an "Exception ignored" traceback,
    which Ray forwards to the user's terminal after a successful run. Other errors still print.
    """
    if not issubclass(unraisable.exc_type, SystemExit):
        sys.__unraisablehook__(unraisable)


def trainable(experiment: Experiment, split: Split, spec: TrialSpec):
    """`trial` with the split in the object store and the experiment's resources."""
    from ray import tune

    resources = {"cpu": experiment.resources.num_cpus, "gpu": experiment.resources.num_gpus}
    return tune.with_resources(tune.with_parameters(trial, split=split, spec=spec), resources)


def run_tune(
    experiment: Experiment,
    split: Split,
    spec: TrialSpec,
    run_dir: Path,
    cores: float,
    progress: Progress,
    resume: bool = False,
    callbacks: list | None = None,
) -> RunnerResult:
    """Run every configuration as a Tune trial; the run directory is Tune's experiment.

    With ``resume`` and Tune's state in ``run_dir`` (an interrupted run), `Tuner.restore`
    continues it: finished and errored trials are kept, only unfinished ones run.
    A SIGINT stops Tune gracefully; the trials it left are then not `finished`.
    ``callbacks`` are more Tune callbacks (the trackers' loggers).
    """
    from ray import tune

    # Tune's legacy console output is silent at verbose=0, so `Progress` speaks alone. (The new
    # one prints banners even when silent, and a second reporter crashes on a trial's retry.)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    _quiet_analysis()
    if resume and tune.Tuner.can_restore(str(run_dir.resolve())):
        progress.done = sum(t.finished for t in read_tune(run_dir))
        tuner = tune.Tuner.restore(
            str(run_dir.resolve()),
            trainable=trainable(experiment, split, spec),
            resume_unfinished=True,
            resume_errored=False,  # a configuration that raised would raise again
            restart_errored=False,
        )
        run_config = getattr(getattr(tuner, "_local_tuner", None), "get_run_config", None)
        if run_config:  # the pickled callback counts from zero; this one knows what is done
            run_config().callbacks = [tune_callback(progress), *(callbacks or [])]
        start = time.perf_counter()
        tuner.fit()
        return RunnerResult("tune", read_tune(run_dir), time.perf_counter() - start, cores)
    tuner = tune.Tuner(
        trainable(experiment, split, spec),
        param_space=param_space(experiment),
        tune_config=tune.TuneConfig(
            metric=experiment.metric,
            mode=experiment.mode,
            num_samples=experiment.search.num_samples,
            search_alg=search_alg(experiment),
            scheduler=scheduler(experiment),
            max_concurrent_trials=experiment.resources.max_concurrent_trials,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=run_dir.name,
            storage_path=tune_storage_path(run_dir),  # a local folder or a URI (tuning.storage)
            failure_config=tune.FailureConfig(max_failures=experiment.max_failures),
            callbacks=[tune_callback(progress), *(callbacks or [])],
            verbose=0,  # `Progress` prints one line per trial instead
        ),
    )
    start = time.perf_counter()
    tuner.fit()
    wall = time.perf_counter() - start
    return RunnerResult("tune", read_tune(remote(run_dir) or run_dir), wall, cores)


def _quiet_analysis() -> None:
    """Trials that never reported (an interrupted run) have no result files: Tune warns
    about each, with its path, whenever it reads the experiment; the report says it once."""
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)


def read_tune(run_dir: Path | str) -> list[TrialResult]:
    """The Tune trials of a run directory (a local path or a URI), read by `ExperimentAnalysis`."""
    from ray.tune import ExperimentAnalysis

    _quiet_analysis()
    # Ray takes absolute paths or URIs
    analysis = ExperimentAnalysis(run_dir if is_uri(run_dir) else str(Path(run_dir).resolve()))
    results = []
    for t in analysis.trials:
        metrics = dict(t.last_result) if t.last_result and "mse" in t.last_result else {}
        error = None
        if t.status == "ERROR":
            text = t.get_error() or "trial failed"
            error = str(text).strip().splitlines()[-1]
        path = join(run_dir, Path(t.path).name) if is_uri(run_dir) else t.path  # t.path has no scheme
        # num_failures counts failures; an errored trial's last failure was not retried
        retries = max(0, t.num_failures - (t.status == "ERROR"))
        results.append(TrialResult(str(t), dict(t.config), metrics, error, retries, path))
    return results
