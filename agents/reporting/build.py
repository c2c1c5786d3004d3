"""Assemble the report folder (see :mod:`agents.reporting`)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from agents.reporting.aggregate import Scores, covered, iqm_with_ci, probability_of_improvement, score_matrices
from agents.reporting.markdown import table
from agents.reporting.plots import comparison, learning_curves, metric_trajectories
from agents.reporting.runs import VISIT_COLUMNS, RunData, check_comparable, find_runs, load_run, visit_table
from agents.reporting.tables import metrics_by_cycle, per_game

AGGREGATE_COLUMNS = ("curriculum", "method", "cycle", "runs", "score", "visits", "iqm", "ci_low", "ci_high")
IMPROVEMENT_COLUMNS = ("curriculum", "method", "over", "probability", "ci_low", "ci_high")


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, object]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row[k] for k in columns})


def _fmt(value: object, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _slug(curriculum: str) -> str:
    return curriculum.replace("/", "_")


def build_report(paths: Iterable[str | Path], out: str | Path, reference: str | None = None,
                 bootstrap_reps: int = 2000, mixed: bool = False) -> Path:
    """Write the report for the run directories under ``paths`` into ``out``; returns ``out/summary.md``.

    :param reference: the method of the fresh-agent reference runs; ``None``: ``reset_all`` where such runs exist
        (else scores are normalized returns). A method named here that no run has is refused (a typo would
        silently change the score).
    :param mixed: runs of one curriculum with different settings are labelled and kept apart, not refused
        (:func:`~agents.reporting.runs.check_comparable`).
    :raises ValueError: no runs, a reference method without runs, ``bootstrap_reps`` < 1, runs that cannot be
        compared (one line each).
    """
    if isinstance(bootstrap_reps, bool) or not isinstance(bootstrap_reps, int) or bootstrap_reps < 1:
        raise ValueError(f"bootstrap={bootstrap_reps!r}: must be an integer >= 1 (bootstrap repetitions)")
    paths = list(paths)
    runs = [load_run(p) for p in find_runs(paths)]
    if not runs:
        raise ValueError(f"no run directories (with config.yaml and tasks.csv) under {list(map(str, paths))}")
    check_comparable(runs, mixed)
    methods = sorted({r.method for r in runs})
    if reference is None:
        reference = "reset_all"
    elif reference not in methods:
        raise ValueError(f"reference={reference!r}: no run of that method; methods of these runs: {', '.join(methods)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = visit_table(runs, reference)
    _write_csv(out / "visits.csv", VISIT_COLUMNS, rows)

    lines = ["# Plasticity report", "", _header(runs, methods, reference), ""]
    unfinished = [r for r in runs if r.status != "completed"]
    if unfinished:
        lines += [f"Not finished ({len(unfinished)} of {len(runs)} runs; their visits so far are included, the last "
                  "one partial): " + ", ".join(f"`{r.method}` seed {r.seed} ({r.status or 'no status'}, "
                                              f"{len(r.visits)} visits)" for r in unfinished) + ".", ""]
    aggregate_rows: list[dict[str, object]] = []
    improvement_rows: list[dict[str, object]] = []
    for curriculum in sorted({r.curriculum for r in runs}):
        mine = [r for r in runs if r.curriculum == curriculum]
        cur_rows = [r for r in rows if r["curriculum"] == curriculum]
        scores = score_matrices(rows, curriculum)
        iqm = iqm_with_ci(scores.matrices, reps=bootstrap_reps) if scores.matrices else {}
        cycles = sorted({int(r["cycle"]) for r in cur_rows})
        by_cycle: dict[int, tuple[Scores, dict[str, tuple[float, float, float]]]] = {}
        if len(cycles) > 1:
            for c in cycles:
                sc = score_matrices(rows, curriculum, cycle=c)
                by_cycle[c] = (sc, iqm_with_ci(sc.matrices, reps=bootstrap_reps) if sc.matrices else {})
        arms = [m for m in sorted(scores.matrices) if not (scores.name == "plasticity ratio" and m == reference)]
        improvement = probability_of_improvement(scores.matrices, [(x, y) for x in arms for y in arms if x != y],
                                                 reps=bootstrap_reps)
        for cycle, (sc, est) in [("all", (scores, iqm)), *by_cycle.items()]:
            for method, (value, lo, hi) in est.items():
                aggregate_rows.append({"curriculum": curriculum, "method": method, "cycle": cycle,
                                       "runs": len(sc.matrices[method]), "score": sc.name,
                                       "visits": covered(sc.visits), "iqm": value, "ci_low": lo, "ci_high": hi})
        improvement_rows += [{"curriculum": curriculum, "method": x, "over": y, "probability": p, "ci_low": lo,
                              "ci_high": hi} for (x, y), (p, lo, hi) in improvement.items()]
        slug = _slug(curriculum)
        learning_curves(mine, out / f"returns_{slug}.png")
        has_metrics = metric_trajectories(mine, out / f"metrics_{slug}.png")
        if iqm:
            comparison(cur_rows, iqm, scores.name, out / f"comparison_{slug}.png")
        lines += _curriculum_section(curriculum, mine, cur_rows, scores, iqm, reference, slug, has_metrics)
        lines += _cycles_and_games(mine, cur_rows, scores, by_cycle, improvement, arms)
    _write_csv(out / "aggregate.csv", AGGREGATE_COLUMNS, aggregate_rows)
    _write_csv(out / "improvement.csv", IMPROVEMENT_COLUMNS, improvement_rows)
    summary = out / "summary.md"
    summary.write_text("\n".join(lines) + "\n")
    return summary


def _header(runs: list[RunData], methods: list[str], reference: str) -> str:
    aggregates = "Aggregates: rliable IQM with 95 % stratified-bootstrap CIs over runs × tasks."
    if reference in methods:
        return (f"{len(runs)} runs; reference for plasticity ratios: `method={reference}` (a fresh agent per task). "
                "Plasticity ratio of a visit = AUC of its training return / AUC of the reference on the same visit "
                f"(1 = as plastic as a fresh network). {aggregates}")
    return (f"{len(runs)} runs; no `method={reference}` runs (the fresh-agent reference), so there are no plasticity "
            "ratios: the score is a run's mean visit AUC per task, min–max normalized over the curriculum's runs "
            f"(\"normalized return\"); add `{reference}` runs for ratios. {aggregates}")


def best_method(iqm: dict[str, tuple[float, float, float]], score_name: str, reference: str) -> str | None:
    candidates = {m: v for m, v in iqm.items() if not (score_name == "plasticity ratio" and m == reference)}
    return max(candidates, key=lambda m: candidates[m][0]) if candidates else None


def _curriculum_section(curriculum: str, runs: list[RunData], rows: list[dict[str, object]], scores: Scores,
                        iqm: dict[str, tuple[float, float, float]], reference: str, slug: str,
                        has_metrics: bool) -> list[str]:
    score_name = scores.name
    methods = sorted({r.method for r in runs})
    seeds = {m: sorted(r.seed for r in runs if r.method == m) for m in methods}
    lines = [f"## {curriculum}", "", "Methods (seeds): " + ", ".join(
        f"`{m}` ({', '.join(map(str, seeds[m]))}){' — reference' if m == reference else ''}" for m in methods), ""]
    best = best_method(iqm, score_name, reference)
    if iqm:
        last_cycle = max(int(r["cycle"]) for r in rows)
        aggregate = []
        for m in methods:
            if m not in iqm:
                continue
            est, lo, hi = iqm[m]
            finals = [float(r["final_return"]) for r in rows
                      if r["method"] == m and int(r["cycle"]) == last_cycle and r["final_return"] is not None]
            aggregate.append((f"`{m}`{' **(best)**' if m == best else ''}", len(seeds[m]), f"{est:.3f}",
                              f"[{lo:.3f}, {hi:.3f}]", _fmt(float(np.mean(finals)) if finals else None)))
        lines += table(["method", "runs", f"IQM {score_name}, {covered(scores.visits)}", "95 % CI",
                        "mean final return, last cycle"], aggregate)
        lines += ["", f"**Best method on {curriculum}: `{best}`** (highest IQM {score_name} over the task visits with "
                  f"a switch before them, {covered(scores.visits)}"
                  f"{'; the reference excluded' if score_name == 'plasticity ratio' else ''}).", ""]
    lines += [f"![training return](returns_{slug}.png)", ""]
    if iqm:
        lines += [f"![comparison](comparison_{slug}.png)", ""]
    if has_metrics:
        lines += [f"![plasticity metrics](metrics_{slug}.png)", ""]
    visits = sorted({(int(r["visit"]), str(r["task"]), int(r["cycle"])) for r in rows})
    header = ["visit", "task", "cycle", *[f"{m} AUC" for m in methods], *[f"{m} ratio" for m in methods
                                                                        if m != reference]]
    table_rows = []
    for visit, task, cycle in visits:
        cells = [str(visit), task, str(cycle)]
        for key, ms in (("auc", methods), ("plasticity_ratio", [m for m in methods if m != reference])):
            for m in ms:
                values = [float(r[key]) for r in rows
                          if r["method"] == m and int(r["visit"]) == visit and r["task"] == task
                          and r[key] is not None]
                cells.append(_fmt(float(np.mean(values)) if values else None))
        table_rows.append(cells)
    lines += ["### Task visits (means over the seeds that met that task at that visit)", "",
              *table(header, table_rows)]
    return [*lines, ""]


def _cycles_and_games(runs: list[RunData], rows: list[dict[str, object]], scores: Scores,
                      by_cycle: dict[int, tuple[Scores, dict[str, tuple[float, float, float]]]],
                      improvement: dict[tuple[str, str], tuple[float, float, float]], arms: list[str]) -> list[str]:
    """Per cycle IQM, probability of improvement, per-game table, metrics at the end of each cycle."""
    methods = sorted({r.method for r in runs})
    lines: list[str] = []
    if by_cycle:
        header = ["method", *[f"cycle {c} ({covered(sc.visits)})" for c, (sc, _) in by_cycle.items()]]
        body = [[f"`{m}`", *[f"{est[m][0]:.3f} [{est[m][1]:.3f}, {est[m][2]:.3f}]" if m in est else "–"
                             for _, est in by_cycle.values()]] for m in methods]
        lines += [f"### IQM {scores.name} per cycle (95 % stratified-bootstrap CI over runs)", "",
                  *table(header, body), ""]
    if improvement:
        body = [[f"`{x}`", *[("–" if x == y else "{:.2f} [{:.2f}, {:.2f}]".format(*improvement[(x, y)]))
                             for y in arms]] for x in arms]
        lines += [f"### Probability of improvement: P(row > column) on the {scores.name} ({covered(scores.visits)}; "
                  "rliable, 95 % CI)", "", *table(["", *[f"`{y}`" for y in arms]], body), ""]
    key = "plasticity_ratio" if scores.name == "plasticity ratio" else "auc"
    header, body = per_game(rows, methods, key)
    if header:
        what = "plasticity ratio" if key == "plasticity_ratio" else "AUC of the training return"
        lines += [f"### Per game: mean {what} over seeds, cycle by cycle (visits with a switch before them)", "",
                  *table(["method", *header], body), ""]
    header, body = metrics_by_cycle(runs, methods)
    if body:
        lines += ["### Plasticity metrics at the end of each cycle (mean ± std over seeds)", "",
                  *table(["method", "metric", *header], body), ""]
    return lines
