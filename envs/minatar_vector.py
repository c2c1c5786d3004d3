"""A batched MinAtar vector env: N copies of one game stepped in one process, no per-env wrappers.

Semantics match ``gymnasium.vector.SyncVectorEnv(MinAtarEnv)`` with ``autoreset_mode=SAME_STEP``: when a
sub-env ends, the returned observation is the first one of its next episode and ``infos["final_obs"]``
(an object array, masked by ``infos["_final_obs"]``) holds the last one. Sub-env ``i`` is bit-identical to a
``MinAtarEnv`` seeded with ``seed + i``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.minatar import GAME_CHANNELS, OBS_SHAPE, action_space, make_game, observation_space


def sub_env_seeds(seed: int | list[int] | None, num_envs: int) -> list[int | None]:
    """Gymnasium's vector seeding rule: an int ``s`` seeds sub-env ``i`` with ``s + i``."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, int | np.integer):
        return [int(seed) + i for i in range(num_envs)]
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(f"got {len(seeds)} seeds for {num_envs} envs")
    return seeds


class MinAtarVectorEnv(VectorEnv):
    """``num_envs`` copies of one MinAtar game with the shared 10-channel, 6-action interface.

    :param max_episode_steps: truncate episodes after this many steps (``None``: MinAtar's own episodes).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        game: str,
        num_envs: int,
        sticky_action_prob: float = 0.1,
        difficulty_ramping: bool = True,
        max_episode_steps: int | None = None,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be >= 1")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps={max_episode_steps!r} must be >= 1 or None")
        self.game = game
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self._games = [make_game(game, sticky_action_prob, difficulty_ramping) for _ in range(num_envs)]
        self._channels = GAME_CHANNELS[game]
        self.single_observation_space = observation_space()
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._obs = np.zeros((num_envs, *OBS_SHAPE), dtype=bool)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    def _write_obs(self, i: int) -> None:
        self._obs[i, :, :, : self._channels] = self._games[i].state()

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        for i, (g, s) in enumerate(zip(self._games, sub_env_seeds(seed, self.num_envs), strict=True)):
            if s is not None:
                g.seed(s)
            g.reset()
            self._write_obs(i)
        self._lengths[:] = 0
        return self._obs.copy(), {}

    def step(self, actions):
        actions = np.asarray(actions)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        self._lengths += 1
        for i, g in enumerate(self._games):
            rewards[i], terminated[i] = g.act(int(actions[i]))
            self._write_obs(i)
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = ~terminated & (self._lengths >= self.max_episode_steps)
        infos: dict[str, Any] = {}
        ended = np.flatnonzero(terminated | truncated)
        if ended.size:
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in ended:
                final_obs[i] = self._obs[i].copy()
                self._games[i].reset()
                self._write_obs(i)
            self._lengths[ended] = 0
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[ended] = True
            infos = {"final_obs": final_obs, "_final_obs": mask}
        return self._obs.copy(), rewards, terminated, truncated, infos
