"""Plasticity report for one or many run directories (a Hydra multirun directory included).

    python scripts/report.py multirun/2026-11-21_10-00-00 --out reports/demo
    python scripts/report.py runs/a runs/b --reference reset_all

Writes summary.md, visits.csv, aggregate.csv and PNG plots into --out (see agents/report/__init__.py). The
fresh-agent reference for plasticity ratios comes from runs with ``method=reset_all`` of the same curriculum:
``python scripts/train.py -m method=adam,adamo,reset_all seed=0,1,2 env=...`` produces both in one sweep.
"""

from __future__ import annotations

import argparse

from agents.report import build_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories or directories containing them")
    parser.add_argument("--out", default="reports/latest")
    parser.add_argument("--reference", default="reset_all", help="method name of the fresh-agent reference")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap repetitions for the CIs")
    args = parser.parse_args()
    summary = build_report(args.runs, args.out, reference=args.reference, bootstrap_reps=args.bootstrap)
    print(f"report written: {summary}")


if __name__ == "__main__":
    main()
