"""Weights & Biases: one W&B run per trial, grouped by the run directory, online or offline.

The trials go through Ray Tune's own `WandbLoggerCallback` (both runners: see
`tuning.runners.tracking.base`); each trial's W&B files are written in its trial folder (offline:
``wandb sync`` them later).
"""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ray.air.integrations.wandb import WandbLoggerCallback

from tuning.config import Experiment
from tuning.errors import ExperimentError
from tuning.runners.tracking.base import Guarded, environment
from tuning.summary_types import Summary

KEY = "tracking.wandb"


class GuardedWandbCallback(Guarded, WandbLoggerCallback):
    tracker = "W&B"

    def setup(self, *args: Any, **kwargs: Any) -> None:
        # Ray asks for an API key unless WANDB_MODE says offline; the file's mode counts too
        offline = {"WANDB_MODE": "offline"} if self.kwargs.get("mode") == "offline" else {}
        with environment(**offline):
            super().setup(*args, **kwargs)


class WandbTracker:
    """The W&B project, group and mode every trial's run is logged with."""

    name = "W&B"

    def __init__(self, experiment: Experiment):
        config = experiment.tracking.wandb
        self.project = config.project or experiment.name
        self.entity = config.entity
        self.mode = config.mode or os.environ.get("WANDB_MODE") or "online"
        self.group: str | None = None
        if self.mode == "online" and not _api_key():
            raise ExperimentError(
                "needs a W&B API key for mode online (wandb login, or WANDB_API_KEY); "
                "or set tracking.wandb.mode: offline",
                key=KEY,
            )

    def start(self, run_dir: Path) -> None:
        self.group = f"{run_dir.parent.name}/{run_dir.name}"

    def callback(self, runner: str) -> GuardedWandbCallback:
        import wandb  # optional: tuning[wandb]

        # starting each trial's logging actor takes seconds: Tune's "may be a bottleneck" notes
        logging.getLogger("ray.tune.utils.util").setLevel(logging.ERROR)
        extra = {"entity": self.entity} if self.entity else {}
        callback = GuardedWandbCallback(
            project=self.project,
            group=self.group,
            mode=self.mode,
            job_type=runner,
            reinit="finish_previous",  # what Ray's reinit=True means, without W&B's deprecation warning
            settings=wandb.Settings(silent=True),  # the progress lines speak; W&B's run summaries do not
            **extra,
        )
        callback.runner = runner
        return callback

    def finish(self, summary: Summary, run_dir: Path, example: Any) -> None:
        """Nothing more: each trial's run ends with its trial."""

    def close(self, summary: Summary, run_dir: Path) -> str | None:
        """Nothing: W&B has no run of the experiment's own."""
        return None


def _api_key() -> str | None:
    """The W&B API key W&B itself would use: ``WANDB_API_KEY``, or ``wandb login``'s netrc entry."""
    if os.environ.get("WANDB_API_KEY"):
        return os.environ["WANDB_API_KEY"]
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        entry = netrc.netrc(os.environ.get("NETRC")).authenticators(host or "")
    except (OSError, netrc.NetrcParseError):
        return None
    return entry[2] if entry else None
