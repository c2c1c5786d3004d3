"""The report's figures (matplotlib, Agg backend): learning curves with task boundaries, metric trajectories,
and the per-method comparison across seeds."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from agents.reporting.runs import RunData

METRICS = ("dormant_tau0", "dormant_tau0.1", "fau", "feature_erank", "isometry_gap", "gram_deviation",
           "weight_magnitude", "grad_l0", "trainability_ratio", "entk_condition")
LOG_SCALE = {"entk_condition", "gram_deviation"}


def _colors(methods: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def _shade_tasks(ax: plt.Axes, run: RunData) -> None:
    names = sorted({v.task for v in run.visits})
    shades = {n: plt.get_cmap("Pastel2")(i % 8) for i, n in enumerate(names)}
    top = ax.get_ylim()[1]
    for v in run.visits:
        ax.axvspan(v.start_step, v.start_step + v.steps, color=shades[v.task], alpha=0.35, lw=0)
        ax.text(v.start_step + v.steps / 2, top, v.task, ha="center", va="bottom", fontsize=7, rotation=0,
                clip_on=False)


def _visit_edges(run: RunData, bins: int) -> list[np.ndarray]:
    """Bin edges per visit of ``run``, so that no bin straddles a task switch: each visit gets bins in proportion
    to its length (at least 2)."""
    total = sum(v.steps for v in run.visits) or 1
    return [np.linspace(v.start_step, v.start_step + v.steps, max(2, round(bins * v.steps / total)) + 1)
            for v in run.visits]


def _episodes(run: RunData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each episode's end step, return, visit (``task_visit`` of episodes.csv) and weight (the episodes a row of a
    compact run's downsampled curve stands for; 1 for a full run)."""
    return (np.array([int(e["step"]) for e in run.episodes], dtype=np.int64),
            np.array([float(e["return"]) for e in run.episodes]),
            np.array([int(e["task_visit"]) for e in run.episodes], dtype=np.int64),
            np.array([float(e.get("count", 1)) for e in run.episodes]))


def _binned(run: RunData, visits: Sequence[int], edges: Sequence[np.ndarray]) -> np.ndarray:
    """Mean return of the episodes of visit ``visits[j]`` (its ``task_visit`` number) ending in each bin
    ``(e[i], e[i+1]]`` of ``edges[j]``, all visits' bins one after another (NaN: none ended there).

    Episodes are assigned by their visit, not by their step: one ending on a switch, or in a run whose switch came a
    rollout earlier or later than the edges', counts in its own game (clamped into that visit's bins)."""
    steps, returns, visit_of, weight = _episodes(run)
    out = []
    for k, e in zip(visits, edges, strict=True):
        mine = visit_of == k
        n = len(e) - 1
        idx = np.clip(np.searchsorted(e, steps[mine], side="left") - 1, 0, n - 1)
        sums = np.bincount(idx, weights=returns[mine] * weight[mine], minlength=n)
        counts = np.bincount(idx, weights=weight[mine], minlength=n)
        with np.errstate(invalid="ignore"):
            out.append(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))
    return np.concatenate(out) if out else np.zeros(0)


def visit_segments(x: np.ndarray, ys: Sequence[np.ndarray], owner: np.ndarray) -> tuple[np.ndarray, ...]:
    """``x`` and each ``y`` with the bins that hold no episode dropped and a NaN between two visits.

    Episodes of synchronized envs end together (Freeway: every 2,500 steps), which leaves many bins empty; dropping
    them keeps a visit's curve a line, and the NaN keeps matplotlib from joining two games across a switch.
    """
    keep = ~np.isnan(ys[0])
    cols: list[list[float]] = [[] for _ in range(1 + len(ys))]
    for visit in np.unique(owner):
        sel = keep & (owner == visit)
        if not sel.any():
            continue
        for col, values in zip(cols, (x, *ys), strict=True):
            col.extend([*values[sel], np.nan])
    return tuple(np.asarray(c[:-1] if c else c, dtype=float) for c in cols)


def _same_task_order(runs: list[RunData]) -> bool:
    """Every run meets the tasks in one order (a run still going: a prefix of it)."""
    orders = sorted((tuple(v.task for v in r.visits) for r in runs), key=len)
    return all(o == orders[-1][:len(o)] for o in orders)


def learning_curves(runs: list[RunData], path: Path, bins: int = 100) -> None:
    """Mean training return per method (±1 std over seeds) — over env steps, task visits shaded and labelled, when
    the runs meet the tasks in one order; else (a curriculum whose order is drawn per seed) one panel per task.

    Bins follow the task visits (none spans a switch) of the run that got furthest; a curve breaks at each switch.
    """
    if not any(r.visits for r in runs):
        return
    if not _same_task_order(runs):
        _per_task_curves(runs, path)
        return
    methods = sorted({r.method for r in runs})
    colors = _colors(methods)
    longest = max(runs, key=lambda r: len(r.visits))
    edges = _visit_edges(longest, bins)
    numbers = [v.visit for v in longest.visits]
    mid = np.concatenate([(e[:-1] + e[1:]) / 2 for e in edges])
    owner = np.concatenate([np.full(len(e) - 1, j) for j, e in enumerate(edges)])
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for m in methods:
        curves = np.array([_binned(r, numbers, edges) for r in runs if r.method == m])
        mean, std = _mean_std(curves)
        x, mean, std = visit_segments(mid, [mean, std], owner)
        ax.plot(x, mean, color=colors[m], label=_label(m, len(curves)), lw=1.6)
        ax.fill_between(x, mean - std, mean + std, color=colors[m], alpha=0.2, lw=0)
    ax.set_xlim(edges[0][0], edges[-1][-1])
    _shade_tasks(ax, longest)
    ax.set_xlabel("env steps")
    ax.set_ylabel("training episode return")
    ax.set_title(f"{runs[0].curriculum}: training return (mean ± std over seeds)", pad=16)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _label(method: str, seeds: int) -> str:
    return f"{method} ({seeds} seed{'' if seeds == 1 else 's'})"


def _mean_std(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():  # bins without episodes are NaN on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(curves, axis=0), np.nanstd(curves, axis=0)


def task_visit_curve(run: RunData, task: str, visits: int, bins: int = 20) -> np.ndarray:
    """Mean return per bin of each of the run's first ``visits`` visits of ``task`` (``visits × bins``; NaN: no
    episode ended in the bin, or the run has not reached that visit)."""
    out = np.full((visits, bins), np.nan)
    mine = [v for v in run.visits if v.task == task][:visits]
    edges = [np.linspace(v.start_step, v.start_step + v.steps, bins + 1) for v in mine]
    out[:len(mine)] = _binned(run, [v.visit for v in mine], edges).reshape(len(mine), bins)
    return out


def _per_task_curves(runs: list[RunData], path: Path, bins: int = 20) -> None:
    """One panel per task: x = its visits one after another (the j-th visit spans [j, j+1)), mean ± std over seeds
    of the same visit. Aligns seeds whose game order differs; loss of plasticity shows as later visits learning
    less than the first."""
    methods = sorted({r.method for r in runs})
    colors = _colors(methods)
    tasks = sorted({v.task for r in runs for v in r.visits})
    ncols = min(4, len(tasks))
    nrows = -(-len(tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.2 * nrows), squeeze=False)
    x = (np.arange(bins) + 0.5) / bins
    for ax, task in zip(axes.flat, tasks, strict=False):
        visits = max(sum(v.task == task for v in r.visits) for r in runs)
        for j in range(0, visits, 2):
            ax.axvspan(j, j + 1, color="0.93", lw=0)
        owner = np.repeat(np.arange(visits), bins)
        for m in methods:
            curves = np.array([task_visit_curve(r, task, visits, bins).ravel() for r in runs if r.method == m])
            mean, std = _mean_std(curves)
            xs, mean, std = visit_segments((np.arange(visits)[:, None] + x).ravel(), [mean, std], owner)
            ax.plot(xs, mean, color=colors[m], label=_label(m, len(curves)), lw=1.4)
            ax.fill_between(xs, mean - std, mean + std, color=colors[m], alpha=0.2, lw=0)
        ax.set_xlim(0, visits)
        ax.set_xticks(np.arange(visits) + 0.5, [str(j + 1) for j in range(visits)])
        ax.set_title(task, fontsize=10)
        ax.set_xlabel(f"visit of {task}", fontsize=8)
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    axes.flat[0].set_ylabel("training episode return")
    axes.flat[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{runs[0].curriculum}: training return per task and visit (mean ± std over seeds; the task order "
                 "differs across seeds)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def metric_trajectories(runs: list[RunData], path: Path, metrics: Sequence[str] = METRICS) -> bool:
    """One panel per metric: its value over env steps per method, mean over seeds with a ±1 std band (at the steps
    every seed logs alike: snapshots come at rollout starts). False if nothing logged."""
    present = [m for m in metrics if any(r["metric"] == m for run in runs for r in run.plasticity)]
    if not present:
        return False
    methods = sorted({r.method for r in runs})
    colors = _colors(methods)
    cols = 3
    rows = (len(present) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, present, strict=False):
        for m in methods:
            series: dict[int, list[float]] = {}
            for run in (r for r in runs if r.method == m):
                for row in run.plasticity:
                    if row["metric"] == metric:
                        series.setdefault(int(row["step"]), []).append(float(row["value"]))
            if series:
                steps = sorted(series)
                mean = np.array([np.mean(series[s]) for s in steps])
                std = np.array([np.std(series[s]) for s in steps])
                seeds = len({r.seed for r in runs if r.method == m})
                ax.plot(steps, mean, marker=".", ms=3, color=colors[m], label=_label(m, seeds))
                if seeds > 1:
                    ax.fill_between(steps, mean - std, mean + std, color=colors[m], alpha=0.2, lw=0)
        if metric in LOG_SCALE:
            ax.set_yscale("log")
        for v in runs[0].visits[1:]:
            ax.axvline(v.start_step, color="grey", lw=0.6, ls=":")
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{runs[0].curriculum}: plasticity metrics (mean ± std over seeds; dotted: task switches)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def comparison(rows: Sequence[dict[str, object]], iqm: dict[str, tuple[float, float, float]], score_name: str,
               path: Path) -> None:
    """Left: the score per visit per method (seeds as dots, mean as line). Right: IQM with 95 % CIs."""
    methods = sorted(iqm)
    colors = _colors(methods)
    key = "plasticity_ratio" if score_name == "plasticity ratio" else "auc"
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2.2, 1]})
    for m in methods:
        mine = [r for r in rows if r["method"] == m and r[key] is not None]
        visits = sorted({int(r["visit"]) for r in mine})
        for r in mine:
            left.scatter(int(r["visit"]), float(r[key]), color=colors[m], s=10, alpha=0.6)
        left.plot(visits, [np.mean([float(r[key]) for r in mine if int(r["visit"]) == v]) for v in visits],
                  color=colors[m], label=m)
    left.set_xlabel("task visit")
    left.set_ylabel(key.replace("_", " "))
    left.legend(fontsize=8)
    if key == "plasticity_ratio":
        left.axhline(1.0, color="grey", lw=0.8, ls="--")
    left.set_title("per visit (dots: seeds)", fontsize=9)
    for i, m in enumerate(methods):
        est, lo, hi = iqm[m]
        right.barh(i, est, color=colors[m], alpha=0.8)
        right.errorbar(est, i, xerr=[[est - lo], [hi - est]], color="black", capsize=3)
    right.set_yticks(range(len(methods)), methods, fontsize=8)
    right.set_xlabel(f"IQM {score_name} (95 % CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
