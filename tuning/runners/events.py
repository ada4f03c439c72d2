"""TensorBoard events of a sequential trial, as Ray Tune's TBX logger writes a Tune trial's.

Scalars ``ray/tune/<metric>`` at step 1, and at the end the HParams summary: the trial's
searched parameters (``hparam_dict``) against the same ``ray/tune/<metric>`` values
(``metric_dict``), so TensorBoard's HParams view shows both runners' trials in one table.
"""

from __future__ import annotations

from typing import Any

from tensorboardX import SummaryWriter
from tensorboardX.summary import hparams

from tuning.metrics import NAMES
from tuning.values import is_number

TAGGED = (*NAMES, *(f"{m}_std" for m in NAMES), "fit_time_s")  # what both runners' events carry


def write_trial_events(path: str, config: dict[str, Any], metrics: dict[str, Any]) -> None:
    """Write one trial's scalars and HParams summary in ``path`` (a trial folder)."""
    scalars = {f"ray/tune/{k}": metrics[k] for k in TAGGED if k in metrics}
    with SummaryWriter(path) as writer:
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, 1)
        params = {k: v for k, v in config.items() if is_number(v) or isinstance(v, str | bool)}
        if scalars and params:  # as Tune's logger: only a trial that reported
            for summary in hparams(hparam_dict=params, metric_dict=scalars):
                writer.file_writer.add_summary(summary)
