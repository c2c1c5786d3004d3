"""Env-steps/s of the batched MinAtar env vs SB3's DummyVecEnv over gym.make (a benchmark, not a test).

    python scripts/bench_envs.py                         # Breakout and SpaceInvaders, 8 and 64 envs
    python scripts/bench_envs.py --games asterix --envs 64 --reps 5

Both sides step the same random actions; repetitions alternate between them so machine noise hits both
alike. Prints median env-steps/s and the ratio batched / DummyVecEnv.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import minatar.gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.run.console import print_table
from envs import MinAtarVectorEnv

GYM_IDS = {"asterix": "Asterix", "breakout": "Breakout", "freeway": "Freeway", "seaquest": "Seaquest",
           "space_invaders": "SpaceInvaders"}


def dummy_vec_env(game: str, n: int) -> Callable[[np.ndarray], object]:
    if f"MinAtar/{GYM_IDS[game]}-v0" not in gym.registry:
        minatar.gym.register_envs()
    env = DummyVecEnv([lambda: gym.make(f"MinAtar/{GYM_IDS[game]}-v0") for _ in range(n)])
    env.seed(0)
    env.reset()

    def step(actions: np.ndarray) -> object:
        env.step_async(actions)
        return env.step_wait()
    return step


def batched(game: str, n: int) -> Callable[[np.ndarray], object]:
    env = MinAtarVectorEnv(game, n)
    env.reset(seed=0)
    return env.step


def steps_per_second(step: Callable[[np.ndarray], object], actions: np.ndarray) -> float:
    start = time.perf_counter()
    for a in actions:
        step(a)
    return actions.size / (time.perf_counter() - start)


def measure(game: str, n: int, steps: int, reps: int) -> dict[str, float]:
    sides = {"DummyVecEnv(gym.make)": dummy_vec_env(game, n), "batched": batched(game, n)}
    actions = np.random.default_rng(0).integers(0, 6, (max(1, steps // n), n))
    samples: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(reps):
        for name, step in sides.items():
            samples[name].append(steps_per_second(step, actions))
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", nargs="+", default=["breakout", "space_invaders"])
    parser.add_argument("--envs", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--steps", type=int, default=50_000, help="env steps per repetition and side")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for game in args.games:
        for n in args.envs:
            r = measure(game, n, args.steps, args.reps)
            base, ours = r["DummyVecEnv(gym.make)"], r["batched"]
            rows.append((game, n, f"{base:,.0f}", f"{ours:,.0f}", f"{ours / base:.2f}"))
    print_table("MinAtar env-steps/s, random actions, medians", ["game", "envs", "DummyVecEnv(gym.make)",
                "batched", "ratio"], rows, left=(0,))


if __name__ == "__main__":
    main()
