"""Named curricula, reproducing the protocols of the papers this framework compares against.

Each is a spec for :func:`envs.make_curriculum` (the Hydra options ``conf/env/<name>.yaml`` hold the same
values; a test keeps them equal). Budgets are the papers' unless stated; override ``steps_per_task`` /
``cycles`` for shorter runs.
"""

from __future__ import annotations

from typing import Any

MINATAR = {"kind": "minatar"}  # MinAtar's own settings (sticky actions 0.1, difficulty ramping, no episode cap)
# The AdamO authors' environment (gymnax MinAtar): no sticky actions, episodes cut at 1000 steps (Freeway ends
# itself at 2500); the authors' rejax/gymnax settings.
GYMNAX = {"sticky_action_prob": 0.0, "max_episode_steps": 1000}

# Dohare et al.'s effective Ant-v3 (their contact forces were zeros under mujoco-py 2): no contact forces, no cost
ANT = {"game": "ant", "env_kwargs": {"include_cfrc_ext_in_observation": False, "contact_cost_weight": 0.0}}

PRESETS: dict[str, dict[str, Any]] = {
    # All five MinAtar games in a fixed order, 1M env steps each, three cycles.
    "minatar_switch": {**MINATAR, "tasks": ["breakout", "space_invaders", "asterix", "freeway", "seaquest"],
                       "steps_per_task": 1_000_000, "cycles": 3, "order": "fixed"},
    # The AdamO paper's continual MinAtar (Rosseau et al. 2026, their rejax code): 4 games (Seaquest excluded as a
    # reward-scale outlier), random game order per cycle, a fresh random channel permutation per game per cycle,
    # 15M env steps per game, 20 cycles (80 switches, 1.2B steps).
    "minatar_adamo": {**MINATAR, "tasks": ["breakout", "asterix", "space_invaders", "freeway"],
                      "transforms": [{"type": "channel_permutation"}],
                      "steps_per_task": 15_000_000, "cycles": 20, "order": "random"},
    # The same with the AdamO authors' environment settings (gymnax: no sticky actions, 1000-step episode cap;
    # Freeway keeps its own 2500-step end).
    "minatar_adamo_gymnax": {**MINATAR, **GYMNAX, "tasks": ["breakout", "asterix", "space_invaders",
                                                           {"game": "freeway", "max_episode_steps": None}],
                             "transforms": [{"type": "channel_permutation"}],
                             "steps_per_task": 15_000_000, "cycles": 20, "order": "random"},
    # C-CHAIN's continual MinAtar DQN (Tang et al., ICML 2025): SpaceInvaders → Asterix → Seaquest, 2M steps each,
    # with C-CHAIN's Seaquest guard (an episode of 1000 steps with return < 0.1 ends).
    "minatar_cchain": {**MINATAR, "tasks": ["space_invaders", "asterix",
                                            {"game": "seaquest", "stall_steps": 1000, "stall_min_return": 0.1}],
                       "steps_per_task": 2_000_000, "cycles": 1, "order": "fixed"},
    # Changing dynamics: Breakout with a new random action permutation every 500k env steps.
    "breakout_action_perm": {**MINATAR, "tasks": ["breakout"], "transforms": [{"type": "action_permutation"}],
                             "steps_per_task": 500_000, "cycles": 20, "order": "fixed"},
    # Changing reward: Breakout, then Breakout with the reward negated, alternating.
    "breakout_reward_flip": {**MINATAR, "steps_per_task": 500_000, "cycles": 5, "order": "fixed", "tasks": [
        "breakout",
        {"game": "breakout", "name": "breakout_negated", "transforms": [{"type": "reward_scale", "scale": -1.0}]}]},
    # Permuted-MNIST style: Breakout with a new pixel permutation every 500k env steps.
    "breakout_pixel_perm": {**MINATAR, "tasks": ["breakout"], "transforms": [{"type": "pixel_permutation"}],
                            "steps_per_task": 500_000, "cycles": 10, "order": "fixed"},
    # Abbas et al. (2023) switching ALE: Alien → Atlantis → Boxing → Breakout → Centipede, cycled. Their frames
    # per visit were not found; we use 10M frames (2.5M agent steps) per visit and 3 cycles (150M frames).
    "ale_abbas": {"kind": "ale", "tasks": ["alien", "atlantis", "boxing", "breakout", "centipede"],
                  "steps_per_task": 2_500_000, "cycles": 3, "order": "fixed", "repeat_action_probability": 0.25},
    # CartPole whose physics change: default, long pole, strong gravity, weak motor; 50k steps each, 3 cycles.
    "cartpole_dynamics": {"kind": "classic", "order": "fixed", "cycles": 3,
                          "steps_per_task": 50_000,
                          "tasks": [{"game": "cartpole", "name": "cartpole"},
                                    {"game": "cartpole", "name": "cartpole_long_pole", "length": 1.5},
                                    {"game": "cartpole", "name": "cartpole_heavy_gravity", "gravity": 20.0},
                                    {"game": "cartpole", "name": "cartpole_weak_motor", "force_mag": 5.0}]},
    # Dohare et al.'s Slippery Ant (Nature 2024): the friction of every geom changes at the first episode end more
    # than 2M env steps after the previous change; 10 frictions from row <seed> of their table (envs/mujoco.py).
    "slippery_ant": {"kind": "mujoco", "tasks": [ANT], "frictions": {"changes": 10}, "steps_per_task": 2_000_000,
                     "switch": "episode_end"},
    # Their stationary Ant (Fig. 4: 50M env steps).
    "ant": {"kind": "mujoco", "tasks": [ANT], "steps_per_task": 50_000_000},
    # Hopper and Walker2d whose physics change: default, heavy, slippery, light / damped; 1M each, 3 cycles.
    "hopper_dynamics": {"kind": "mujoco", "steps_per_task": 1_000_000, "cycles": 3, "tasks": [
        {"game": "hopper", "name": "hopper"},
        {"game": "hopper", "name": "hopper_heavy", "transforms": [{"type": "dynamics", "mass_scale": 1.5}]},
        {"game": "hopper", "name": "hopper_slippery", "transforms": [{"type": "dynamics", "friction": 0.3}]},
        {"game": "hopper", "name": "hopper_light", "transforms": [{"type": "dynamics", "mass_scale": 0.6}]}]},
    "walker_dynamics": {"kind": "mujoco", "steps_per_task": 1_000_000, "cycles": 3, "tasks": [
        {"game": "walker2d", "name": "walker"},
        {"game": "walker2d", "name": "walker_heavy", "transforms": [{"type": "dynamics", "mass_scale": 1.5}]},
        {"game": "walker2d", "name": "walker_slippery", "transforms": [{"type": "dynamics", "friction": 0.3}]},
        {"game": "walker2d", "name": "walker_damped", "transforms": [{"type": "dynamics", "damping_scale": 3.0}]}]},
}


def preset(name: str, **overrides: Any) -> dict[str, Any]:
    if name not in PRESETS:
        raise ValueError(f"unknown curriculum preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return {**PRESETS[name], "name": name, **overrides}
