"""Atari games through ale-py's native vector env (C++, threaded; ale-py ships the ROMs).

Standard preprocessing, identical for every game so one network serves them all: grayscale 84×84, frame skip
4 with max-pooling over the last two frames, a stack of the last 4 frames (observations ``uint8 (4, 84, 84)``,
channels first), up to 30 no-op starts, the **full 18-action set**, sticky actions 0.25 (the ``-v5``
default, Machado et al. 2018) and episodes capped at 108,000 frames (27,000 agent steps). Unlike ale-py's
default we do **not** clip rewards, so logged returns are game scores; add the ``reward_clip`` transform for
DQN-style clipped training rewards. Life loss does not end an episode.
"""

from __future__ import annotations

from typing import Any

import ale_py
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

DEFAULTS = {"repeat_action_probability": 0.25, "frameskip": 4, "stack_num": 4, "noop_max": 30,
            "max_num_frames_per_episode": 108_000, "reward_clipping": False, "episodic_life": False}


def check_rom(game: str) -> str:
    """``game`` as ale-py's ROM id (``Breakout`` → ``breakout``), or a one-line ``ValueError``."""
    rom = game.lower().replace("-", "_")
    roms = ale_py.roms.get_all_rom_ids()
    if rom not in roms:
        near = [r for r in roms if r[:3] == rom[:3]]
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise ValueError(f"unknown ALE ROM {game!r}{hint}; valid ROMs: {len(roms)} ids such as "
                         f"{', '.join(roms[:8])}, … (ale_py.roms.get_all_rom_ids())")
    return rom


class ALEVectorEnv(VectorEnv):
    """ale-py's ``AtariVectorEnv`` with gymnasium's same-step ``final_obs``/``_final_obs`` convention."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, game: str, num_envs: int, **options: Any):
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown ALE option(s) {sorted(unknown)}; valid: {', '.join(DEFAULTS)}")
        self.game = check_rom(game)
        self.env = ale_py.vector_env.AtariVectorEnv(
            game=self.game, num_envs=num_envs, full_action_space=True, autoreset_mode=AutoresetMode.SAME_STEP,
            img_height=84, img_width=84, grayscale=True, maxpool=True, **{**DEFAULTS, **options})
        self.num_envs = num_envs
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        obs, _ = self.env.reset(seed=seed)
        return obs, {}

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self.env.step(np.asarray(actions, dtype=np.int64))
        ended = terminated | truncated
        out: dict[str, Any] = {}
        if ended.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(ended):
                final_obs[i] = infos["final_obs"][i].copy()
            out = {"final_obs": final_obs, "_final_obs": ended.copy()}
        return obs, rewards.astype(np.float64), terminated, truncated, out

    def close(self, **kwargs: Any) -> None:
        self.env.close()
