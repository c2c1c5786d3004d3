"""Per-task-visit summary of a run, computed from its ``tasks.csv`` and ``episodes.csv``."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from agents.console import print_table
from agents.logs import read_csv

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
    final_return: float | None  # mean over the last ``final_fraction`` of the visit's episodes


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(run_dir: str | os.PathLike, final_step: int | None = None,
              final_fraction: float = 0.1) -> list[VisitSummary]:
    run_dir = Path(run_dir)
    visits = read_csv(run_dir / "tasks.csv")
    episodes = read_csv(run_dir / "episodes.csv")
    if final_step is None:
        steps = [int(e["step"]) for e in episodes]
        final_step = max(steps, default=0)
    out = []
    for k, v in enumerate(visits):
        start = int(v["start_step"])
        end = int(visits[k + 1]["start_step"]) if k + 1 < len(visits) else max(final_step, start)
        returns = [float(e["return"]) for e in episodes if e["task_visit"] == v["task_visit"]]
        tail = returns[-max(1, math.ceil(final_fraction * len(returns))):] if returns else []
        out.append(VisitSummary(int(v["task_visit"]), v["task_name"], int(v["task_cycle"]), start, end - start,
                                len(returns), _mean(returns), _mean(tail)))
    return out


def print_summary(rows: list[VisitSummary], title: str = "Per-task summary") -> None:
    print_table(title, SUMMARY_COLUMNS, [
        (r.visit, r.task, r.cycle, f"{r.steps:,}", r.episodes, r.mean_return, r.final_return) for r in rows
    ])
