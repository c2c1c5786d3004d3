"""Breakout (minatar 1.0.15 ``environments/breakout.py``), vectorized over sub-envs with numpy.

Same state variables and the same branch order as the reference ``Env.act``; the only randomness is the
ball's starting side at reset (``random.randint(2)``).
"""

from __future__ import annotations

import numpy as np

from envs.minatar_games.base import LEFT, RIGHT, BatchedGame

PADDLE, BALL, TRAIL, BRICK = range(4)
# ball_dir: 0 = up-left, 1 = up-right, 2 = down-right, 3 = down-left
DX = np.array([-1, 1, 1, -1])
DY = np.array([-1, -1, 1, 1])
FLIP_X = np.array([1, 0, 3, 2])
FLIP_Y = np.array([3, 2, 1, 0])
FLIP_BOTH = np.array([2, 3, 0, 1])


class BreakoutBatch(BatchedGame):
    channels = 4

    def __init__(self, num_envs: int, ramping: bool = True):
        super().__init__(num_envs, ramping)
        n = num_envs
        self.ball_x = np.zeros(n, dtype=np.int64)
        self.ball_y = np.zeros(n, dtype=np.int64)
        self.ball_dir = np.zeros(n, dtype=np.int64)
        self.pos = np.zeros(n, dtype=np.int64)
        self.last_x = np.zeros(n, dtype=np.int64)
        self.last_y = np.zeros(n, dtype=np.int64)
        self.strike = np.zeros(n, dtype=bool)
        self.bricks = np.zeros((n, 10, 10), dtype=bool)
        self._rows = np.arange(n)

    def reset(self, idx: np.ndarray, rngs: list[np.random.RandomState]) -> None:
        start = np.array([rngs[i].randint(2) for i in idx], dtype=np.int64)
        self.ball_y[idx] = 3
        self.ball_x[idx] = np.where(start == 0, 0, 9)
        self.ball_dir[idx] = np.where(start == 0, 2, 3)
        self.pos[idx] = 4
        self.bricks[idx] = False
        self.bricks[idx, 1:4, :] = True
        self.strike[idx] = False
        self.last_x[idx] = self.ball_x[idx]
        self.last_y[idx] = self.ball_y[idx]

    def act(self, actions: np.ndarray, rngs: list[np.random.RandomState]) -> tuple[np.ndarray, np.ndarray]:
        rows = self._rows
        self.pos = np.where(actions == LEFT, np.maximum(0, self.pos - 1),
                            np.where(actions == RIGHT, np.minimum(9, self.pos + 1), self.pos))
        self.last_x, self.last_y = self.ball_x.copy(), self.ball_y.copy()
        d = self.ball_dir
        new_x, new_y = self.ball_x + DX[d], self.ball_y + DY[d]

        off_x = (new_x < 0) | (new_x > 9)
        new_x = np.clip(new_x, 0, 9)
        d = np.where(off_x, FLIP_X[d], d)

        reward = np.zeros(self.num_envs, dtype=np.float64)
        terminal = np.zeros(self.num_envs, dtype=bool)
        top = new_y < 0
        new_y = np.where(top, 0, new_y)
        d = np.where(top, FLIP_Y[d], d)

        brick = ~top & self.bricks[rows, new_y, new_x]
        hit = brick & ~self.strike
        reward[hit] = 1.0
        self.bricks[rows[hit], new_y[hit], new_x[hit]] = False
        new_y = np.where(hit, self.last_y, new_y)
        d = np.where(hit, FLIP_Y[d], d)

        bottom = ~top & ~brick & (new_y == 9)
        cleared = bottom & ~self.bricks.any(axis=(1, 2))
        self.bricks[cleared, 1:4, :] = True
        under = bottom & (self.ball_x == self.pos)
        corner = bottom & ~under & (new_x == self.pos)
        d = np.where(under, FLIP_Y[d], np.where(corner, FLIP_BOTH[d], d))
        new_y = np.where(under | corner, self.last_y, new_y)
        terminal |= bottom & ~under & ~corner

        self.strike = brick  # touching a brick keeps (or starts) a strike; anything else ends it
        self.ball_dir, self.ball_x, self.ball_y = d, new_x, new_y
        return reward, terminal

    def render(self, obs: np.ndarray) -> None:
        rows = self._rows
        obs[..., :4] = False
        obs[rows, self.ball_y, self.ball_x, BALL] = True
        obs[rows, 9, self.pos, PADDLE] = True
        obs[rows, self.last_y, self.last_x, TRAIL] = True
        obs[..., BRICK] = self.bricks
