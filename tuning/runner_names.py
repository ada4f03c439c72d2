"""The runners' names, one home: the ``runner:`` settings, the run directory's folders and the
summary's keys (``tune_s``, ``trials.tune``) all spell a runner as below.

No import of Ray or of the rest of the package: every floor reads these names.
"""

from __future__ import annotations

SEQUENTIAL = "sequential"  # the baseline: the trials one after another in this process
TASKS = "tasks"  # Ray Core tasks, one per trial
TUNE = "tune"  # Ray Tune's Tuner
BOTH = "both"  # the setting that runs the baseline and Tune
ALL = "all"  # the setting that runs all three

PARALLEL = (TASKS, TUNE)  # the runners that run trials at once, on Ray
IN_ORDER = (SEQUENTIAL, TASKS, TUNE)  # the order they run in and are listed: the baseline first
SHOWN_FIRST = (TUNE, TASKS, SEQUENTIAL)  # whose trials a run shows (its main result): the first that ran
RUNNERS = {  # each runner setting and the runners it runs, in order: the baseline first (the reference)
    TUNE: (TUNE,),
    SEQUENTIAL: (SEQUENTIAL,),
    TASKS: (TASKS,),
    BOTH: (SEQUENTIAL, TUNE),
    ALL: IN_ORDER,
}
LABELS = {TUNE: "Ray Tune", TASKS: "Ray Core tasks", SEQUENTIAL: "Sequential baseline"}  # the reports' words
