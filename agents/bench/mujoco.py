"""Our PPO against vanilla SB3's at Dohare et al.'s Slippery Ant settings, side by side in one run (CPU, one torch
thread each), with the ceilings that bound both: the env alone and the update alone.

    python scripts/bench_mujoco.py                     # 1 and 8 envs, 3 alternating repetitions, 8,192 steps each
    python scripts/bench_mujoco.py --envs 1 --reps 5 --steps 16384

Both sides train PPO on Ant-v5 (27-d observations, no contact cost) with 2,048-step rollouts (2048 / n_envs steps
per env), 10 epochs of minibatch 128, lr 1e-4, separate [256, 256] ReLU actor and critic, no gradient clipping:

* **sb3** — ``stable_baselines3.PPO("MlpPolicy")`` on ``DummyVecEnv`` of ``gymnasium.make("Ant-v5")``;
* **ours** — a run built as ``scripts/train.py experiment=dohare_sant`` builds it (evaluation, metrics and
  checkpoints off), one friction;
* **env only** — our batched Ant (``envs.mujoco.MuJoCoVectorEnv``) stepping zero actions: no agent can beat it;
* **update only** — one PPO update (``train()``) on a filled 2,048-sample buffer, ours and SB3's.

Steps/s are medians over the repetitions (the first run of each side is a warm-up, not counted).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

from agents.app.paths import config_dir
from agents.config.cli import compose_checked
from agents.config.validation import effective_config
from agents.run.console import print_table

ANT = {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.0}
HYPER = dict(batch_size=128, n_epochs=10, learning_rate=1e-4, gamma=0.99, gae_lambda=0.95, clip_range=0.2,
             ent_coef=0.0, vf_coef=1.0, max_grad_norm=1e9)


def sb3_model(n_envs: int, seed: int = 0):
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    env = make_vec_env(lambda: gym.make("Ant-v5", **ANT), n_envs=n_envs, seed=seed)
    return PPO("MlpPolicy", env, n_steps=2048 // n_envs, policy_kwargs=dict(net_arch=dict(pi=[256, 256],
               vf=[256, 256])), device="cpu", seed=seed, verbose=0, **HYPER)


def ours_run(n_envs: int, steps: int, tmp: str, seed: int = 0):
    from agents.training.runner import prepare
    from envs import make_curriculum
    cfg = compose_checked(config_dir(), "config", [
        "experiment=dohare_sant", f"agent.n_envs={n_envs}", f"agent.n_steps={2048 // n_envs}",
        "env.frictions.changes=1", f"env.steps_per_task={10 * steps}", f"seed={seed}", "device=cpu",
        "eval.enabled=false", "metrics.enabled=false", "checkpoint.every=0", "checkpoint.at_switch=false",
        "progress=false", f"run_dir={tmp}/run", "torch_threads=1"])
    return prepare(effective_config(cfg), make_curriculum)


def time_sb3(n_envs: int, steps: int) -> float:
    model = sb3_model(n_envs)
    start = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - start)


def time_ours(n_envs: int, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        run = ours_run(n_envs, steps, tmp)
        start = time.perf_counter()
        run.model.learn(steps, callback=run.callback, log_interval=None)
        return steps / (time.perf_counter() - start)


def time_env(n_envs: int, steps: int) -> float:
    from envs.mujoco import MuJoCoVectorEnv
    env = MuJoCoVectorEnv("ant", n_envs, env_kwargs=ANT)
    env.reset(seed=0)
    actions = np.zeros((n_envs, 8), dtype=np.float32)
    start = time.perf_counter()
    for _ in range(steps // n_envs):
        env.step(actions)
    return steps / (time.perf_counter() - start)


def time_updates(n_envs: int) -> tuple[float, float]:
    """Seconds of one PPO update on a filled buffer: (ours, SB3's)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in (ours_run(n_envs, 2048, tmp).model, sb3_model(n_envs)):
            model.learn(2048)  # fills the buffer (and runs one update)
            model.train()  # warm
            start = time.perf_counter()
            model.train()
            out.append(time.perf_counter() - start)
    return out[0], out[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8192, help="env steps per timed run (a multiple of 2048)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for n in args.envs:
        samples: dict[str, list[float]] = {"sb3": [], "ours": []}
        time_sb3(n, 2048), time_ours(n, 2048)  # warm-up: imports, first allocations
        for _ in range(args.reps):
            samples["sb3"].append(time_sb3(n, args.steps))
            samples["ours"].append(time_ours(n, args.steps))
        env = time_env(n, args.steps)
        ours_update, sb3_update = time_updates(n)
        sb3, ours = statistics.median(samples["sb3"]), statistics.median(samples["ours"])
        rows.append((str(n), f"{sb3:,.0f}", f"{ours:,.0f}", f"{ours / sb3:.2f}", f"{env:,.0f}",
                     f"{sb3_update:.2f}", f"{ours_update:.2f}",
                     f"{1 / (1 / env + ours_update / 2048):,.0f}"))
    print_table(f"PPO on Ant-v5 at Dohare's settings, env steps/s (medians of {args.reps}; one CPU thread)",
                ["envs", "sb3", "ours", "ours / sb3", "env only", "sb3 update s", "our update s",
                 "env + our update (ceiling)"], rows)


if __name__ == "__main__":
    main()
