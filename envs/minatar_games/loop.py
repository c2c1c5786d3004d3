"""Fallback kernel: the reference ``minatar`` game objects, stepped one after another."""

from __future__ import annotations

from importlib import import_module

import numpy as np

from envs.minatar_games.base import BatchedGame


class LoopGame(BatchedGame):
    def __init__(self, game: str, num_envs: int, ramping: bool):
        super().__init__(num_envs, ramping)
        module = import_module(f"minatar.environments.{game}")
        self.games = [module.Env(ramping=ramping) for _ in range(num_envs)]
        self.channels = self.games[0].state_shape()[2]

    def reset(self, idx: np.ndarray, rngs: list[np.random.RandomState]) -> None:
        for i in idx:
            self.games[i].random = rngs[i]
            self.games[i].reset()

    def act(self, actions: np.ndarray, rngs: list[np.random.RandomState]) -> tuple[np.ndarray, np.ndarray]:
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminal = np.zeros(self.num_envs, dtype=bool)
        for i, g in enumerate(self.games):
            g.random = rngs[i]
            rewards[i], terminal[i] = g.act(int(actions[i]))
        return rewards, terminal

    def render(self, obs: np.ndarray) -> None:
        c = self.channels
        for i, g in enumerate(self.games):
            obs[i, :, :, :c] = g.state()
