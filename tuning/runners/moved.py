"""The module paths of the flat layout before the packages (issue 26), for old run directories.

Tune pickles its state into a run directory (``tuner.pkl``: the progress callback, the
search's objects), naming each class by its module path when the run was written. A run
written before the move names ``tuning.progress.Progress`` or ``tuning.models.Model``;
`old_paths` lets `Tuner.restore` find them where they live now, while it unpickles.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# old module path -> where its code lives now
MOVED = {
    "tuning.estimator": "tuning.estimators.classes",
    "tuning.models": "tuning.estimators.models",
    "tuning.space": "tuning.estimators.space",
    "tuning.gpu": "tuning.estimators.gpu",
    "tuning.families": "tuning.estimators.families",
    "tuning.reference": "tuning.config.reference",
    "tuning.data": "tuning.trial.data",
    "tuning.validation": "tuning.trial.validation",
    "tuning.trial": "tuning.trial.fit",
    "tuning.shared": "tuning.trial.shared_fits",
    "tuning.runners.common": "tuning.trial.records",
    "tuning.plan": "tuning.planning.plan",
    "tuning.search": "tuning.planning.search",
    "tuning.estimate": "tuning.planning.estimate",
    "tuning.dry_run": "tuning.planning.dry_run",
    "tuning.cluster": "tuning.planning.cluster",
    "tuning.progress": "tuning.runners.progress",
    "tuning.events": "tuning.runners.events",
    "tuning.tracking": "tuning.runners.tracking",
    "tuning.summary": "tuning.reports.summary",
    "tuning.refit": "tuning.reports.best_model",
    "tuning.result": "tuning.reports.result",
    "tuning.selection": "tuning.reports.selection",
    "tuning.report": "tuning.reports.text",
    "tuning.inspect": "tuning.reports.inspection",
    "tuning.html": "tuning.reports.html",
    "tuning.results": "tuning.run_files",
    "tuning.execute": "tuning._experiment",
}


@contextmanager
def old_paths() -> Iterator[None]:
    """While inside, each old module path names the module that holds its code now.

    ``sys.modules`` answers an import before any file is looked for, so an unpickler that
    asks for ``tuning.progress`` gets `tuning.runners.progress`. The new modules are imported
    first (an old path may be a new package's: ``tuning.trial``), and every entry is put
    back on the way out."""
    modules = {old: importlib.import_module(new) for old, new in MOVED.items()}  # by name: any layer
    saved = {old: sys.modules.get(old) for old in MOVED}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for old, module in saved.items():
            if module is None:
                sys.modules.pop(old, None)
            else:
                sys.modules[old] = module
