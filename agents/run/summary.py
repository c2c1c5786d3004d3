"""Per-task-visit statistics of a run, computed from its ``tasks.csv`` and ``episodes.csv``.

For a visit with its episodes (attributed to the visit in which they ended):

* ``mean_return`` — mean over all of the visit's episodes;
* ``final_return`` — mean over the last ``final_fraction`` (10 %) of its episodes;
* ``auc`` — the area under the visit's learning curve per step: the visit is cut into ``windows`` (10) equal
  step windows and ``auc`` is the mean over windows of the mean return of the episodes ending in each (empty
  windows skipped), so long and short episodes weigh by the time they take, not by their number.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from agents.run.console import print_table
from agents.run.layout import RunDir
from agents.run.logs import check_columns, read_csv

SUMMARY_COLUMNS = ("visit", "task", "cycle", "steps", "episodes", "mean return", "final return")


@dataclass(frozen=True)
class VisitSummary:
    visit: int
    task: str
    cycle: int
    start_step: int
    steps: int
    episodes: int
    mean_return: float | None
    final_return: float | None
    auc: float | None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def window_means(steps: list[int], returns: list[float], start: int, end: int,
                 windows: int = 10) -> list[float | None]:
    """The learning curve: mean return of the episodes ending in each of ``windows`` equal step windows of
    ``[start, end]`` (an episode ending at ``end`` counts in the last), ``None`` for a window in which none ends."""
    width = (end - start) / windows
    bins: list[list[float]] = [[] for _ in range(windows)]
    for s, r in zip(steps, returns, strict=True):
        bins[min(windows - 1, max(0, int((s - start) / width)))].append(r)
    return [_mean(b) for b in bins]


def window_auc(steps: list[int], returns: list[float], start: int, end: int, windows: int = 10) -> float | None:
    if end <= start or not returns:
        return None
    return _mean([m for m in window_means(steps, returns, start, end, windows) if m is not None])


def summarize(run_dir: str | os.PathLike, final_step: int | None = None, final_fraction: float = 0.1,
              windows: int = 10) -> list[VisitSummary]:
    run_dir = Path(run_dir)
    logs = RunDir(run_dir)
    visits = check_columns(logs.log("tasks"), read_csv(logs.log("tasks")), ints=("task_visit", "task_cycle",
                                                                                 "start_step"))
    episodes = check_columns(logs.log("episodes"), read_csv(logs.log("episodes")), ints=("step",),
                             floats=("return",))
    if final_step is None:  # where the run is: its status, its last log row, its last episode, whichever is last
        from agents.run.status import read_status
        status = read_status(run_dir) or {}
        metrics = check_columns(logs.log("metrics"), read_csv(logs.log("metrics")), ints=("step",))
        final_step = max([int(status.get("step") or 0), *(int(r["step"]) for r in metrics[-1:] if r.get("step")),
                          *(int(e["step"]) for e in episodes)], default=0)
    by_visit: dict[str, list[dict[str, str]]] = {}
    for e in episodes:
        by_visit.setdefault(e["task_visit"], []).append(e)
    out = []
    for k, v in enumerate(visits):
        start = int(v["start_step"])
        end = int(visits[k + 1]["start_step"]) if k + 1 < len(visits) else max(final_step, start)
        eps = by_visit.get(v["task_visit"], [])
        returns = [float(e["return"]) for e in eps]
        tail = returns[-max(1, math.ceil(final_fraction * len(returns))):] if returns else []
        auc = window_auc([int(e["step"]) for e in eps], returns, start, end, windows)
        out.append(VisitSummary(int(v["task_visit"]), v["task_name"], int(v["task_cycle"]), start, end - start,
                                len(returns), _mean(returns), _mean(tail), auc))
    return out


def print_summary(rows: list[VisitSummary], title: str = "Per-task summary") -> None:
    print_table(title, SUMMARY_COLUMNS, [
        (r.visit, r.task, r.cycle, f"{r.steps:,}", r.episodes, r.mean_return, r.final_return) for r in rows
    ])
