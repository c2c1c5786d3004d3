"""CartPole with changeable physics, batched (a small, fast curriculum for tests and quick experiments).

The dynamics are gymnasium's ``CartPole-v1`` (Euler integration, τ = 0.02 s, reward 1 per step, episodes end
when |x| > 2.4 or |θ| > 12°, truncated at 500 steps), with the physical constants as arguments so that a task
can change them: ``gravity`` (9.8), ``length`` (half the pole length, 0.5), ``masspole`` (0.1), ``masscart``
(1.0), ``force_mag`` (10.0). Sub-env ``i`` reset with seed ``s + i`` draws its start state like
``gymnasium.make("CartPole-v1").reset(seed=s + i)`` (tested against it). Same-step autoreset.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.names import CARTPOLE_PHYSICS as PHYSICS

X_THRESHOLD = 2.4
THETA_THRESHOLD = 12 * 2 * math.pi / 360
TAU = 0.02


def observation_space() -> gym.spaces.Box:
    high = np.array([X_THRESHOLD * 2, np.finfo(np.float32).max, THETA_THRESHOLD * 2, np.finfo(np.float32).max],
                    dtype=np.float32)
    return gym.spaces.Box(-high, high, dtype=np.float32)


class CartPoleVectorEnv(VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, num_envs: int, max_episode_steps: int = 500, **physics: float):
        unknown = set(physics) - set(PHYSICS)
        if unknown:
            raise ValueError(f"unknown CartPole parameter(s) {sorted(unknown)}; valid: {', '.join(PHYSICS)}")
        params = {**PHYSICS, **physics}
        for key, value in params.items():
            if not value > 0:
                raise ValueError(f"CartPole {key}={value!r} must be > 0")
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.gravity, self.length = params["gravity"], params["length"]
        self.masspole, self.masscart, self.force_mag = params["masspole"], params["masscart"], params["force_mag"]
        self.total_mass = self.masspole + self.masscart
        self.polemass_length = self.masspole * self.length
        self.single_observation_space = observation_space()
        self.single_action_space = gym.spaces.Discrete(2)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._rngs = [seeding.np_random(None)[0] for _ in range(num_envs)]
        self.state = np.zeros((num_envs, 4), dtype=np.float64)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    def _reset_envs(self, idx: np.ndarray) -> None:
        for i in idx:
            self.state[i] = self._rngs[i].uniform(low=-0.05, high=0.05, size=(4,))
        self._lengths[idx] = 0

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else list(seed)
            self._rngs = [seeding.np_random(s)[0] for s in seeds]
        self._reset_envs(np.arange(self.num_envs))
        return self.state.astype(np.float32), {}

    def step(self, actions):
        x, x_dot, theta, theta_dot = self.state.T
        force = np.where(np.asarray(actions) == 1, self.force_mag, -self.force_mag)
        costheta, sintheta = np.cos(theta), np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        self.state = np.stack([x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot,
                               theta_dot + TAU * thetaacc], axis=1)
        self._lengths += 1
        x, theta = self.state[:, 0], self.state[:, 2]
        terminated = (np.abs(x) > X_THRESHOLD) | (np.abs(theta) > THETA_THRESHOLD)
        truncated = ~terminated & (self._lengths >= self.max_episode_steps)
        rewards = np.ones(self.num_envs, dtype=np.float64)
        obs = self.state.astype(np.float32)
        infos: dict[str, Any] = {}
        ended = np.flatnonzero(terminated | truncated)
        if ended.size:
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in ended:
                final_obs[i] = obs[i].copy()
            self._reset_envs(ended)
            obs = self.state.astype(np.float32)
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[ended] = True
            infos = {"final_obs": final_obs, "_final_obs": mask}
        return obs, rewards, terminated, truncated, infos
