"""Env-steps/s of the MinAtar implementations side by side, random actions (a benchmark, not a test).

    python scripts/bench_envs.py                                   # every game, 2048 and 64 envs, 1 CPU thread
    python scripts/bench_envs.py --games seaquest --envs 2048 --reps 5
    python scripts/bench_envs.py --device cuda --envs 8192 --sides torch   # the torch games on a GPU

Sides, all stepping the same action sequence (repetitions alternate between them; medians):

* ``torch`` — :class:`envs.minatar_torch.TorchMinAtarVectorEnv` (the default backend), on ``--device``;
* ``numpy`` — the numpy kernels of the reference backend (:mod:`envs.minatar_games`: Breakout, SpaceInvaders);
* ``loop`` — the reference ``minatar`` game objects stepped one after another (the other games' reference backend);
* ``DummyVecEnv`` — SB3's DummyVecEnv over ``gym.make("MinAtar/<Game>-v0")``, what a plain SB3 user runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import minatar.gym
import numpy as np
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.run.console import print_table
from envs import MinAtarVectorEnv
from envs.minatar_games import VECTORIZED
from envs.minatar_torch import TorchMinAtarVectorEnv

GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")
GYM_IDS = {"asterix": "Asterix", "breakout": "Breakout", "freeway": "Freeway", "seaquest": "Seaquest",
           "space_invaders": "SpaceInvaders"}
SIDES = ("torch", "numpy", "loop", "DummyVecEnv")


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


def stepper(side: str, game: str, n: int, device: str) -> Callable[[np.ndarray], object] | None:
    """A function stepping ``side``'s env with an action array, or ``None`` where the side has no such env."""
    if side == "torch":
        env = TorchMinAtarVectorEnv(game, n, device=device)
        env.reset(seed=0)
        return env.step  # actions already on the device (measure): no host-to-device copy per step
    if side == "numpy":
        if game not in VECTORIZED:
            return None
        env = MinAtarVectorEnv(game, n, vectorized=True)
    elif side == "loop":
        env = MinAtarVectorEnv(game, n, vectorized=False)
    else:
        return dummy_vec_env(game, n)
    env.reset(seed=0)
    return env.step


def steps_per_second(step: Callable[[np.ndarray], object], actions: list[np.ndarray] | list[torch.Tensor],
                     device: str) -> float:
    for a in actions[:3]:  # warm-up (first-call allocations, CUDA kernels)
        step(a)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for a in actions:
        step(a)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    n = actions[0].numel() if isinstance(actions[0], torch.Tensor) else actions[0].size
    return len(actions) * n / (time.perf_counter() - start)


def measure(game: str, n: int, steps: int, reps: int, sides: tuple[str, ...] = SIDES,
            device: str = "cpu") -> dict[str, float]:
    """Median env-steps/s of each side that has ``game`` (``steps`` env steps per repetition)."""
    steppers = {side: stepper(side, game, n, device) for side in sides}
    steppers = {k: v for k, v in steppers.items() if v is not None}
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 6, n) for _ in range(max(4, steps // n))]
    # the torch games get their actions as tensors on their device, made before the clock starts (as training
    # hands them over): converting numpy actions each step would time a host-to-device copy training never does
    inputs = {side: [torch.as_tensor(a, device=device) for a in actions] if side == "torch" else actions
              for side in steppers}
    samples: dict[str, list[float]] = {k: [] for k in steppers}
    for _ in range(reps):
        for name, step in steppers.items():
            samples[name].append(steps_per_second(step, inputs[name], device))
    return {k: statistics.median(v) for k, v in samples.items()}


def rows(results: dict[tuple[str, int], dict[str, float]], sides: tuple[str, ...]) -> list[tuple]:
    """One row per (game, envs): steps/s per side and torch's ratio to each other side."""
    out = []
    for (game, n), r in results.items():
        ratios = [f"{r['torch'] / r[s]:.2f}" if "torch" in r and s in r else "" for s in sides if s != "torch"]
        out.append((game, n, *(f"{r[s]:,.0f}" if s in r else "" for s in sides), *ratios))
    return out


def header(sides: tuple[str, ...]) -> list[str]:
    return ["game", "envs", *sides, *(f"torch / {s}" for s in sides if s != "torch")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=GAMES)
    parser.add_argument("--envs", type=int, nargs="+", default=[2048, 64])
    parser.add_argument("--sides", nargs="+", default=["torch", "numpy", "loop"], choices=SIDES)
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per repetition and side")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="where the torch games run")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sides = tuple(args.sides)
    results = {(g, n): measure(g, n, args.steps, args.reps, sides, args.device) for n in args.envs for g in args.games}
    print_table(f"MinAtar env-steps/s, random actions, medians of {args.reps} (torch on {args.device}, "
                f"{args.threads} thread(s))", header(sides), rows(results, sides), left=(0,))


if __name__ == "__main__":
    main()
