"""Aggregate statistics across seeds with rliable (Agarwal et al. 2021): IQM and stratified-bootstrap CIs.

Score matrix per method: runs × tasks. With a fresh-agent reference the score of (run, task) is the mean
plasticity ratio over the task's visits; without one it is the visits' mean AUC min–max normalized per task
over all runs of the curriculum ("normalized return").
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np


def score_matrices(rows: Sequence[dict[str, object]], curriculum: str) -> tuple[str, dict[str, np.ndarray]]:
    rows = [r for r in rows if r["curriculum"] == curriculum]
    use_ratio = any(r["plasticity_ratio"] is not None for r in rows)
    key = "plasticity_ratio" if use_ratio else "auc"
    tasks = sorted({str(r["task"]) for r in rows})
    cells: dict[tuple[str, int, str], list[float]] = {}
    for r in rows:
        if r[key] is not None:
            cells.setdefault((str(r["method"]), int(r["seed"]), str(r["task"])), []).append(float(r[key]))
    if not use_ratio:  # per-task min-max normalization across every run of the curriculum
        for task in tasks:
            values = [v for (_, _, t), vs in cells.items() if t == task for v in vs]
            lo, hi = min(values), max(values)
            for cell_key in [k for k in cells if k[2] == task]:
                cells[cell_key] = [(v - lo) / (hi - lo) if hi > lo else 1.0 for v in cells[cell_key]]
    matrices: dict[str, np.ndarray] = {}
    for method in sorted({k[0] for k in cells}):
        seeds = sorted({k[1] for k in cells if k[0] == method})
        matrices[method] = np.array([[np.mean(cells.get((method, s, t), [np.nan])) for t in tasks] for s in seeds])
    return ("plasticity ratio" if use_ratio else "normalized return"), matrices


def iqm_with_ci(matrices: dict[str, np.ndarray], reps: int = 2000,
                seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """``method → (IQM, CI low, CI high)`` (95 % stratified bootstrap over runs, rliable)."""
    from rliable import library as rly
    from rliable import metrics

    clean = {m: np.nan_to_num(x, nan=np.nanmean(x)) for m, x in matrices.items() if x.size}
    with warnings.catch_warnings():  # rliable passes arch a RandomState, which arch 7 deprecates
        warnings.simplefilter("ignore", FutureWarning)
        estimates, intervals = rly.get_interval_estimates(
            clean, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps,
            random_state=np.random.RandomState(seed))
    return {m: (float(estimates[m][0]), float(intervals[m][0, 0]), float(intervals[m][1, 0])) for m in clean}
