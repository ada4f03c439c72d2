"""One quiet line per finished trial: counts, the best so far, and the time left.

``[tune] 7/20 done, 2 running, 11 pending | best mse 0.2608 (n_estimators=80) | ~21 s left``

The time left is a schedule, not a mean: each remaining trial's duration is predicted from
the finished ones (a straight line through duration against a size parameter such as
``n_estimators`` when one varies, else their mean), and the remaining trials are laid out
on ``parallelism`` workers, the running ones first for what is left of them. Each trial also
holds its worker beyond its own fit (Tune starts it, reports and schedules it): that overhead
is measured from how often trials finish once the first wave is done, and added to each.

On a terminal there is ONE status line, redrawn in place as trials finish and about once a
second while Tune runs (`Progress.tick`), so the time left counts down; it stays on screen
when the last trial ends. In a Jupyter notebook the same line is one output of the cell,
updated in place (`NotebookLine`: IPython's display handle). In a log file (or with
``--verbose``) there is one line per finished trial instead. Tune's own console output (and
its notebook table) is replaced.
"""

from __future__ import annotations

import heapq
import html
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any

from tuning.console import say
from tuning.estimators.classes import size_params_first
from tuning.estimators.models import flat_choice
from tuning.estimators.space import config_key
from tuning.metrics import better
from tuning.trial.shared_fits import INDEX_KEY, SHARED_KEY
from tuning.values import is_number, params_text, score_text


class DurationModel:
    """Predicts a trial's duration from finished ones: linear in a size parameter, or the mean."""

    def __init__(self, finished: list[tuple[dict[str, Any], float]]):
        self.mean = sum(d for _, d in finished) / len(finished) if finished else None
        self.param: str | None = None
        self.intercept = self.slope = 0.0
        for param in _size_candidates(finished):
            points = [(float(c[param]), d) for c, d in finished]
            xs = [x for x, _ in points]
            mean_x = sum(xs) / len(xs)
            spread = sum((x - mean_x) ** 2 for x in xs)
            if spread == 0:
                continue
            mean_y = sum(d for _, d in points) / len(points)
            slope = sum((x - mean_x) * (d - mean_y) for x, d in points) / spread
            if slope > 0:  # bigger is slower; otherwise the parameter says nothing about time
                self.param, self.slope, self.intercept = param, slope, mean_y - slope * mean_x
                break

    def predict(self, config: dict[str, Any]) -> float | None:
        if self.mean is None:
            return None
        if self.param and is_number(config.get(self.param)):
            floor = 0.1 * self.mean  # a line fitted on few points must not predict <= 0
            return max(self.intercept + self.slope * float(config[self.param]), floor)
        return self.mean


def _size_candidates(finished: list[tuple[dict[str, Any], float]]) -> list[str]:
    numeric = [
        p
        for p in dict.fromkeys(p for c, _ in finished for p in c)
        if all(is_number(c.get(p)) for c, _ in finished)
    ]
    return size_params_first(numeric)


def schedule_time(running_left: list[float], pending: list[float], parallelism: int) -> float:
    """When the last trial ends if ``pending`` trials (in order) take the first free worker.

    ``running_left`` is the time left of each running trial; each holds a worker.
    """
    workers = max(parallelism, len(running_left), 1)
    ends = sorted(running_left) + [0.0] * (workers - len(running_left))
    heapq.heapify(ends)
    for duration in pending:
        heapq.heappush(ends, heapq.heappop(ends) + duration)
    return max(ends)


class NotebookLine:
    """The status line as one output of a notebook cell, updated in place (text and HTML)."""

    def __init__(self, line: str) -> None:
        from IPython.display import display  # in a kernel: IPython is there, and imported

        self.handle = display(self._bundle(line), raw=True, display_id=True)

    def show(self, line: str) -> None:
        self.handle.update(self._bundle(line), raw=True)

    @staticmethod
    def _bundle(line: str) -> dict[str, str]:
        return {"text/plain": line, "text/html": f"<pre>{html.escape(line)}</pre>"}


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's shell with a kernel attached)."""
    ipython = sys.modules.get("IPython")  # never imported here: a kernel has imported it already
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


class Progress:
    """Counts trials as they start and finish, and prints one line per finished trial."""

    def __init__(
        self,
        runner: str,
        total: int,
        metric: str,
        mode: str,
        echo: Callable[[str], None] = say,
        parallelism: int = 1,
        configs: list[dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        live: bool | None = None,
        write: Callable[[str], None] | None = None,
        verbose: bool = False,
        show_best: bool = True,
    ):
        self.runner, self.total, self.metric, self.mode, self.echo = runner, total, metric, mode, echo
        self.parallelism = max(1, parallelism)
        self.configs = list(configs) if configs is not None else None
        self.clock = clock
        self.start = clock()
        self.best: tuple[float, dict[str, Any]] | None = None
        self.done = self.errored = 0
        self.running: dict[Hashable, tuple[dict[str, Any], float]] = {}
        self.finished_trials: list[tuple[dict[str, Any], float]] = []
        self._first_finish: float | None = None  # this session's, for `overhead`
        self._last_finish = 0.0
        self._since_first: list[float] = []  # own durations of the trials finished after it
        notebook = live is None and echo is say and not verbose and in_notebook()
        self.live = (echo is say and sys.stdout.isatty()) if live is None else live
        self.live = self.live or notebook
        self.write = write or _write
        self.per_trial = verbose or not self.live  # a line per finished trial, else the live line only
        self.show_best = show_best
        self._last_tick = float("-inf")
        self._shown = False  # a live line is on screen
        self.notebook = NotebookLine(self.line()) if notebook else None

    @property
    def pending(self) -> int:
        return max(self.total - self.done - len(self.running), 0)

    def started(self, config: dict[str, Any], key: Hashable | None = None) -> None:
        """A trial started (again, after a retry: its clock restarts)."""
        self.running[key if key is not None else config_key(config)] = (config, self.clock())

    def requeued(self, key: Hashable) -> None:
        """A running trial failed and waits for a retry: pending again."""
        self.running.pop(key, None)

    def finished(
        self,
        config: dict[str, Any],
        metrics: dict[str, Any] | None,
        running: int | None = None,
        key: Hashable | None = None,
    ) -> None:
        """Count one trial that ended (``metrics`` None: it errored): print its line, or redraw
        the live one (kept on screen after the last trial).

        ``running`` overrides the count of running trials (when the caller knows better).
        """
        now = self.clock()
        _, began = self.running.pop(key if key is not None else config_key(config), (config, None))
        self.done += 1
        if metrics is None:
            self.errored += 1
        else:
            value = metrics[self.metric]
            if self.best is None or better(value, self.best[0], self.mode):
                self.best = (value, config)
        duration = _own_duration(metrics)
        if duration is None and began is not None:
            duration = now - began
        if duration is not None:
            self.finished_trials.append((config, duration))
        if self._first_finish is None:
            self._first_finish = now
        elif duration is not None:
            self._since_first.append(duration)
            self._last_finish = now
        if self.notebook is not None:
            self._draw(now, running)  # the last line stays in its output
        elif self.per_trial or self.done >= self.total:
            self.close()
            self.echo(self.line(running, now))
        else:
            self._draw(now, running)

    def tick(self) -> None:
        """Redraw the live status line in place (on a terminal; at most once a second)."""
        now = self.clock()
        if not self.live or now - self._last_tick < 1.0 or self.done >= self.total:
            return
        self._draw(now)

    def _draw(self, now: float, running: int | None = None) -> None:
        self._last_tick = now
        line = self.line(running, now=now)
        if self.notebook is not None:
            self.notebook.show(line)
            return
        if self.write is _write:
            line = line[: shutil.get_terminal_size().columns - 1]  # a wrapped line cannot be redrawn
        self.write("\r" + line + "\x1b[K")
        self._shown = True

    def close(self) -> None:
        """Erase the live status line, if one is shown."""
        if self._shown:
            self.write("\r\x1b[K")
            self._shown = False

    def line(self, running: int | None = None, now: float | None = None) -> str:
        """``[runner] 5/20 done, 2 running, 13 pending | best ... | ~25 s left``."""
        now = self.clock() if now is None else now
        running = len(self.running) if running is None else running
        pending = max(self.total - self.done - running, 0)
        counts = f"[{self.runner}] {self.done}/{self.total} done"
        if running:
            counts += f", {running} running"
        if pending:
            counts += f", {pending} pending"
        if self.errored:
            counts += f", {self.errored} errored"
        parts = [counts]
        if self.best and self.show_best:
            parts.append(f"best {self.metric} {score_text(self.best[0])} ({params_text(self.best[1])})")
        if self.done < self.total:
            left = self.time_left(now, running, pending)
            if left is not None:
                parts.append(f"~{_duration(left)} left")
        else:
            parts.append(f"{_duration(now - self.start)} in all")
        return " | ".join(parts)

    def time_left(self, now: float, running: int, pending: int) -> float | None:
        """Seconds until the last trial ends, by the schedule of the remaining trials."""
        model = DurationModel(self.finished_trials)
        if model.mean is None:
            return None
        extra = self.overhead()
        running_left = [
            max((model.predict(config) or 0.0) + extra - (now - began), 0.0)
            for config, began in self.running.values()
        ]
        running_left += [model.mean / 2] * max(running - len(running_left), 0)  # running, start unseen
        queue = self._pending_configs()
        if queue is not None and len(queue) == pending:
            pending_times = [(model.predict(config) or model.mean) + extra for config in queue]
        else:
            pending_times = [model.mean + extra] * pending
        return schedule_time(running_left, pending_times, self.parallelism)

    def overhead(self) -> float:
        """Seconds each trial holds a worker beyond its own fit, from the finishes after the first.

        ``n`` trials finishing over ``T`` seconds on ``parallelism`` workers held one for
        ``parallelism * T / n`` each; what their own durations do not explain is overhead
        (a trial's start, its report, Tune's loop). Zero until a whole wave has finished.
        """
        done = self._since_first
        if self._first_finish is None or len(done) < self.parallelism:
            return 0.0
        held = self.parallelism * (self._last_finish - self._first_finish) / len(done)
        return max(held - sum(done) / len(done), 0.0)

    def _pending_configs(self) -> list[dict[str, Any]] | None:
        """The configurations not yet started, in their order (None if not given)."""
        if self.configs is None:
            return None
        seen = Counter(config_key(c) for c, _ in self.finished_trials)
        seen.update(config_key(c) for c, _ in self.running.values())
        queue = []
        for config in self.configs:
            key = config_key(config)
            if seen[key]:
                seen[key] -= 1
            else:
                queue.append(config)
        return queue


def _own_duration(metrics: dict[str, Any] | None) -> float | None:
    """The trial's own wall time, as the trial function measured it."""
    if metrics and is_number(metrics.get("started_at")) and is_number(metrics.get("ended_at")):
        return float(metrics["ended_at"]) - float(metrics["started_at"])
    return None


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def tune_callback(progress: Progress):
    """A Ray Tune callback feeding `Progress` (built lazily: importing it needs Ray).

    Called on every step of Tune's loop, it also redraws the live status line. Tune's own
    console output is off (see `tuning.runners.tune.run_tune`).
    """
    from ray.tune import Callback  # Ray Tune on first use: the baseline and SearchCV show progress without it

    class _TuneProgress(Callback):
        def __init__(self):
            self.reported: dict[str, set[int]] = {}  # a shared-fit trial's configurations done

        def on_step_end(self, iteration, trials, **info):
            progress.tick()

        def on_experiment_end(self, trials, **info):
            progress.close()

        def on_trial_start(self, iteration, trials, trial, **info):
            progress.started(flat_choice(trial.config), key=trial.trial_id)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            shared = trial.config.get(SHARED_KEY)
            if shared is not None and result.get(INDEX_KEY) is not None:  # one configuration of a group
                done = self.reported.setdefault(trial.trial_id, set())
                if result[INDEX_KEY] not in done:
                    done.add(result[INDEX_KEY])
                    progress.finished(shared[result[INDEX_KEY]], result, key=("shared", trial.trial_id))

        def on_trial_complete(self, iteration, trials, trial, **info):
            if SHARED_KEY in trial.config:
                progress.requeued(key=trial.trial_id)  # its configurations were counted one by one
                return
            progress.finished(flat_choice(trial.config), trial.last_result, key=trial.trial_id)

        def on_trial_error(self, iteration, trials, trial, **info):
            if SHARED_KEY in trial.config:
                progress.requeued(key=trial.trial_id)
                done = self.reported.get(trial.trial_id, set())
                for index, config in enumerate(trial.config[SHARED_KEY]):
                    if index not in done:
                        progress.finished(config, None, key=("shared", trial.trial_id))
                return
            progress.finished(flat_choice(trial.config), None, key=trial.trial_id)

        def on_trial_recover(self, iteration, trials, trial, **info):
            progress.requeued(key=trial.trial_id)  # Tune retries it: pending again, not done

    return _TuneProgress()
