"""The progress line: counts, best so far, and a time left that follows the trials' sizes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tuning.runners.progress import DurationModel, Progress, _duration, schedule_time, tune_callback


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def grid(*sizes: int) -> list[dict]:
    return [{"n_estimators": n} for n in sizes]


def metrics(mse: float, started: float, ended: float) -> dict:
    return {"mse": mse, "started_at": started, "ended_at": ended}


def make(configs, parallelism=1, metric="mse", mode="min"):
    lines: list[str] = []
    clock = FakeClock()
    progress = Progress("tune", len(configs), metric, mode, lines.append, parallelism, configs, clock)
    return progress, lines, clock


def test_line_shows_done_running_pending_best_and_time_left():
    configs = grid(10, 20, 30, 40)
    progress, lines, clock = make(configs, parallelism=2)
    progress.started(configs[0], key="a")
    progress.started(configs[1], key="b")
    clock.now = 1.0
    progress.finished(configs[0], metrics(0.30, 0.0, 1.0), key="a")
    assert lines[-1].startswith(
        "[tune] 1/4 done, 1 running, 2 pending | best mse 0.3000 (n_estimators=10) | ~"
    )
    assert lines[-1].endswith(" s left")
    progress.started(configs[2], key="c")
    clock.now = 2.0
    progress.finished(configs[1], metrics(0.25, 0.0, 2.0), key="b")
    assert lines[-1].startswith("[tune] 2/4 done, 1 running, 1 pending | best mse 0.2500 (n_estimators=20)")


def test_best_follows_the_mode_and_errors_are_counted():
    configs = [{"alpha": 1}, {"alpha": 2}, {"alpha": 3}]
    progress, lines, _ = make(configs, metric="r2", mode="max")
    progress.finished(configs[0], {"r2": 0.5})
    progress.finished(configs[1], None)
    progress.finished(configs[2], {"r2": 0.4})
    assert progress.best == (0.5, {"alpha": 1})
    assert lines[1].startswith("[tune] 2/3 done, 1 pending, 1 errored | best r2 0.5000 (alpha=1)")
    assert lines[-1].startswith("[tune] 3/3 done, 1 errored | best r2 0.5000 (alpha=1) | ")
    assert lines[-1].endswith(" in all") and "left" not in lines[-1]


def test_duration_model_fits_a_size_parameter_and_falls_back_to_the_mean():
    growing = DurationModel(
        [({"n_estimators": 10, "max_depth": 3}, 1.0), ({"n_estimators": 30, "max_depth": 9}, 3.0)]
    )
    assert growing.param == "n_estimators"  # a known budget parameter first
    assert growing.predict({"n_estimators": 80, "max_depth": 3}) == pytest.approx(8.0)
    flat = DurationModel([({"kernel": "rbf"}, 1.0), ({"kernel": "linear"}, 3.0)])
    assert flat.param is None and flat.predict({"kernel": "poly"}) == 2.0
    shrinking = DurationModel([({"alpha": 1.0}, 3.0), ({"alpha": 2.0}, 1.0)])
    assert shrinking.param is None  # slower as it grows, or nothing to say about time
    assert DurationModel([]).predict({"alpha": 1}) is None


def test_schedule_time_lays_trials_on_the_free_workers():
    assert schedule_time([], [1, 1, 1, 1], 2) == 2
    assert schedule_time([3.0], [1, 1], 2) == 3  # both pending trials fit beside the running one
    assert schedule_time([], [4, 1, 1, 1, 1], 2) == 4
    assert schedule_time([], [2, 2, 2], 1) == 6
    assert schedule_time([0.5, 0.5], [], 2) == 0.5


def test_sequential_time_left_follows_growing_trials_not_the_mean():
    """Trials growing in size: the estimate from the size beats elapsed / done * left."""
    configs = grid(10, 20, 30, 40, 50)
    progress, lines, clock = make(configs, parallelism=1)
    t = 0.0
    for config in configs[:2]:
        length = config["n_estimators"] / 10  # 1 s per 10 trees
        clock.now = t + length
        progress.finished(config, metrics(0.3, t, t + length))
        t += length
    # 3 + 4 + 5 s left; the mean of what finished (1.5 s) x 3 would say 4.5 s
    assert progress.time_left(clock.now, 0, progress.pending) == pytest.approx(12.0)
    assert lines[-1].endswith("~12 s left")


def test_time_left_subtracts_what_running_trials_have_done():
    configs = grid(10, 20, 30, 40)
    progress, _, clock = make(configs, parallelism=2)
    progress.started(configs[0], key=0)
    progress.started(configs[1], key=1)
    clock.now = 1.0
    progress.finished(configs[0], metrics(0.3, 0.0, 1.0), key=0)
    progress.started(configs[2], key=2)
    clock.now = 2.0
    progress.finished(configs[1], metrics(0.3, 0.0, 2.0), key=1)
    progress.started(configs[3], key=3)
    clock.now = 2.5
    # n_estimators 30 started at 1.0 takes 3 s: 1.5 s left; 40 started at 2.0 takes 4 s: 3.5 s left
    assert progress.time_left(clock.now, 2, 0) == pytest.approx(3.5)


def test_duration_format():
    assert [_duration(s) for s in (0.4, 42, 185, 3725)] == ["0 s", "42 s", "3 min 05 s", "1 h 02 min"]


def fake_trial(trial_id: str, config: dict, last_result: dict | None = None):
    return SimpleNamespace(trial_id=trial_id, config=config, last_result=last_result or {})


def test_tune_callback_counts_started_finished_and_errored_trials(capsys):
    pytest.importorskip("ray.tune")
    configs = grid(4, 8, 12, 16)
    progress, lines, clock = make(configs, parallelism=2)
    callback = tune_callback(progress)
    trials = [fake_trial(f"t{i}", c) for i, c in enumerate(configs)]
    callback.on_trial_start(iteration=1, trials=trials, trial=trials[0])
    callback.on_trial_start(iteration=1, trials=trials, trial=trials[1])
    assert (progress.done, len(progress.running), progress.pending) == (0, 2, 2)
    clock.now = 1.0
    trials[0].last_result = metrics(0.4, 0.0, 1.0)
    callback.on_trial_complete(iteration=2, trials=trials, trial=trials[0])
    assert lines[-1].startswith("[tune] 1/4 done, 1 running, 2 pending | best mse 0.4000 (n_estimators=4)")
    callback.on_trial_start(iteration=2, trials=trials, trial=trials[2])
    callback.on_trial_recover(iteration=2, trials=trials, trial=trials[2])  # its worker died: retried
    assert (progress.done, len(progress.running), progress.pending) == (1, 1, 2)
    callback.on_trial_start(iteration=2, trials=trials, trial=trials[2])  # restarted
    callback.on_trial_error(iteration=3, trials=trials, trial=trials[1])
    assert lines[-1].startswith("[tune] 2/4 done, 1 running, 1 pending, 1 errored | best mse 0.4000")
    callback.on_trial_start(iteration=3, trials=trials, trial=trials[3])
    for trial, mse in ((trials[2], 0.3), (trials[3], 0.35)):
        trial.last_result = metrics(mse, 1.0, 2.0)
        callback.on_trial_complete(iteration=4, trials=trials, trial=trial)
    assert lines[-1].startswith("[tune] 4/4 done, 1 errored | best mse 0.3000 (n_estimators=12) | ")
    assert len(lines) == 4  # one line per finished trial, nothing when trials start
    assert progress.running == {}
    # per-result updates and Tune's steps print nothing of their own
    callback.on_trial_result(iteration=5, trials=trials, trial=trials[0], result={"training_iteration": 1})
    callback.on_step_end(iteration=5, trials=trials)
    callback.on_experiment_end(trials)
    assert capsys.readouterr().out == ""


def test_live_line_is_redrawn_in_place_at_most_once_a_second_and_erased():
    configs = grid(10, 20, 30)
    shown: list[str] = []
    lines: list[str] = []
    clock = FakeClock()
    progress = Progress(
        "tune", 3, "mse", "min", lines.append, 1, configs, clock, live=True, write=shown.append, verbose=True
    )
    progress.started(configs[0], key=0)
    clock.now = 1.0
    progress.tick()
    clock.now = 1.5
    progress.tick()  # too soon: not redrawn
    assert shown == ["\r[tune] 0/3 done, 1 running, 2 pending\x1b[K"]
    progress.finished(configs[0], metrics(0.3, 0.0, 1.0), key=0)
    assert shown[-1] == "\r\x1b[K"  # erased before the permanent line
    assert lines == ["[tune] 1/3 done, 2 pending | best mse 0.3000 (n_estimators=10) | ~2 s left"]  # mean x 2
    progress.started(configs[1], key=1)
    clock.now = 2.5
    progress.tick()
    assert shown[-1].startswith("\r[tune] 1/3 done, 1 running, 1 pending | best mse 0.3000")
    assert shown[-1].endswith("~1 s left\x1b[K")  # the running one is 1 s in: 0 s left, then 1 s
    progress.close()
    assert shown[-1] == "\r\x1b[K"
    quiet = Progress("tune", 3, "mse", "min", lines.append, 1, configs, clock, live=False, write=shown.append)
    before = len(shown)
    clock.now = 10.0
    quiet.tick()
    quiet.close()
    assert len(shown) == before  # not a terminal: nothing but the per-trial lines


def test_on_a_terminal_one_line_is_updated_in_place_and_kept_at_the_end():
    configs = grid(*range(1, 201))
    shown: list[str] = []
    lines: list[str] = []
    clock = FakeClock()
    progress = Progress(
        "tune", len(configs), "mse", "min", lines.append, 2, configs, clock, live=True, write=shown.append
    )
    for index, config in enumerate(configs):
        progress.started(config, key=index)
        clock.now += 0.01
        progress.finished(config, metrics(1.0 / (index + 1), clock.now - 0.01, clock.now), key=index)
    assert lines == [f"[tune] 200/200 done | best mse 0.0050 (n_estimators=200) | {2} s in all"]
    assert len(shown) >= 199 and all(s.startswith("\r[tune] ") and s.endswith("\x1b[K") for s in shown[:199])
    assert shown[0].startswith("\r[tune] 1/200 done") and "\n" not in "".join(shown)
    assert shown[-1] == "\r\x1b[K"  # erased just before the last line is printed for good


def test_off_a_terminal_or_verbose_each_trial_has_its_line():
    configs = grid(4, 8, 12)
    for live, verbose in ((False, False), (True, True)):
        lines: list[str] = []
        clock = FakeClock()
        progress = Progress(
            "tune",
            3,
            "mse",
            "min",
            lines.append,
            1,
            configs,
            clock,
            live=live,
            write=[].append,
            verbose=verbose,
        )
        for index, config in enumerate(configs):
            progress.finished(config, metrics(0.5, 0.0, 1.0), key=index)
        assert [line.split(",")[0].split(" |")[0] for line in lines] == [
            f"[tune] {n}/3 done" for n in (1, 2, 3)
        ]


def test_chunks_of_repeats_show_no_best():
    progress, lines, _ = make(grid(4, 8))
    progress.show_best = False
    progress.finished({"n_estimators": 4}, metrics(0.5, 0.0, 1.0))
    assert "best" not in lines[-1] and lines[-1].startswith("[tune] 1/2 done")


def test_time_left_counts_what_each_trial_costs_beyond_its_own_fit():
    """2,000 tiny trials (5 ms fits) on 2 workers, each holding its worker 0.2 s (Tune's start,
    report and scheduling): at 424 done, 1,576 are left at 10 a second: ~158 s, not ~4 s."""
    configs = [{"alpha": i} for i in range(2000)]
    progress, _, clock = make(configs, parallelism=2)
    for i in (0, 1):
        progress.started(configs[i], key=i)
    for i in range(424):
        clock.now = (i // 2) * 0.2 + 0.2
        progress.finished(configs[i], metrics(0.3, clock.now - 0.005, clock.now), key=i)
        progress.started(configs[i + 2], key=i + 2)
    truth = (2000 - 424) / 2 * 0.2
    assert progress.time_left(clock.now, 2, progress.pending) == pytest.approx(truth, rel=0.05)


def test_time_left_with_no_overhead_still_follows_the_sizes():
    """Trials whose fits fill their workers: no overhead is added, the sizes still decide."""
    configs = grid(*range(1, 21))
    progress, _, clock = make(configs, parallelism=1)
    t = 0.0
    for config in configs[:5]:
        progress.started(config)
        length = config["n_estimators"] * 0.1
        t += length
        clock.now = t
        progress.finished(config, metrics(0.3, t - length, t))
    assert progress.time_left(clock.now, 0, progress.pending) == pytest.approx(sum(range(6, 21)) * 0.1)


class FakeHandle:
    """IPython's display handle: what the cell's one output shows, updated in place."""

    def __init__(self, shown: list):
        self.shown = shown

    def update(self, bundle, raw=False):
        assert raw
        self.shown.append(bundle)


def test_in_a_notebook_one_output_is_updated_in_place_and_nothing_printed(monkeypatch, capsys):
    display_module = pytest.importorskip("IPython.display")  # a notebook's kernel has it
    from tuning.runners import progress as progress_module

    assert not progress_module.in_notebook()  # pytest is no kernel
    shown: list = []
    outputs = []

    def display(bundle, raw=False, display_id=False):
        assert raw and display_id is True
        outputs.append(bundle)
        shown.append(bundle)
        return FakeHandle(shown)

    monkeypatch.setattr(display_module, "display", display)
    monkeypatch.setattr(progress_module, "in_notebook", lambda: True)
    configs = grid(10, 20, 30)
    clock = FakeClock()
    progress = Progress("tune", 3, "mse", "min", progress_module.say, 1, configs, clock)
    for n, config in enumerate(configs):
        progress.started(config)
        clock.now += 1.0
        progress.finished(config, metrics(0.5 - n / 10, clock.now - 1.0, clock.now))
    progress.close()
    assert capsys.readouterr().out == ""  # no printed line per trial
    assert len(outputs) == 1  # one output, first showing the counts
    assert shown[0]["text/plain"] == "[tune] 0/3 done, 3 pending"
    last = shown[-1]
    assert last["text/plain"] == "[tune] 3/3 done | best mse 0.3000 (n_estimators=30) | 3 s in all"
    assert last["text/html"] == f"<pre>{last['text/plain']}</pre>"
    assert [b["text/plain"].split(" |")[0] for b in shown[1:]] == [
        f"[tune] {k}/3 done" + (", " + f"{3 - k} pending" if k < 3 else "") for k in (1, 2, 3)
    ]
