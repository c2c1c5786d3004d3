"""A batched MinAtar vector env: N copies of one game stepped together in one process, no per-env wrappers.

Semantics match ``gymnasium.vector.SyncVectorEnv(MinAtarEnv)`` with ``autoreset_mode=SAME_STEP``: when a
sub-env ends, the returned observation is the first one of its next episode and ``infos["final_obs"]``
(an object array, masked by ``infos["_final_obs"]``) holds the last one. Sub-env ``i`` is bit-identical to a
``MinAtarEnv`` seeded with ``seed + i`` (tested over thousands of random steps): each sub-env owns one
``RandomState`` used, as in ``minatar.Environment``, first for the sticky-action draw of every step and then
for the game's own randomness; like ``minatar.Environment``, the last action (for sticky repeats) carries over
from one episode to the next.

Breakout and SpaceInvaders run as numpy kernels over the whole batch (:mod:`envs.minatar_games`); the other
games step the reference game objects in a loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.minatar import OBS_SHAPE, action_space, check_vector_options, observation_space
from envs.minatar_games import make_batched_game


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
    :param stall_steps: truncate an episode that has lasted this many steps with a return below
        ``stall_min_return`` (C-CHAIN's guard against Seaquest's endless zero-reward episodes: 1000 and 0.1).
    :param vectorized: ``None`` picks the faster implementation for the batch size; ``True`` forces the numpy
        kernel (where the game has one), ``False`` the reference game objects.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, game: str, num_envs: int, sticky_action_prob: float = 0.1, difficulty_ramping: bool = True,
                 max_episode_steps: int | None = None, vectorized: bool | None = None,
                 stall_steps: int | None = None, stall_min_return: float = 0.1):
        check_vector_options(game, num_envs, sticky_action_prob, max_episode_steps, stall_steps)
        self.stall_steps, self.stall_min_return = stall_steps, float(stall_min_return)
        self.game = game
        self.num_envs = num_envs
        self.sticky_action_prob = float(sticky_action_prob)
        self.max_episode_steps = max_episode_steps
        self._game = make_batched_game(game, num_envs, difficulty_ramping, vectorized)
        self._rngs = [np.random.RandomState() for _ in range(num_envs)]
        self._last_action = np.zeros(num_envs, dtype=np.int64)
        self.single_observation_space = observation_space()
        self.single_action_space = action_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._obs = np.zeros((num_envs, *OBS_SHAPE), dtype=bool)
        self._lengths = np.zeros(num_envs, dtype=np.int64)
        self._returns = np.zeros(num_envs, dtype=np.float64)
        self._all = np.arange(num_envs)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        for i, s in enumerate(sub_env_seeds(seed, self.num_envs)):
            if s is not None:
                self._rngs[i] = np.random.RandomState(s)
        self._game.reset(self._all, self._rngs)
        self._game.render(self._obs)
        self._lengths[:] = 0
        self._returns[:] = 0
        return self._obs.copy(), {}

    def step(self, actions):
        actions = np.asarray(actions, dtype=np.int64)
        draws = np.fromiter((rng.rand() for rng in self._rngs), dtype=np.float64, count=self.num_envs)
        executed = np.where(draws < self.sticky_action_prob, self._last_action, actions)
        self._last_action = executed
        rewards, terminated = self._game.act(executed, self._rngs)
        self._game.render(self._obs)
        self._lengths += 1
        self._returns += rewards
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated |= ~terminated & (self._lengths >= self.max_episode_steps)
        if self.stall_steps is not None:
            truncated |= ~terminated & (self._lengths >= self.stall_steps) & (self._returns < self.stall_min_return)
        infos: dict[str, Any] = {}
        ended = np.flatnonzero(terminated | truncated)
        if ended.size:
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in ended:
                final_obs[i] = self._obs[i].copy()
            self._game.reset(ended, self._rngs)
            self._game.render(self._obs)
            self._lengths[ended] = 0
            self._returns[ended] = 0
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[ended] = True
            infos = {"final_obs": final_obs, "_final_obs": mask}
        return self._obs.copy(), rewards, terminated, truncated, infos
