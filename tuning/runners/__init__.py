"""The runners: Ray Tune (`tune`), Ray Core tasks (`tasks`) and the one-at-a-time baseline
(`sequential`), started by `dispatch`; the live progress line (`progress`), TensorBoard
events (`events`) and MLflow / W&B tracking (`tracking`) they report to. What a runner hands
back, `RunnerResult`, lives below them in `tuning.trial.records`."""
