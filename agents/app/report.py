"""The cross-run report from the command line and from Python.

    plasticity-rl report multirun/2026-11-21_10-00-00 --out reports/demo [--wandb]
    plasticity-rl report multirun/adamo_2m --export docs/results/adamo_2m/runs --out docs/results/adamo_2m
    from agents import report; r = report(["multirun/2026-…"], out="reports/demo"); r.aggregate

Writes summary.md, visits.csv, aggregate.csv, improvement.csv and PNG plots into ``out``
(agents/reporting/__init__.py); ``export`` first copies each finished run's compact logs (agents/reporting/compact.py:
small enough to commit) into a folder and reports on that folder; ``wandb`` also uploads the plots and tables as a
W&B run (``job_type=report``) in the sweep's W&B group.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    summary: Path                 # summary.md
    visits: pd.DataFrame          # visits.csv: one row per run and task visit, with plasticity ratios
    aggregate: pd.DataFrame       # aggregate.csv: IQM and 95 % CI per curriculum and method
    wandb_run: str | None = None  # the W&B run id of the uploaded report


def report(runs: str | Path | Iterable[str | Path], out: str | Path = "reports/latest", *,
           reference: str | None = None, bootstrap: int = 2000, wandb: bool = False,
           wandb_project: str = "plasticity-rl", wandb_group: str | None = None,
           export: str | Path | None = None, mixed: bool = False) -> ReportResult:
    """Build the report of run or sweep directories (as ``plasticity-rl report``) and return its tables.

    :param reference: the fresh-agent reference method; ``None``: ``reset_all`` where such runs exist.
    :param export: a folder: copy the compact logs of every *completed* run there first (runs already there are
        skipped; unfinished ones are never copied), then report on everything in that folder.
    :param mixed: runs of one curriculum that differ in more than method and seed (steps per task, agent
        settings) are labelled ``#1``, ``#2`` … and compared only within their setting; by default they are refused.
    :raises ValueError: a directory that does not exist or holds no run, a reference method no run has, a
        bootstrap count < 1 (one line).
    :raises agents.run.wandb_log.WandbUploadError: ``wandb=True`` and W&B refused the upload (the report is
        written; one line).
    """
    import pandas as pd

    from agents.reporting import build_report
    paths = [runs] if isinstance(runs, (str, Path)) else list(runs)
    if export is not None:
        from agents.reporting.export import compact_runs
        from agents.reporting.runs import find_runs
        for path in paths:
            find_runs([path])  # a missing directory is refused before anything is copied
        for path in paths:
            for run in compact_runs(path, export):
                print(f"exported {run}")
        paths = [Path(export)]
    if wandb:
        from agents.run.wandb_log import EXTRA_HINT, wandb_missing
        if wandb_missing():
            raise ImportError(f"--wandb needs the wandb package, which is not installed: {EXTRA_HINT}")
    summary = Path(build_report(paths, out, reference=reference, bootstrap_reps=bootstrap, mixed=mixed))
    out_dir = summary.parent
    run_id = None
    if wandb:
        from agents.run.wandb_log import log_report
        run_id = log_report(out_dir, group=wandb_group or Path(paths[0]).resolve().name, project=wandb_project)
    return ReportResult(out_dir, summary, pd.read_csv(out_dir / "visits.csv"), pd.read_csv(out_dir / "aggregate.csv"),
                        run_id)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    """``scripts/report.py`` / ``plasticity-rl report``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories or directories containing them")
    parser.add_argument("--out", default="reports/latest")
    parser.add_argument("--reference", default=None,
                        help="method of the fresh-agent reference runs (default: reset_all where present)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap repetitions for the CIs")
    parser.add_argument("--export", default=None, metavar="DIR",
                        help="copy each finished run's compact logs (committable) into DIR, then report on DIR")
    parser.add_argument("--mixed", action="store_true", help="label runs of one curriculum that differ in more "
                        "than method and seed (#1, #2 …) instead of refusing them")
    parser.add_argument("--wandb", action="store_true", help="also upload the plots and tables to W&B")
    parser.add_argument("--wandb-project", default="plasticity-rl")
    parser.add_argument("--wandb-group", default=None, help="default: the first directory's name")
    args = parser.parse_args(argv)
    from agents.run.wandb_log import WandbUploadError
    try:
        result = report(args.runs, args.out, reference=args.reference, bootstrap=args.bootstrap, wandb=args.wandb,
                        wandb_project=args.wandb_project, wandb_group=args.wandb_group, export=args.export,
                        mixed=args.mixed)
    except (ValueError, ImportError, WandbUploadError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(f"report written: {result.summary}")
