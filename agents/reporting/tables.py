"""The report's tables across seeds: per cycle, per game, and plasticity metrics at the end of each cycle."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from agents.reporting.runs import RunData

# The metrics of the end-of-cycle table: (plasticity.csv name, label)
CYCLE_METRICS = (("dormant_tau0", "dead units (τ = 0)"), ("feature_erank", "feature effective rank"),
                 ("isometry_gap", "isometry gap"))


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def per_game(rows: Sequence[dict[str, object]], methods: Sequence[str], key: str) -> tuple[list[str], list[list[str]]]:
    """Per method and game, the mean over seeds of ``key`` (ratio or AUC) at each cycle, ``c0 / c1 / …``, over the
    visits with a switch before them (a seed's very first visit is left out, as in the headline)."""
    rows = [r for r in rows if r[key] is not None and int(r["visit"]) > 0]
    tasks = sorted({str(r["task"]) for r in rows})
    cycles = sorted({int(r["cycle"]) for r in rows})
    out = []
    for m in methods:
        cells = [f"`{m}`"]
        for t in tasks:
            means = []
            for c in cycles:
                values = [float(r[key]) for r in rows if r["method"] == m and r["task"] == t and int(r["cycle"]) == c]
                means.append(fmt(float(np.mean(values))) if values else "–")
            cells.append(" / ".join(means))
        out.append(cells)
    return [f"{t} {' / '.join(f'c{c}' for c in cycles)}" for t in tasks], out


def cycle_ends(run: RunData) -> dict[int, tuple[int, int]]:
    """Each cycle of ``run``: its last visit and the env step at which it ends (the last cycle: the run's end,
    whose snapshot may come after the last finished episode)."""
    ends: dict[int, tuple[int, int]] = {}
    for v in run.visits:
        ends[v.cycle] = max(ends.get(v.cycle, (-1, 0)), (v.visit, v.start_step + v.steps))
    if ends:
        last = max(ends)
        ends[last] = (ends[last][0], sys.maxsize)
    return ends


def metric_at(run: RunData, metric: str, visit: int, step: int) -> float | None:
    """The last value of ``metric`` logged during visit ``visit`` or before, at or before ``step`` (a switch's own
    snapshot is the network as it ended the old visit, before any reset)."""
    best = None
    for row in run.plasticity:
        if (row["metric"] == metric and int(row["task_visit"]) <= visit and int(row["step"]) <= step
                and (best is None or int(row["step"]) >= best[0])):
            best = (int(row["step"]), float(row["value"]))
    return None if best is None else best[1]


def metrics_by_cycle(runs: Sequence[RunData], methods: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Per method and metric of :data:`CYCLE_METRICS`: mean ± std over seeds at the end of each cycle."""
    logged = {r["metric"] for run in runs for r in run.plasticity}
    present = [(m, label) for m, label in CYCLE_METRICS if m in logged]
    cycles = sorted({v.cycle for run in runs for v in run.visits})
    out = []
    for method in methods:
        mine = [r for r in runs if r.method == method]
        for metric, label in present:
            cells = []
            for c in cycles:
                values = [v for v in (metric_at(r, metric, *cycle_ends(r)[c]) for r in mine if c in cycle_ends(r))
                          if v is not None]
                cells.append(f"{np.mean(values):.2f} ± {np.std(values):.2f}" if values else "–")
            out.append([f"`{method}`", label, *cells])
    return [f"end of cycle {c}" for c in cycles], out
