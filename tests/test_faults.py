"""Faults, through the real command line: failing trials, killed workers, interrupted and
resumed runs, concurrent runs, and files that are never half-written.

Trials are `tests.helpers.MarkedRegressor`: each fit appends ``start N PID`` and
``end N PID`` to ``marks/fits.log`` (N is the configuration's n_estimators), so the tests
count exactly which configurations ran, where, and how often.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, experiment_dict
from tests.test_cli import cli, write
from tuning.run_files import write_atomic, write_json

CONFIGS = [1, 2, 3, 4, 5, 6]


def marked(
    tmp_path: Path,
    sleep: float,
    n: list[int],
    cls: str = "MarkedRegressor",
    params: dict | None = None,
    **changes,
) -> Path:
    """An experiment of `MarkedRegressor` trials (or of another ``cls`` of tests.helpers, with
    more fixed ``params``), one per n_estimators in ``n``."""
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    fixed = {"sleep": sleep, "marks": str(marks), **(params or {})}
    raw = experiment_dict(
        tmp_path,
        name="faulty",
        estimator={"class": f"tests.helpers.{cls}", "params": fixed},
        space={"n_estimators": n},
        refit=False,  # every fit counted here is a trial's
        **changes,
    )
    return write(tmp_path, raw)


def fits(tmp_path: Path, event: str = "start") -> list[tuple[int, int]]:
    """(n_estimators, pid) of every fit that reached ``event`` (start or end)."""
    log = tmp_path / "marks" / "fits.log"
    if not log.exists():
        return []
    rows = [line.split() for line in log.read_text().splitlines()]
    return [(int(n), int(pid)) for kind, n, pid in rows if kind == event]


def start(*args: str, out: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The CLI in the background, its output in ``out`` (polled while it runs); ``env`` adds
    variables to its environment."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with open(out, "w") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )


def wait_for(condition, timeout: float = 180, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def run_dir_of(tmp_path: Path) -> Path:
    (run_dir,) = (tmp_path / "results" / "faulty").iterdir()
    return run_dir


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def by_n(summary: dict, runner: str = "tune") -> dict[int, dict]:
    trials = summary["trials"][runner]
    assert len({t["config"]["n_estimators"] for t in trials}) == len(trials), "a configuration twice"
    return {t["config"]["n_estimators"]: t for t in trials}


# ----------------------------------------------------------------- 1. a configuration raises


@pytest.mark.slow
def test_a_configuration_that_raises_fails_only_its_trial(tmp_path):
    """The two configurations with fail=True raise in fit: errored in both runners, the others
    complete, exit code 1.

    With ``max_failures: 1`` Tune retries each errored trial once (it cannot tell a
    deterministic error from a flaky one) before marking it errored.
    """
    path = marked(tmp_path, 0.0, [1, 3], max_failures=1)
    raw = yaml.safe_load(path.read_text())
    raw["space"]["fail"] = [False, True]  # crossed: (1, ok) (1, fails) (3, ok) (3, fails)
    path.write_text(yaml.safe_dump(raw))
    result = cli("tuning.run", str(path), "--runner", "both", "--num-cpus", "2")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    summary = summary_of(run_dir_of(tmp_path))
    assert summary["status"] == "incomplete"
    assert summary["counts"] == {"trials": 4, "ok": 2, "error": 2, "retries": 2}
    assert summary["parity"] == {"identical": True, "differing": []}
    for runner in ("tune", "sequential"):
        trials = summary["trials"][runner]
        failed = [t for t in trials if t["config"]["fail"]]
        assert len(trials) == 4 and len(failed) == 2
        for trial in failed:
            assert trial["status"] == "error" and trial["metrics"] == {}
            assert "ValueError: this configuration fails at fit time" in trial["error"]
        assert all(t["status"] == "ok" and t["error"] is None for t in trials if not t["config"]["fail"])
    assert [t["retries"] for t in summary["trials"]["tune"] if t["config"]["fail"]] == [1, 1]
    assert "ERROR: ValueError: this configuration fails at fit time" in result.stdout
    assert "Trials:        2 ok, 2 errored, 2 retried" in result.stdout
    # per n_estimators: sequential fits ok once and fails once; Tune fits ok once and
    # fails twice (one retry); only the ok fits reach their end
    assert Counter(n for n, _ in fits(tmp_path)) == {1: 5, 3: 5}
    assert Counter(n for n, _ in fits(tmp_path, "end")) == {1: 2, 3: 2}


# ----------------------------------------------------------------- 2. a worker is killed


KILL_CONFIGS = list(range(1, 21))


def kill_a_worker(tmp_path: Path, runner: str) -> tuple[dict, int, int]:
    """Run twenty trials on 2 CPUs with ``runner``, SIGKILL the worker process of the first fit,
    and check that the run completes with every trial ok, the killed one's run again (no
    result twice), and two trials at once after the kill; the summary, the killed
    configuration and its process.

    The trials are `tests.helpers.RelayRegressor`s: 2 s each, shorter than a worker's start on
    a busy machine, until a second process runs trials after the kill; then two of them wait
    for each other, so they overlap whenever a second worker serves trials at all."""
    path = marked(tmp_path, 2.0, KILL_CONFIGS, "RelayRegressor", runner=runner)
    proc = start("tuning.run", str(path), "--num-cpus", "2", out=tmp_path / "out.txt")
    try:
        wait_for(lambda: fits(tmp_path), what="a first fit")
        victim_n, victim_pid = fits(tmp_path)[0]
        assert victim_pid != proc.pid  # a Ray worker, not the driver
        os.kill(victim_pid, signal.SIGKILL)
        killed_at = time.time()
        (tmp_path / "marks" / "killed").touch()
        assert proc.wait(timeout=300) == 0, (tmp_path / "out.txt").read_text()[-3000:]
    finally:
        proc.kill()
    summary = summary_of(run_dir_of(tmp_path))
    assert summary["status"] == "complete" and summary["counts"]["ok"] == len(KILL_CONFIGS)
    trials = by_n(summary, runner)
    assert all(t["status"] == "ok" for t in trials.values())
    assert Counter(n for n, _ in fits(tmp_path)) == {n: 1 + (n == victim_n) for n in KILL_CONFIGS}
    assert Counter(n for n, _ in fits(tmp_path, "end")) == {n: 1 for n in KILL_CONFIGS}  # no result twice
    workers = set((tmp_path / "marks" / "after.log").read_text().split())
    assert len(workers) >= 2, "one worker process ran every trial after the kill"
    after = sorted((t["started_at"], t["ended_at"]) for t in trials.values() if t["started_at"] > killed_at)
    overlaps = [(a, b) for a, b in itertools.pairwise(after) if b[0] < a[1]]
    assert overlaps, f"one trial at a time after the kill: {after}"  # the concurrency is kept
    return summary, victim_n, victim_pid


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_the_run_completes(tmp_path):
    """SIGKILL the process fitting one configuration: Tune retries it; every trial ends ok, and
    the trials after the kill still run two at a time (an actor starting in the lost one's
    place is kept: `tuning.runners.lost.keep_starting_actors`)."""
    summary, victim_n, victim_pid = kill_a_worker(tmp_path, "tune")
    assert summary["counts"] == {"trials": 20, "ok": 20, "error": 0, "retries": 1}
    trials = by_n(summary)
    assert {n: t["retries"] for n, t in trials.items()} == {n: int(n == victim_n) for n in KILL_CONFIGS}
    (retry_pid,) = [pid for n, pid in fits(tmp_path, "end") if n == victim_n]
    assert retry_pid != victim_pid and trials[victim_n]["status"] == "ok"
    assert "20 ok, 0 errored, 1 retried" in (tmp_path / "out.txt").read_text()


# ----------------------------------------------------------------- 2b. a trial killed for memory


@pytest.fixture
def memory_to_itself():
    """The memory tests one at a time, across the xdist workers: each sets Ray's threshold from
    the machine's use at its start, and another one's 4 GB would move it."""
    with open(Path(tempfile.gettempdir()) / "tuning-tests-memory.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def scarce_memory(headroom_gb: float = 2.5) -> dict[str, str]:
    """Ray's memory monitor settings for a run: kill a worker once the machine uses
    ``headroom_gb`` more than it does now (checked every 100 ms); no real shortage needed."""
    lines = Path("/proc/meminfo").read_text().splitlines()
    info = {line.split(":")[0]: int(line.split()[1]) for line in lines}
    total, used = info["MemTotal"], info["MemTotal"] - info["MemAvailable"]
    threshold = (used + headroom_gb * 2**20) / total  # kB
    return {"RAY_memory_usage_threshold": f"{threshold:.4f}", "RAY_memory_monitor_refresh_ms": "100"}


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["tune", "tasks"])
def test_a_trial_killed_for_memory_is_an_errored_trial_and_the_run_completes(
    tmp_path, runner, memory_to_itself
):
    """Configuration 2 allocates up to 4 GB, past a threshold 2.5 GB above the machine's use:
    Ray's memory monitor kills its worker, once and again on its one retry. That trial errors
    with one line saying so; the others finish; the summary and report are written; Tune's
    state keeps it errored, so ``--resume`` has nothing left to run."""
    greedy = {"greedy": 2, "mb": 4000}
    path = marked(tmp_path, 1.0, [1, 2, 3], "GreedyRegressor", greedy, runner=runner, max_failures=1)
    out = tmp_path / "out.txt"
    proc = start("tuning.run", str(path), "--num-cpus", "2", out=out, env=scarce_memory())
    try:
        code = proc.wait(timeout=240)
    finally:
        proc.kill()
    text = out.read_text()
    assert code == 1, text[-3000:]
    assert "Traceback" not in text and "Caught unexpected exception" not in text
    run_dir = run_dir_of(tmp_path)
    summary = summary_of(run_dir)
    assert summary["status"] == "incomplete" and summary["unfinished"] == 0
    assert summary["counts"]["ok"] == 2 and summary["counts"]["error"] == 1
    trials = by_n(summary, runner)
    assert trials[2]["status"] == "error" and trials[2]["metrics"] == {}
    killed = "killed for memory: Ray's memory monitor killed its worker process (pid "
    assert trials[2]["error"].startswith(killed)
    assert "above its threshold of" in trials[2]["error"] and "\n" not in trials[2]["error"]
    assert trials[1]["status"] == trials[3]["status"] == "ok"
    assert "2 ok, 1 errored" in text and (run_dir / "report.html").is_file()
    assert not [n for n, _ in fits(tmp_path, "end") if n == 2]  # never finished a fit
    if runner == "tune":  # one line per kill (its try and its retry), naming the trial
        kills = [line for line in text.splitlines() if f"{trials[2]['name']} failed: {killed}" in line]
        assert len(kills) == 2
        from tuning.runners.tune import read_tune

        (errored,) = [t for t in read_tune(run_dir) if t.error]
        assert errored.config["n_estimators"] == 2 and errored.error.startswith("killed for memory")
    resumed = cli("tuning.run", "--resume", str(run_dir))
    assert resumed.returncode == 2 and "Traceback" not in resumed.stderr
    assert resumed.stderr.strip().endswith("has nothing to resume: the run ended with status 'incomplete'")


@pytest.mark.slow
def test_the_baseline_runs_outside_rays_memory_monitor(tmp_path, memory_to_itself):
    """The sequential baseline fits in the `tuning` process, which Ray's monitor does not
    kill: the configuration that allocates past the lowered threshold finishes like the others."""
    greedy = {"greedy": 2, "mb": 4000}
    path = marked(tmp_path, 0.0, [1, 2], "GreedyRegressor", greedy, runner="sequential")
    out = tmp_path / "out.txt"
    proc = start("tuning.run", str(path), out=out, env=scarce_memory())
    try:
        assert proc.wait(timeout=240) == 0, out.read_text()[-3000:]
    finally:
        proc.kill()
    summary = summary_of(run_dir_of(tmp_path))
    assert summary["counts"] == {"trials": 2, "ok": 2, "error": 0, "retries": 0}
    assert Counter(n for n, _ in fits(tmp_path, "end")) == {1: 1, 2: 1}
    assert "killed for memory" not in out.read_text()


# ----------------------------------------------------------------- 3. the driver is interrupted


def interrupt_and_resume(tmp_path: Path, runner: str, sig: signal.Signals) -> None:
    path = marked(tmp_path, 1.5, CONFIGS, runner=runner)
    out = tmp_path / "first.txt"
    proc = start("tuning.run", str(path), "--num-cpus", "2", out=out)
    try:
        wait_for(lambda: f"[{runner}] 2/6 done" in out.read_text(), what="two finished trials")
        proc.send_signal(sig)
        assert proc.wait(timeout=120) == 130, out.read_text()[-3000:]
    finally:
        proc.kill()
    text = out.read_text()
    run_dir = run_dir_of(tmp_path)
    assert f"python -m tuning.run --resume {run_dir}" in text and "Traceback" not in text
    first = summary_of(run_dir)
    assert first["status"] == "interrupted"
    kept = {n for n, t in by_n(first, runner).items() if t["status"] == "ok"}
    assert 2 <= len(kept) < len(CONFIGS) and first["unfinished"] == len(CONFIGS) - len(kept)
    assert first["counts"]["ok"] == len(kept) and first["counts"]["error"] == 0
    fits_before = len(fits(tmp_path))

    resumed = cli("tuning.run", "--resume", str(run_dir), "--num-cpus", "2")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = summary_of(run_dir)
    assert summary["status"] == "complete" and summary["resumed"] is True and summary["unfinished"] == 0
    assert summary["counts"] == {"trials": 6, "ok": 6, "error": 0, "retries": 0}
    trials = by_n(summary, runner)  # exactly one result per configuration
    assert sorted(trials) == CONFIGS and all(t["status"] == "ok" for t in trials.values())
    for n in kept:  # finished before the interrupt: kept as they were, not run again
        assert trials[n]["started_at"] == by_n(first, runner)[n]["started_at"]
    again = Counter(n for n, _ in fits(tmp_path)[fits_before:])
    assert again == {n: 1 for n in CONFIGS if n not in kept}  # only the unfinished ones ran
    assert "6 ok, 0 errored, 0 retried" in resumed.stdout and "not finished" not in resumed.stdout
    assert summary["timings"][f"{runner}_s"] > first["timings"][f"{runner}_s"] > 0  # both sessions
    assert "Failed to fetch metrics" not in resumed.stdout + resumed.stderr
    assert (run_dir / "experiment.yaml").is_file() and len(list(run_dir.parent.iterdir())) == 1


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_tune_run_resumes_only_unfinished_trials(tmp_path, sig):
    interrupt_and_resume(tmp_path, "tune", sig)


@pytest.mark.slow
def test_interrupted_sequential_run_resumes_only_unfinished_trials(tmp_path):
    interrupt_and_resume(tmp_path, "sequential", signal.SIGTERM)


def test_resume_refuses_a_finished_run_and_other_experiments(tmp_path):
    run_dir = tmp_path / "results" / "faulty" / "2026-01-01_00-00-00"
    run_dir.mkdir(parents=True)
    path = marked(tmp_path, 0.0, [1, 2])
    saved = {**yaml.safe_load(path.read_text()), "runner": "tune"}
    from tuning.config import validate

    write_atomic(run_dir / "experiment.yaml", yaml.safe_dump(validate(saved).resolved()))
    other = marked(tmp_path, 0.0, [1, 2, 3])
    result = cli("tuning.run", str(other), "--resume", str(run_dir))
    assert result.returncode == 2 and "differs from the experiment saved in" in result.stderr
    assert "(in space)" in result.stderr
    result = cli("tuning.run", "--resume", str(run_dir), "--set", "seed=3")
    assert result.returncode == 2 and "--set cannot change it" in result.stderr
    write_json(run_dir / "summary.json", {"status": "complete"})
    result = cli("tuning.run", "--resume", str(run_dir))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: --resume {run_dir}: has nothing to resume: the run ended with status 'complete'"
    )
    result = cli("tuning.run", "--resume", str(tmp_path / "nowhere"))
    assert result.returncode == 2 and "must be a run directory; no such folder" in result.stderr


# ----------------------------------------------------------------- 4. two runs at once


@pytest.mark.slow
def test_two_runs_at_once_get_their_own_directories(tmp_path):
    path = marked(tmp_path, 0.5, [1, 2])
    procs = [start("tuning.run", str(path), "--num-cpus", "1", out=tmp_path / f"out{i}.txt") for i in (0, 1)]
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert codes == [0, 0], [(tmp_path / f"out{i}.txt").read_text()[-2000:] for i in (0, 1)]
    run_dirs = sorted((tmp_path / "results" / "faulty").iterdir())
    assert len(run_dirs) == 2
    for run_dir in run_dirs:
        summary = summary_of(run_dir)
        assert summary["run_dir"] == str(run_dir) and summary["counts"]["ok"] == 2
        assert sorted(by_n(summary)) == [1, 2]
        assert all(Path(t["path"]).parent == run_dir for t in summary["trials"]["tune"])
        assert len(list(run_dir.glob("trial_*"))) == 2
    assert Counter(n for n, _ in fits(tmp_path, "end")) == {1: 2, 2: 2}


def test_runs_started_in_the_same_second_never_share_a_directory(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime

    import tuning.run_files as results

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.setattr(results, "datetime", Frozen)
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: results.new_run_dir(str(tmp_path), "exp"), range(8)))
    names = sorted(p.name for p in made)
    assert len(set(names)) == 8
    assert names == sorted(["2026-01-02_03-04-05", *(f"2026-01-02_03-04-05_{i}" for i in range(1, 8))])


# ----------------------------------------------------------------- 5. atomic files


@pytest.mark.parametrize("breaks", ["os.replace", "os.fsync"])
def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch, breaks):
    target = tmp_path / "summary.json"
    write_json(target, {"status": "complete", "n": 1})
    before = target.read_text()

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, breaks.split(".")[1], crash)
    with pytest.raises(OSError, match="No space left"):
        write_json(target, {"status": "complete", "n": 2, "big": "x" * 100_000})
    monkeypatch.undo()
    assert target.read_text() == before and json.loads(before)["n"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_killed_writer_leaves_a_whole_file(tmp_path):
    """SIGKILL a process rewriting a file in a loop: the file is always one whole version."""
    target = tmp_path / "report.txt"
    versions = {"a": "A" * 4_000_000 + "\n", "b": "B" * 3_000_000 + "\n"}
    write_atomic(target, versions["a"])
    code = (
        "import sys; from pathlib import Path; from tuning.run_files import write_atomic\n"
        "a, b = 'A' * 4_000_000 + '\\n', 'B' * 3_000_000 + '\\n'\n"
        "print('go', flush=True)\n"
        "while True:\n"
        "    write_atomic(Path(sys.argv[1]), b); write_atomic(Path(sys.argv[1]), a)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay in (0.05, 0.2, 0.5):
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(target)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline() == "go\n"
        time.sleep(delay)
        proc.kill()
        proc.wait()
        assert target.read_text() in versions.values()
