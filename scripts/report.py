"""Plasticity report for one or many run directories (a Hydra multirun directory included).

    python scripts/report.py multirun/2026-11-21_10-00-00 --out reports/demo
    python scripts/report.py runs/a runs/b --reference reset_all

Writes summary.md, visits.csv, aggregate.csv and PNG plots into --out (see agents/reporting/__init__.py). The
fresh-agent reference for plasticity ratios comes from runs with ``method=reset_all`` of the same curriculum:
``python scripts/train.py -m method=adam,adamo,reset_all seed=0,1,2 env=...`` produces both in one sweep.
The same command is installed as ``plasticity-rl report`` and callable as ``agents.report(...)`` (agents/app/report.py).
"""

from agents.app.report import main

if __name__ == "__main__":
    main()
