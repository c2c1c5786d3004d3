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

from agents.report.runs import RunData

METRICS = ("dormant_tau0.1", "fau", "feature_erank", "isometry_gap", "gram_deviation", "weight_magnitude",
           "grad_l0", "trainability_ratio", "entk_condition")
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


def _binned(run: RunData, edges: np.ndarray) -> np.ndarray:
    steps = np.array([int(e["step"]) for e in run.episodes])
    returns = np.array([float(e["return"]) for e in run.episodes])
    idx = np.clip(np.digitize(steps, edges) - 1, 0, len(edges) - 2)
    sums = np.bincount(idx, weights=returns, minlength=len(edges) - 1)
    counts = np.bincount(idx, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def learning_curves(runs: list[RunData], path: Path, bins: int = 100) -> None:
    """Mean training return over env steps per method (±1 std over seeds), task visits shaded and labelled."""
    methods = sorted({r.method for r in runs})
    colors = _colors(methods)
    end = max(max((int(e["step"]) for e in r.episodes), default=1) for r in runs)
    edges = np.linspace(0, end, bins + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for m in methods:
        curves = np.array([_binned(r, edges) for r in runs if r.method == m])
        with warnings.catch_warnings():  # bins without episodes are NaN on purpose
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(curves, axis=0), np.nanstd(curves, axis=0)
        ax.plot(mid, mean, color=colors[m], label=f"{m} ({len(curves)} seeds)", lw=1.6)
        ax.fill_between(mid, mean - std, mean + std, color=colors[m], alpha=0.2, lw=0)
    ax.set_xlim(0, end)
    _shade_tasks(ax, runs[0])
    ax.set_xlabel("env steps")
    ax.set_ylabel("training episode return")
    ax.set_title(f"{runs[0].curriculum}: training return (mean ± std over seeds)", pad=16)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def metric_trajectories(runs: list[RunData], path: Path, metrics: Sequence[str] = METRICS) -> bool:
    """One panel per metric: its value over env steps per method (mean over seeds). False if nothing logged."""
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
                ax.plot(steps, [np.mean(series[s]) for s in steps], marker=".", ms=3, color=colors[m], label=m)
        if metric in LOG_SCALE:
            ax.set_yscale("log")
        for v in runs[0].visits[1:]:
            ax.axvline(v.start_step, color="grey", lw=0.6, ls=":")
        ax.set_title(metric, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{runs[0].curriculum}: plasticity metrics (mean over seeds; dotted: task switches)", fontsize=10)
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
