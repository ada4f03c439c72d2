"""Trials whose worker process is lost (killed, or killed for memory): what Ray Tune 2.60 gets
wrong about them, mended in its controller (`handle_lost_workers`; imports Ray).

- Ray kills a worker when the node's memory passes ``RAY_memory_usage_threshold`` and hands the
  caller an `OutOfMemoryError` of some forty lines. Tune's actor manager expects only a task's
  or an actor's error there, raises "Caught unexpected exception" instead, and the whole run
  ends. Here the kill is its trial's error, as a lost actor's, whose last line says what
  happened (`memory_line`).
- A trial that errors once its actor is gone is saved RUNNING in Tune's state: every
  ``--resume`` would run it again.
- After a worker is lost, the rest of the run went one trial at a time: the actor started for
  the lost one's place was dropped whenever a running trial's actor came free first.
"""

from __future__ import annotations

import re

from ray.exceptions import OutOfMemoryError, RayActorError

_NODE = re.compile(r"was ([\d.]+\s*\w?B) used / ([\d.]+\s*\w?B) limit")
_THRESHOLD = re.compile(r"threshold of \d+B \(([\d.]+%)")
_KILLED = re.compile(r"Selected to kill: .*?pid=(\d+), actual memory used=([\d.]+\s*\w?B)", re.DOTALL)


def memory_line(message: str) -> str:
    """One line of an `OutOfMemoryError`'s text: the worker killed, the node's memory, the threshold."""
    killed, node, threshold = _KILLED.search(message), _NODE.search(message), _THRESHOLD.search(message)
    line = "killed for memory: Ray's memory monitor killed its worker process"
    if killed:
        line += f" (pid {killed[1]}, {killed[2]})"
    if node:
        line += f": the node used {node[1]} of {node[2]}"
        if threshold:
            line += f", above its threshold of {threshold[1]}"
    return line + " (RAY_memory_usage_threshold)"


class KilledForMemory(RayActorError):
    """The actor running a trial was killed by Ray's memory monitor: Ray's whole message, then
    `memory_line` (the line the terminal and the summary show)."""

    def __init__(self, message: str):
        super().__init__(error_msg=f"{message.rstrip()}\n{memory_line(message)}")
        self.message = message

    def __reduce__(self):
        return KilledForMemory, (self.message,)


def as_actor_death(exception: BaseException) -> BaseException:
    """``exception``, or `KilledForMemory` if it is the memory monitor's."""
    return KilledForMemory(str(exception)) if isinstance(exception, OutOfMemoryError) else exception


def handle_lost_workers() -> None:
    """Mend Tune's controller for lost workers (`fail_trials_killed_for_memory`,
    `keep_starting_actors`); once per process."""
    fail_trials_killed_for_memory()
    keep_starting_actors()


def keep_starting_actors() -> None:
    """Do not drop an actor that is starting for a trial to give the trial a cached one.

    Tune 2.60 requests an actor for each pending trial and, when a running trial ends, gives its
    actor (``reuse_actors``) to the first pending trial, removing the actor requested for it
    (``TuneController._maybe_reuse_cached_actor``). That request is only a wait for resources
    while every slot is busy; but once a lost worker freed a slot, that trial's new actor holds
    it and starts a worker process (seconds: Python, Ray, scikit-learn). Trials shorter than
    that start ended it each time: the run went on one trial at a time. A pending trial whose
    own actor has its resources keeps that actor; the cached one goes to the next trial.
    """
    # Tune's private internals when patched: `tasks` imports this module without Tune
    from ray.tune.execution.tune_controller import TuneController

    reuse = TuneController._maybe_reuse_cached_actor
    if getattr(reuse, "mended", False):
        return

    def reuse_unless_starting(self, trial, _original=reuse):
        own = self._trial_to_actor.get(trial)
        starting = own is not None and self._actor_manager.is_actor_started(own)
        if starting and trial not in self._resetting_trials:
            return False  # it has its slot and a worker starting: the cached actor is for another
        return _original(self, trial)

    reuse_unless_starting.mended = True
    TuneController._maybe_reuse_cached_actor = reuse_unless_starting


def fail_trials_killed_for_memory() -> None:
    """Make Ray Tune treat a worker the memory monitor killed as its trial's lost actor.

    Ray 2.60's ``RayActorManager._actor_task_failed`` (ray/air/execution/_internal/actor_manager.py)
    raises ``RuntimeError("Caught unexpected exception")`` for an error that is neither a
    `RayTaskError` nor a `RayActorError`; an `OutOfMemoryError` is neither. Both of its failure
    callbacks get `as_actor_death` first: Tune then errors (or retries, ``max_failures``) that
    trial and the run goes on.

    Tune's ``TuneController._schedule_trial_stop`` marks the trial ERROR but, when its actor is
    already gone (the kill), returns before marking it to be saved: the experiment state would
    keep it RUNNING, an unfinished trial that every ``--resume`` runs again. It is marked here.
    Installed once per process.
    """
    # Tune's private internals when patched: `tasks` imports this module without Tune
    from ray.air.execution._internal.actor_manager import RayActorManager
    from ray.tune.execution.tune_controller import TuneController

    stop = TuneController._schedule_trial_stop
    if not getattr(stop, "mended", False):

        def stop_and_save(self, trial, exception=None, _original=stop):
            _original(self, trial, exception=exception)
            self._mark_trial_to_checkpoint(trial)  # its status, as it is now, in the next save

        stop_and_save.mended = True
        TuneController._schedule_trial_stop = stop_and_save

    for name in ("_actor_task_failed", "_actor_start_failed"):
        original = getattr(RayActorManager, name)
        if getattr(original, "mended", False):
            continue

        def failed(self, *args, _original=original, **kwargs):  # Ray passes both by keyword
            if "exception" in kwargs:
                kwargs["exception"] = as_actor_death(kwargs["exception"])
            else:
                args = (*args[:-1], as_actor_death(args[-1]))
            return _original(self, *args, **kwargs)

        failed.mended = True
        setattr(RayActorManager, name, failed)
