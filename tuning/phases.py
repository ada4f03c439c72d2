"""The run's phases on the wall clock (Ray start, data load, trials, refit, report) for the timeline.

`Phases` records each named step's ``time.time()`` start and end (``with phases.timed(name):``);
``record()`` is what summary.json keeps under ``timings``. The origin is the process's start
for the CLI (start-up and imports are a phase of their own), else the moment the run began (a
notebook's kernel may have started hours before).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def process_start() -> float | None:
    """When this process started (wall clock, seconds since the epoch), from Linux's /proc as
    ``ps`` reads it; None where that is not available (the timeline then starts with the run)."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


class Phases:
    """Named steps of a run with their wall-clock start and end, in the order they ran."""

    def __init__(self, process_started: float | None = None) -> None:
        now = time.time()
        self.process_start = process_started
        self.run_start = now
        self.phases: list[dict[str, Any]] = []
        if process_started is not None and process_started < now:
            self.phases.append({"name": "start-up", "start": process_started, "end": now})

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """The ``with`` block as the phase ``name``: it ends when the block does, even by an exception."""
        self.begin(name)
        phase = self.phases[-1]
        try:
            yield
        finally:
            phase["end"] = time.time()

    def begin(self, name: str) -> None:
        """Start the phase ``name``, left open (the report's end comes after summary.json is written)."""
        self.phases.append({"name": name, "start": time.time(), "end": None})

    def seconds(self, name: str) -> float | None:
        """How long the last phase called ``name`` took (None while it is open or if it never ran)."""
        ends = [p for p in self.phases if p["name"] == name and p["end"] is not None]
        return ends[-1]["end"] - ends[-1]["start"] if ends else None

    def fixed_costs(self, ray_started_here: bool) -> dict[str, float | None]:
        """Ray's start (None when it joined a running cluster) and the data load, in seconds."""
        ray_start_s = self.seconds("ray start") if ray_started_here else None
        return {"ray_start_s": ray_start_s, "data_load_s": self.seconds("data load")}

    def record(self) -> dict[str, Any]:
        """The phases as summary.json keeps them under ``timings``."""
        origin = {"process_start": self.process_start} if self.process_start is not None else {}
        return {**origin, "run_start": self.run_start, "phases": [dict(p) for p in self.phases]}
