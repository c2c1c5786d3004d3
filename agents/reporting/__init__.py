"""The plasticity report: per-visit tables, rliable aggregates, plots and a markdown summary from run dirs.

``build_report(["multirun/2026-…"], "reports/x")`` writes::

    summary.md          per curriculum: methods and seeds, the aggregate table (visits with a switch before them),
                        the best method, per-cycle IQMs, probability of improvement, per-game and per-visit tables,
                        plasticity metrics at the end of each cycle
    visits.csv          one row per run and task visit (returns, AUC, plasticity ratios)
    aggregate.csv       per curriculum, method and cycle ("all" or its number): IQM and 95 % CI of the score
    improvement.csv     per curriculum and pair of methods: P(method > over) with its 95 % CI (rliable)
    returns_*.png       training return over env steps, task visits shaded and labelled (bins never span a
                        switch); one panel per task, by visit, when the task order differs across seeds
    metrics_*.png       plasticity-metric trajectories per method (mean ± std over seeds)
    comparison_*.png    score per visit across seeds, and IQM with CIs
"""

from typing import Any


def __getattr__(name: str) -> Any:  # imported on first use: agents.reporting.markdown stays light (no rliable)
    if name == "build_report":
        from agents.reporting.build import build_report
        return build_report
    raise AttributeError(f"module 'agents.reporting' has no attribute {name!r}")


__all__ = ["build_report"]
