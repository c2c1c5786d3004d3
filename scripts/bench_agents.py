"""Env-steps/s of our PPO and DQN vs vanilla Stable-Baselines3 on a MinAtar switching curriculum (a benchmark).

    python scripts/bench_agents.py                        # PPO at 64 envs and DQN at the MinAtar-paper cadence
    python scripts/bench_agents.py --agents ppo --reps 5 --device cuda

Both sides train the same network (``agents.networks.MinAtarCNN`` through ``policy_kwargs``) with the same
hyper-parameters (``conf/agent/*.yaml``) and the same torch thread count on the same Breakout → SpaceInvaders
curriculum:

* **vanilla**: ``sb3.PPO`` / ``sb3.DQN`` with torch's Adam, ``DummyVecEnv`` over ``gym.make("MinAtar/<Game>-v0")``
  (channels zero-padded to 10, as our curriculum does, so both games share one observation space) and
  ``VecMonitor``; the switch is ``set_env`` + ``learn(reset_num_timesteps=False)``;
* **ours**: ``agents.runner.prepare`` exactly as ``scripts/train.py`` builds a run (batched MinAtar curriculum,
  run logs and callbacks), with evaluation, plasticity metrics and checkpoints off (metrics are timed
  separately).

Repetitions alternate between the sides so machine noise hits both alike; the claim is the median ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import minatar.gym
import numpy as np
import stable_baselines3 as sb3
import torch
from bench_envs import GYM_IDS
from bench_update import load_config
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

from agents.console import print_table
from agents.networks import minatar_policy_kwargs
from agents.runner import prepare
from envs import make_curriculum

GAMES = ("breakout", "space_invaders")
CHANNELS = 10


class PadChannels(gym.ObservationWrapper):
    """Zero-pads MinAtar's HWC observation to ``CHANNELS`` channels, so that every game has one space."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        h, w, _ = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0, 1, (h, w, CHANNELS), dtype=bool)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        out = np.zeros(self.observation_space.shape, dtype=bool)
        out[..., : obs.shape[-1]] = obs
        return out


def vanilla_env(game: str, n_envs: int, seed: int) -> VecMonitor:
    if f"MinAtar/{GYM_IDS[game]}-v0" not in gym.registry:
        minatar.gym.register_envs()
    env = DummyVecEnv([lambda: PadChannels(gym.make(f"MinAtar/{GYM_IDS[game]}-v0")) for _ in range(n_envs)])
    env.seed(seed)
    return VecMonitor(env)


def vanilla_model(agent: dict[str, Any], env: VecMonitor, total: int, seed: int, device: str):
    """SB3's own algorithm class with our agent config's hyper-parameters and network; torch's Adam."""
    from agents.algorithms import DQN_KEYS, PPO_KEYS, _pick, learning_rate

    kwargs = dict(policy_kwargs=dict(**minatar_policy_kwargs(), optimizer_kwargs={"eps": agent["adam_eps"]}),
                  learning_rate=learning_rate(agent), seed=seed, device=device, verbose=0)
    if agent["name"] == "ppo":
        return sb3.PPO("MlpPolicy", env, **_pick(agent, PPO_KEYS), **kwargs)
    keys = tuple(k for k in DQN_KEYS if k != "double_q")
    fraction = min(1.0, int(agent["exploration_steps"]) / total)
    return sb3.DQN("MlpPolicy", env, exploration_fraction=fraction, **_pick(agent, keys), **kwargs)


def final_return(model) -> float:
    """Mean return of the last 100 finished episodes (SB3's ``ep_info_buffer``, filled alike on both sides)."""
    return float(np.mean([e["r"] for e in model.ep_info_buffer])) if model.ep_info_buffer else float("nan")


def run_vanilla(agent: dict[str, Any], steps_per_task: int, seed: int, device: str,
                games: tuple[str, ...] = GAMES) -> tuple[float, float]:
    """(env-steps/s, final return) of vanilla SB3 on ``games`` in turn."""
    envs = [vanilla_env(game, int(agent["n_envs"]), seed) for game in games]
    model = vanilla_model(agent, envs[0], steps_per_task * len(games), seed, device)
    start = time.perf_counter()
    for i, env in enumerate(envs):
        model.set_env(env)
        model.learn(steps_per_task, reset_num_timesteps=i == 0)
    return model.num_timesteps / (time.perf_counter() - start), final_return(model)


def run_ours(overrides: list[str], steps_per_task: int, seed: int, device: str,
             env: str = "minatar_demo") -> tuple[float, float]:
    """(env-steps/s, final return) of a run built as scripts/train.py builds it, one cycle of ``env``."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(*overrides, f"env={env}", f"env.steps_per_task={steps_per_task}", "env.cycles=1",
                          f"seed={seed}", f"device={device}", "eval.enabled=false", "metrics.enabled=false",
                          "checkpoint.every=0", "checkpoint.at_switch=false", "progress=false",
                          f"torch_threads={torch.get_num_threads()}")
        cfg["run_dir"] = f"{tmp}/run"
        run = prepare(cfg, make_curriculum)
        total = steps_per_task * len(cfg["env"]["tasks"])
        start = time.perf_counter()
        run.model.learn(total, callback=run.callback, log_interval=None)
        return run.model.num_timesteps / (time.perf_counter() - start), final_return(run.model)


# agent → (Hydra overrides, env steps per task): DQN learns from the start so that every timed step updates
BENCHMARKS: dict[str, tuple[list[str], int]] = {
    "ppo": (["agent=ppo", "method=adam"], 2 * 8192),
    "dqn": (["agent=dqn", "method=adam", "agent.learning_starts=256"], 1500),
}


def measure(agent: str, reps: int, device: str, seed: int = 0) -> dict[str, list[float]]:
    overrides, steps = BENCHMARKS[agent]
    cfg = load_config(*overrides)["agent"]
    sides: dict[str, Callable[[], tuple[float, float]]] = {
        "vanilla SB3": lambda: run_vanilla(cfg, steps, seed, device),
        "ours": lambda: run_ours(overrides, steps, seed, device),
    }
    samples: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(reps):
        for name, side in sides.items():
            samples[name].append(side()[0])
    return samples


def learning(agent: str, seeds: list[int], steps: int, game: str = "breakout") -> dict[str, list[float]]:
    """Final returns per seed of vanilla SB3 and ours on one game, same seeds, same hyper-parameters."""
    overrides, _ = BENCHMARKS[agent]
    overrides = [o for o in overrides if not o.startswith("agent.learning_starts")]
    cfg = load_config(*overrides)["agent"]
    out: dict[str, list[float]] = {"vanilla SB3": [], "ours": []}
    for seed in seeds:
        out["vanilla SB3"].append(run_vanilla(cfg, steps, seed, "cpu", games=(game,))[1])
        out["ours"].append(run_ours(overrides, steps, seed, "cpu", env=game)[1])
    return out


def rows(results: dict[str, dict[str, list[float]]]) -> list[tuple]:
    out = []
    for agent, samples in results.items():
        base, ours = statistics.median(samples["vanilla SB3"]), statistics.median(samples["ours"])
        out.append((agent, f"{base:,.0f}", f"{ours:,.0f}", f"{ours / base:.2f}"))
    return out


HEADER = ["agent", "vanilla SB3 steps/s", "ours steps/s", "ratio"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=list(BENCHMARKS), choices=list(BENCHMARKS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (our default is 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {agent: measure(agent, args.reps, args.device) for agent in args.agents}
    print_table("Env-steps/s on Breakout → SpaceInvaders, medians", HEADER, rows(results), left=(0,))


if __name__ == "__main__":
    main()
