"""Compact copies of finished runs: small enough to commit (≈ 0.5 MB for 24M env steps), and the report rebuilt
from them gives the same tables as from the full run directories.

A compact run directory holds::

    config.yaml, status.json, tasks.csv, eval.csv   copied (status.json names the commit that trained the run)
    visit_summary.csv   one row per task visit: visit, task, cycle, start_step, steps, episodes, mean_return,
                        final_return, auc — computed from the full episodes.csv (agents/run/summary.py), so every
                        per-visit table and plasticity ratio of the report is exact
    returns.csv         the training-return curve downsampled: each visit cut into ``bins`` equal step windows,
                        with the number of episodes that ended in each and their mean return (plots only; the
                        report re-bins it, exactly where its bins are unions of these)
    plasticity.csv      the network-level metrics (the per-layer rows ``<metric>/<layer>`` are dropped)

Checkpoints, TensorBoard events and the per-episode log stay behind. :func:`agents.reporting.export.compact_runs`
exports every finished run under a sweep directory and skips those already exported, so it can run after each
run finishes.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterable
from pathlib import Path

from agents.run import layout
from agents.run.layout import RunDir
from agents.run.logs import read_csv
from agents.run.summary import VisitSummary, summarize

SUMMARY_FILE = "visit_summary.csv"
RETURNS_FILE = "returns.csv"
COPIED = (layout.CONFIG, layout.STATUS, "tasks.csv", "eval.csv")
SUMMARY_FIELDS = ("visit", "task", "cycle", "start_step", "steps", "episodes", "mean_return", "final_return", "auc")
RETURNS_FIELDS = ("task_visit", "step", "episodes", "mean_return")


def is_compact(run_dir: Path) -> bool:
    """A compact copy (its visits come from ``visit_summary.csv``, not from an ``episodes.csv``)."""
    return (run_dir / SUMMARY_FILE).exists() and not RunDir(run_dir).log("episodes").exists()


def _write(path: Path, fields: Iterable[str], rows: Iterable[dict[str, object]], exact: bool = True) -> None:
    """A CSV written atomically; floats exactly (``repr``) or, ``exact=False``, to 6 significant digits."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] if exact or not isinstance(row[k], float)
                             else f"{row[k]:.6g}" for k in writer.fieldnames})
    tmp.replace(path)


def _number(text: str) -> float | None:
    return float(text) if text != "" else None


def read_visit_summary(run_dir: Path) -> list[VisitSummary]:
    """The visits of a compact run, as :func:`agents.run.summary.summarize` computed them from the full run."""
    return [VisitSummary(int(r["visit"]), r["task"], int(r["cycle"]), int(r["start_step"]), int(r["steps"]),
                         int(r["episodes"]), _number(r["mean_return"]), _number(r["final_return"]), _number(r["auc"]))
            for r in read_csv(run_dir / SUMMARY_FILE)]


def read_returns(run_dir: Path) -> list[dict[str, str]]:
    """The downsampled curve as episode rows (``step``, ``return``, ``task_visit``) weighted by ``count``: one
    row per window, at the window's middle, standing for the episodes that ended in it."""
    return [{"step": r["step"], "return": r["mean_return"], "task_visit": r["task_visit"], "count": r["episodes"]}
            for r in read_csv(run_dir / RETURNS_FILE) if int(r["episodes"]) > 0]


def downsample(episodes: list[dict[str, str]], visits: list[VisitSummary], bins: int) -> list[dict[str, object]]:
    """Per visit, ``bins`` equal step windows ``(e_i, e_i+1]`` (the report's convention, agents/reporting/plots.py):
    the count and mean return of the visit's episodes ending in each (an episode counts in its own visit, clamped
    into its windows)."""
    import numpy as np
    steps = np.array([int(e["step"]) for e in episodes], dtype=np.int64)
    returns = np.array([float(e["return"]) for e in episodes])
    owner = np.array([int(e["task_visit"]) for e in episodes], dtype=np.int64)
    rows = []
    for v in visits:
        edges = np.linspace(v.start_step, v.start_step + v.steps, bins + 1)
        mine = owner == v.visit
        idx = np.clip(np.searchsorted(edges, steps[mine], side="left") - 1, 0, bins - 1)
        counts = np.bincount(idx, minlength=bins)
        sums = np.bincount(idx, weights=returns[mine], minlength=bins)
        for i in range(bins):
            rows.append({"task_visit": v.visit, "step": round(float(edges[i] + edges[i + 1]) / 2),
                         "episodes": int(counts[i]), "mean_return": float(sums[i] / counts[i]) if counts[i] else None})
    return rows


def compact_run(run_dir: str | Path, dest: str | Path, bins: int = 40) -> Path:
    """Write the compact copy of ``run_dir`` into ``dest`` (created; files replaced atomically); returns ``dest``.

    :param bins: windows per task visit in ``returns.csv`` (a multiple of the report's 20 keeps its per-visit
        curves exact).
    :raises ValueError: ``run_dir`` is not a run directory, or ``bins`` < 1 (one line).
    """
    run_dir, dest = Path(run_dir), Path(dest)
    if not RunDir(run_dir).config.exists() or not RunDir(run_dir).log("tasks").exists():
        raise ValueError(f"{run_dir}: not a run directory (no config.yaml and tasks.csv)")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins={bins!r}: must be an integer >= 1")
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, dest / name)
    visits = summarize(run_dir)
    _write(dest / SUMMARY_FILE, SUMMARY_FIELDS, (
        {"visit": v.visit, "task": v.task, "cycle": v.cycle, "start_step": v.start_step, "steps": v.steps,
         "episodes": v.episodes, "mean_return": v.mean_return, "final_return": v.final_return, "auc": v.auc}
        for v in visits))
    _write(dest / RETURNS_FILE, RETURNS_FIELDS, downsample(read_csv(RunDir(run_dir).log("episodes")), visits, bins),
           exact=False)
    metrics = [r for r in read_csv(RunDir(run_dir).log("plasticity")) if "/" not in r["metric"]]
    if metrics:
        _write(RunDir(dest).log("plasticity"), list(metrics[0]), metrics)
    return dest
