"""Do the agents learn? Train on one MinAtar game and print the learning curve (a benchmark, not a test).

    python scripts/bench_returns.py                       # PPO, Breakout, 1M steps, seed 0
    python scripts/bench_returns.py --agent dqn --steps 500000 --seeds 0 1
    python scripts/bench_returns.py --env space_invaders -- agent.learning_rate=5e-4   # extra Hydra overrides

Each seed trains through the same code path as ``scripts/train.py`` into ``runs/bench_returns/``; the table
gives the mean training return of the episodes that ended in each window of ``--window`` steps.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.app.paths import config_dir
from agents.config.cli import compose_checked
from agents.config.validation import effective_config
from agents.run.console import print_table
from agents.run.logs import read_csv
from agents.training.runner import run as train
from envs import make_curriculum

CONF = config_dir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", default="ppo")
    parser.add_argument("--env", default="breakout")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--out", default="runs/bench_returns")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()

    curves, speeds = {}, {}
    for seed in args.seeds:
        run_dir = Path(args.out) / f"{args.agent}_{args.env}_s{seed}"
        cfg = compose_checked(CONF, "config", [f"agent={args.agent}", f"env={args.env}", f"seed={seed}",
                                               f"total_timesteps={args.steps}", f"run_dir={run_dir}", *args.overrides])
        train(effective_config(cfg), make_env=make_curriculum)
        episodes = read_csv(run_dir / "episodes.csv")
        buckets: dict[int, list[float]] = {}
        for e in episodes:
            buckets.setdefault((int(e["step"]) - 1) // args.window, []).append(float(e["return"]))
        curves[seed] = {b: sum(v) / len(v) for b, v in buckets.items()}
        rows = read_csv(run_dir / "metrics.csv")
        speeds[seed] = int(rows[-1]["step"]) / float(rows[-1]["time_s"])

    n_windows = max(max(c) for c in curves.values()) + 1
    table = []
    for b in range(n_windows):
        values = [curves[s].get(b) for s in args.seeds]
        known = [v for v in values if v is not None]
        table.append((f"{(b + 1) * args.window:,}", *values, sum(known) / len(known) if known else None))
    print_table(f"{args.agent} on {args.env}: mean training return per {args.window:,}-step window",
                ["steps ≤", *(f"seed {s}" for s in args.seeds), "mean"], table, left=())
    print("steps/s: " + ", ".join(f"seed {s}: {v:,.0f}" for s, v in speeds.items()))


if __name__ == "__main__":
    main()
