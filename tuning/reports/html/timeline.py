"""The timeline's data: the run's phases and each runner's trials, one lane per worker.

The origin is the process's start (``timings.process_start``, the CLI) or the run's start
(``timings.run_start``, the Python API); a summary written before phases were recorded
falls back to each runner's first trial.
"""

from __future__ import annotations

from typing import Any

from tuning.summary_types import Summary

ORIGINS = {"process_start": "the process started", "run_start": "the run started"}


def _timed(trial: dict[str, Any]) -> bool:
    """Whether the trial has both a start and an end time (an errored one may have neither)."""
    return trial.get("started_at") is not None and trial.get("ended_at") is not None


def assign_lanes(trials: list[dict[str, Any]]) -> tuple[list[int], list[str]]:
    """One lane per worker: a lane index for each trial, and each lane's label.

    A worker is a process (``node_id`` and ``pid``), named "worker N" in order of first use
    ("node K · worker N" on several nodes). Without pids (older summaries), trials are packed
    greedily into the fewest lanes in which no two overlap.
    """
    lanes: list[int] = [-1] * len(trials)
    labels: list[str] = []
    order = sorted(range(len(trials)), key=lambda i: trials[i]["started_at"])
    if all(trials[i].get("pid") is not None for i in order):
        workers: dict[tuple[Any, Any], int] = {}
        nodes: dict[Any, list[Any]] = {}  # node -> its workers, each in order of first use
        for i in order:
            node, pid = trials[i].get("node_id"), trials[i]["pid"]
            if pid not in nodes.setdefault(node, []):
                nodes[node].append(pid)
                workers[(node, pid)] = len(workers)
            lanes[i] = workers[(node, pid)]
        several = len(nodes) > 1
        numbers = {node: k for k, node in enumerate(nodes, 1)}
        return lanes, [
            (f"node {numbers[n]} · " if several else "") + f"worker {nodes[n].index(p) + 1}"
            for n, p in workers
        ]
    ends: list[float] = []
    for i in order:
        start = trials[i]["started_at"]
        free = [lane for lane, end in enumerate(ends) if end <= start + 1e-3]
        lane = free[0] if free else len(ends)
        if lane == len(ends):
            ends.append(0.0)
            labels.append(f"worker {lane + 1}")
        ends[lane] = trials[i]["ended_at"]
        lanes[i] = lane
    return lanes, labels


def origin(summary: Summary) -> tuple[float | None, str]:
    """The timeline's zero (wall clock) and what it is; None: each runner's first trial."""
    timings = summary.get("timings") or {}
    for key, label in ORIGINS.items():
        if timings.get(key) is not None:
            return timings[key], label
    return None, "the runner's first trial started"


def timeline_data(summary: Summary, runners: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each runner's lanes and bars, and the run's phases, in seconds since the origin."""
    zero, label = origin(summary)
    starts = [t["started_at"] for name in runners for t in summary["trials"][name] if _timed(t)]
    if zero is not None and starts and min(starts) < zero:  # resumed: trials of an earlier session
        zero, label = min(starts), "the first trial started (a resumed run)"
    charts: dict[str, Any] = {}
    for name in runners:
        trials = [t for t in summary["trials"][name] if _timed(t)]
        if not trials:
            continue
        lanes, labels = assign_lanes(trials)
        start = zero if zero is not None else min(t["started_at"] for t in trials)
        charts[name] = {
            "lanes": labels,
            "bars": [
                {
                    "trial": t["name"],
                    "lane": lane,
                    "start_s": round(t["started_at"] - start, 4),
                    "end_s": round(t["ended_at"] - start, 4),
                    "config": t["config"],
                }
                for t, lane in zip(trials, lanes, strict=True)
            ],
        }
    phases = [
        {
            "name": p["name"],
            "start_s": round(p["start"] - zero, 4),
            "end_s": None if p.get("end") is None else round(p["end"] - zero, 4),
        }
        for p in ((summary.get("timings") or {}).get("phases") or [])
        if zero is not None
    ]
    return charts, {"origin": label, "phases": phases}
