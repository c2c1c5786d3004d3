"""Single-game sanity table: final training returns per agent and MinAtar game next to published numbers.

    python scripts/train.py -m experiment=sanity_ppo        # PPO on each game (conf/experiment/sanity_ppo.yaml)
    python scripts/sanity.py multirun/<dir> [more dirs] --out docs/results/sanity.md

See agents/reporting/sanity.py for the measure and the references.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.reporting.runs import find_runs, load_run
from agents.reporting.sanity import markdown, sanity_rows
from agents.run.console import print_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories or directories containing them")
    parser.add_argument("--out", help="also write the table as markdown here")
    parser.add_argument("--last", type=int, default=100, help="episodes averaged at the end of each run")
    args = parser.parse_args()
    rows = sanity_rows([load_run(p) for p in find_runs(args.runs)], args.last)
    print_table("Single-game sanity", ["agent", "game", "seeds", "env steps", "final return", "reference"],
                [(r.agent, r.game, r.seeds, f"{r.steps:,}", r.final_return, r.reference) for r in rows], left=(0, 1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(markdown(rows, args.last)) + "\n")


if __name__ == "__main__":
    main()
