"""Env-steps/s of whole training runs through ``scripts/train.py``: the device path against today's env path.

    python scripts/bench_paths.py                                # every case, 3 alternating repetitions
    python scripts/bench_paths.py --cases ppo_demo --reps 5
    python scripts/bench_paths.py --baseline /tmp/prev           # also another checkout, e.g. the previous release:
                                                                 #   git worktree add /tmp/prev <commit>

Each case runs its sides as a user would (a fresh process per run, evaluation, metrics and checkpoints off, one
torch thread, ``device=cpu``) and reads the run's own steps/s (its last line: env steps over the training time).
Repetitions alternate between the sides; medians. Sides:

* ``torch`` — the default: MinAtar as tensors (``env.backend=torch``), rollout and replay on the device;
* ``minatar`` — the same agents on the reference numpy envs (``env.backend=minatar``): today's env path;
* ``baseline`` — ``--baseline DIR``: ``DIR/scripts/train.py`` with the case's common overrides (no backend key).

The DQN case sets its sides apart on purpose: 64 envs at a replay ratio of 1/16 (torch) against one env at the
MinAtar paper's cadence (minatar: one update of batch 32 per env step).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: its scripts/train.py is timed
COMMON = ["eval.enabled=false", "metrics.enabled=false", "checkpoint.every=0", "progress=false", "device=cpu",
          "torch_threads=1"]
# case → (overrides of every side, {side: its own overrides}, what the case is)
CASES: dict[str, tuple[list[str], dict[str, list[str]], str]] = {
    "ppo_adamo_paper": (["experiment=adamo_paper", "method=adam", "total_timesteps=786432"],
                        {"torch": ["env.backend=torch"], "minatar": ["env.backend=minatar"]},
                        "PPO at the AdamO paper's settings (MLP 64×4, 2048 envs × 128 steps), 3 rollouts"),
    "ppo_demo": (["total_timesteps=262144"], {"torch": ["env.backend=torch"], "minatar": ["env.backend=minatar"]},
                 "PPO at the demo settings (MinAtar CNN, 64 envs, AdamO), Breakout → SpaceInvaders"),
    "dqn": (["agent=dqn", "env=breakout", "method=adam", "agent.learning_starts=1000"],
            {"torch": ["agent.n_envs=64", "agent.replay_ratio=0.0625", "total_timesteps=131072"],
             "minatar": ["env.backend=minatar", "total_timesteps=8192"]},
            "DQN on Breakout: 64 envs, replay ratio 1/16 (torch) vs one env at the MinAtar cadence (minatar)"),
}
STEPS = re.compile(r"\(([\d,]+) steps/s\)")


def run(tree: Path, overrides: list[str], baseline: bool = False) -> float:
    """Steps/s of one training run of ``tree``'s ``scripts/train.py`` (a fresh process)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if baseline:  # another checkout: its packages first on the path
            env["PYTHONPATH"] = str(tree)
        out = subprocess.run([sys.executable, str(tree / "scripts" / "train.py"), *overrides, *COMMON,
                              f"hydra.run.dir={tmp}/run"], cwd=tree, env=env, capture_output=True, text=True)
        found = STEPS.findall(out.stdout)
        if out.returncode != 0 or not found:
            raise RuntimeError(f"run failed ({' '.join(overrides)}): {(out.stderr or out.stdout)[-800:]}")
        return float(found[-1].replace(",", ""))


def measure(case: str, reps: int, baseline: Path | None = None) -> dict[str, float]:
    common, sides, _ = CASES[case]
    runs = {side: (ROOT, [*common, *extra], False) for side, extra in sides.items()}
    if baseline is not None:
        extra = [o for o in sides["minatar"] if not o.startswith("env.backend")]
        runs["baseline"] = (baseline, [*common, *extra], True)
    samples: dict[str, list[float]] = {side: [] for side in runs}
    for _ in range(reps):
        for side, (tree, overrides, is_baseline) in runs.items():
            samples[side].append(run(tree, overrides, is_baseline))
    return {side: statistics.median(v) for side, v in samples.items()}


HEADER = ["case", "torch steps/s", "minatar steps/s", "torch / minatar", "baseline steps/s", "torch / baseline"]


def rows(results: dict[str, dict[str, float]]) -> list[tuple]:
    out = []
    for case, r in results.items():
        base = r.get("baseline")
        out.append((case, f"{r['torch']:,.0f}", f"{r['minatar']:,.0f}", f"{r['torch'] / r['minatar']:.2f}",
                    f"{base:,.0f}" if base else "", f"{r['torch'] / base:.2f}" if base else ""))
    return out


def main() -> None:
    from agents.run.console import print_table
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to run side by side")
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "scripts" / "train.py").exists():
        parser.error(f"--baseline {args.baseline}: no scripts/train.py there")
    results = {case: measure(case, args.reps, args.baseline) for case in args.cases}
    print_table(f"Whole runs, env steps/s (medians of {args.reps})", HEADER, rows(results), left=(0,))


if __name__ == "__main__":
    main()
