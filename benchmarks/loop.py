"""``python -m benchmarks.loop``: the plain loop a user writes instead of a tuner.

scikit-learn only, no Ray: the experiment's split, then one estimator per size with
``n_jobs=-1`` (every core), fitted and scored in turn. Prints its MSEs and its loop's wall
time as JSON (what `benchmarks.end_to_end` compares whole processes against).
"""

from __future__ import annotations

import argparse
import json
import time

from sklearn.datasets import fetch_california_housing
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from benchmarks import ROOT, use_development_data_cache
from tuning.config import load_experiment
from tuning.estimators.classes import resolve_estimator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loop", description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default=str(ROOT / "experiments" / "rf.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args(argv)
    use_development_data_cache()
    experiment = load_experiment(args.experiment, args.overrides)
    ((param, domain),) = experiment.space.items()  # one grid of sizes, as the tutorial
    X, y = fetch_california_housing(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=experiment.split.test_size, random_state=experiment.split.seed
    )
    cls = resolve_estimator(experiment.estimator.class_path)
    started, mses = time.perf_counter(), {}
    for size in domain["grid"]:
        model = cls(**experiment.estimator.params, **{param: size}, random_state=experiment.seed, n_jobs=-1)
        mses[size] = float(mean_squared_error(y_test, model.fit(X_train, y_train).predict(X_test)))
    print(json.dumps({"loop_s": time.perf_counter() - started, "mse": mses}))


if __name__ == "__main__":
    main()
