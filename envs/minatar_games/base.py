"""The interface of a batched MinAtar game: N copies of one game's state, stepped together.

Sticky actions are resolved by the caller (one ``RandomState.rand()`` per env per step, before the game's own
draws, as ``minatar.Environment.act`` does), so a kernel receives the actions the game really executes and the
per-env ``RandomState`` objects for the game's own randomness; drawing from each in the reference order keeps
every sub-env bit-identical to ``minatar``.
"""

from __future__ import annotations

import numpy as np

# MinAtar's action indices: ['n', 'l', 'u', 'r', 'd', 'f']
NOOP, LEFT, UP, RIGHT, DOWN, FIRE = range(6)


class BatchedGame:
    channels: int

    def __init__(self, num_envs: int, ramping: bool):
        self.num_envs = num_envs
        self.ramping = ramping

    def reset(self, idx: np.ndarray, rngs: list[np.random.RandomState]) -> None:
        """Start new episodes in sub-envs ``idx``."""
        raise NotImplementedError

    def act(self, actions: np.ndarray, rngs: list[np.random.RandomState]) -> tuple[np.ndarray, np.ndarray]:
        """Step every sub-env with its executed action; returns (rewards, terminal)."""
        raise NotImplementedError

    def render(self, obs: np.ndarray) -> None:
        """Write every sub-env's observation into ``obs[..., :channels]`` (shape ``(N, 10, 10, ≥channels)``)."""
        raise NotImplementedError
