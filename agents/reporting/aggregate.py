"""Aggregate statistics across seeds with rliable (Agarwal et al. 2021): IQM, probability of improvement and
stratified-bootstrap CIs.

Score matrix per method: runs × tasks. With a fresh-agent reference the score of (run, task) is the mean
plasticity ratio over the task's visits; without one it is the visits' mean AUC min–max normalized per task
over all runs of the curriculum ("normalized return"). Only visits with a task switch before them count (visit 0
is where every method is a fresh network, ratio ≈ 1 by construction), unless the runs have a single visit.
A cell a run has no visit for (the first game of a seed, restricted to cycle 0) takes that run's mean over its
other tasks, so a run is never dropped and never imputed from other runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    name: str                       # "plasticity ratio" | "normalized return"
    matrices: dict[str, np.ndarray]  # method -> runs × tasks
    seeds: dict[str, list[int]]     # method -> the seed of each row
    tasks: list[str]
    visits: list[int]               # the task visits the scores cover


def covered(visits: Sequence[int]) -> str:
    """``visits 1–11`` (or ``visits 1, 3``): which visits a statistic covers, for the report's text."""
    v = sorted(set(visits))
    if not v:
        return "no visits"
    if v == list(range(v[0], v[-1] + 1)) and len(v) > 2:
        return f"visits {v[0]}–{v[-1]}"
    return ("visit " if len(v) == 1 else "visits ") + ", ".join(map(str, v))


def score_matrices(rows: Sequence[dict[str, object]], curriculum: str, cycle: int | None = None) -> Scores:
    """The runs × tasks score matrices of ``curriculum`` (see the module docstring); ``cycle``: that cycle only."""
    rows = [r for r in rows if r["curriculum"] == curriculum]
    use_ratio = any(r["plasticity_ratio"] is not None for r in rows)
    key = "plasticity_ratio" if use_ratio else "auc"
    if any(int(r["visit"]) > 0 for r in rows):
        rows = [r for r in rows if int(r["visit"]) > 0]  # no switch before visit 0
    if cycle is not None:
        rows = [r for r in rows if int(r["cycle"]) == cycle]
    tasks = sorted({str(r["task"]) for r in rows})
    cells: dict[tuple[str, int, str], list[float]] = {}
    for r in rows:
        if r[key] is not None:
            cells.setdefault((str(r["method"]), int(r["seed"]), str(r["task"])), []).append(float(r[key]))
    if not use_ratio:  # per-task min-max normalization across every run of the curriculum
        for task in tasks:
            values = [v for (_, _, t), vs in cells.items() if t == task for v in vs]
            if not values:  # no run finished an episode on this task
                continue
            lo, hi = min(values), max(values)
            for cell_key in [k for k in cells if k[2] == task]:
                cells[cell_key] = [(v - lo) / (hi - lo) if hi > lo else 1.0 for v in cells[cell_key]]
    matrices: dict[str, np.ndarray] = {}
    seeds: dict[str, list[int]] = {}
    for method in sorted({k[0] for k in cells}):
        seeds[method] = sorted({k[1] for k in cells if k[0] == method})
        m = np.array([[np.mean(cells[(method, s, t)]) if (method, s, t) in cells else np.nan for t in tasks]
                      for s in seeds[method]])
        matrices[method] = np.where(np.isnan(m), np.nanmean(m, axis=1, keepdims=True), m)
    used = sorted({int(r["visit"]) for r in rows if r[key] is not None})
    return Scores("plasticity ratio" if use_ratio else "normalized return", matrices, seeds, tasks, used)


def _interval_estimates(score_dict: dict, func, reps: int, seed: int) -> tuple[dict, dict]:
    """rliable's stratified bootstrap, reproducible: rliable 1.2 draws its resamples from NumPy's *global*
    generator (``StratifiedBootstrap.update_indices`` ignores ``random_state``), so the same report twice gave
    different CIs; the global generator is seeded for the call and restored after it."""
    from rliable import library as rly
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():  # rliable passes arch a RandomState, which arch 7 deprecates
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # a bootstrap sample of identical scores
            return rly.get_interval_estimates(score_dict, func, reps=reps, random_state=np.random.RandomState(seed))
    finally:
        np.random.set_state(saved)


def iqm_with_ci(matrices: dict[str, np.ndarray], reps: int = 2000,
                seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """``method → (IQM, CI low, CI high)`` (95 % stratified bootstrap over runs, rliable)."""
    from rliable import metrics

    clean = {m: x for m, x in matrices.items() if x.size}
    estimates, intervals = _interval_estimates(clean, lambda x: np.array([metrics.aggregate_iqm(x)]), reps, seed)
    return {m: (float(estimates[m][0]), float(intervals[m][0, 0]), float(intervals[m][1, 0])) for m in clean}


def probability_of_improvement(matrices: dict[str, np.ndarray], pairs: Sequence[tuple[str, str]], reps: int = 2000,
                               seed: int = 0) -> dict[tuple[str, str], tuple[float, float, float]]:
    """``(x, y) → (P(X > Y), CI low, CI high)``: rliable's probability that a run of ``x`` scores higher than a run of
    ``y`` on a task (Mann–Whitney U over runs, averaged over tasks), 95 % stratified-bootstrap CI."""
    from rliable import metrics

    pairs = [(x, y) for x, y in pairs if x in matrices and y in matrices and matrices[x].size and matrices[y].size]
    if not pairs:
        return {}
    score_dict = {f"{x},{y}": [matrices[x], matrices[y]] for x, y in pairs}
    estimates, intervals = _interval_estimates(score_dict, metrics.probability_of_improvement, reps, seed)
    return {(x, y): (float(np.squeeze(estimates[f"{x},{y}"])), float(np.squeeze(intervals[f"{x},{y}"][0])),
                     float(np.squeeze(intervals[f"{x},{y}"][1]))) for x, y in pairs}
