"""SpaceInvaders (minatar 1.0.15 ``environments/space_invaders.py``), vectorized over sub-envs with numpy.

Deterministic apart from sticky actions. ``np.roll`` wraps exactly as in the reference (an alien row pushed
past the bottom reappears at the top in the terminal frame).
"""

from __future__ import annotations

import numpy as np

from envs.minatar_games.base import FIRE, LEFT, RIGHT, BatchedGame

CANNON, ALIEN, ALIEN_LEFT, ALIEN_RIGHT, FRIENDLY_BULLET, ENEMY_BULLET = range(6)
SHOT_COOL_DOWN = 5
ENEMY_MOVE_INTERVAL = 12
ENEMY_SHOT_INTERVAL = 10


class SpaceInvadersBatch(BatchedGame):
    channels = 6

    def __init__(self, num_envs: int, ramping: bool = True):
        super().__init__(num_envs, ramping)
        n = num_envs
        self.pos = np.zeros(n, dtype=np.int64)
        self.f_bullets = np.zeros((n, 10, 10), dtype=bool)
        self.e_bullets = np.zeros((n, 10, 10), dtype=bool)
        self.aliens = np.zeros((n, 10, 10), dtype=bool)
        self.alien_dir = np.zeros(n, dtype=np.int64)
        self.move_interval = np.zeros(n, dtype=np.int64)
        self.move_timer = np.zeros(n, dtype=np.int64)
        self.shot_timer_aliens = np.zeros(n, dtype=np.int64)
        self.ramp_index = np.zeros(n, dtype=np.int64)
        self.shot_timer = np.zeros(n, dtype=np.int64)
        self._rows = np.arange(n)
        self._cols = np.arange(10)

    def reset(self, idx: np.ndarray, rngs: list[np.random.RandomState]) -> None:
        self.pos[idx] = 5
        self.f_bullets[idx] = False
        self.e_bullets[idx] = False
        self.aliens[idx] = False
        self.aliens[idx, 0:4, 2:8] = True
        self.alien_dir[idx] = -1
        self.move_interval[idx] = ENEMY_MOVE_INTERVAL
        self.move_timer[idx] = ENEMY_MOVE_INTERVAL
        self.shot_timer_aliens[idx] = ENEMY_SHOT_INTERVAL
        self.ramp_index[idx] = 0
        self.shot_timer[idx] = 0

    def act(self, actions: np.ndarray, rngs: list[np.random.RandomState]) -> tuple[np.ndarray, np.ndarray]:
        rows = self._rows
        fire = (actions == FIRE) & (self.shot_timer == 0)
        self.f_bullets[rows[fire], 9, self.pos[fire]] = True
        self.shot_timer[fire] = SHOT_COOL_DOWN
        self.pos = np.where(~fire & (actions == LEFT), np.maximum(0, self.pos - 1),
                            np.where(~fire & (actions == RIGHT), np.minimum(9, self.pos + 1), self.pos))

        self.f_bullets = np.roll(self.f_bullets, -1, axis=1)
        self.f_bullets[:, 9, :] = False
        self.e_bullets = np.roll(self.e_bullets, 1, axis=1)
        self.e_bullets[:, 0, :] = False
        terminal = self.e_bullets[rows, 9, self.pos] | self.aliens[rows, 9, self.pos]

        move = self.move_timer == 0
        if move.any():
            counts = self.aliens.sum(axis=(1, 2))
            self.move_timer = np.where(move, np.minimum(counts, self.move_interval), self.move_timer)
            at_edge = ((self.aliens[:, :, 0].any(axis=1) & (self.alien_dir < 0))
                       | (self.aliens[:, :, 9].any(axis=1) & (self.alien_dir > 0)))
            down = move & at_edge
            terminal |= down & self.aliens[:, 9, :].any(axis=1)
            self.alien_dir = np.where(down, -self.alien_dir, self.alien_dir)
            if down.any():
                self.aliens[down] = np.roll(self.aliens[down], 1, axis=1)
            for step in (-1, 1):
                side = move & ~at_edge & (self.alien_dir == step)
                if side.any():
                    self.aliens[side] = np.roll(self.aliens[side], step, axis=2)
            terminal |= move & self.aliens[rows, 9, self.pos]

        shoot = self.shot_timer_aliens == 0
        if shoot.any():
            self.shot_timer_aliens[shoot] = ENEMY_SHOT_INTERVAL
            s = rows[shoot]
            has = self.aliens[s].any(axis=1)  # (k, 10) columns with an alien
            # the reference searches columns by |col - pos|, ties to the lower column
            key = np.abs(self._cols[None, :] - self.pos[s, None]) * 10 + self._cols[None, :]
            col = np.argmin(np.where(has, key, 1000), axis=1)
            lowest = 9 - np.argmax(self.aliens[s, ::-1, col], axis=1)
            self.e_bullets[s, lowest, col] = True

        kills = self.aliens & self.f_bullets
        reward = kills.sum(axis=(1, 2)).astype(np.float64)
        self.aliens &= ~kills
        self.f_bullets &= ~kills

        self.shot_timer -= self.shot_timer > 0
        self.move_timer -= 1
        self.shot_timer_aliens -= 1
        cleared = ~self.aliens.any(axis=(1, 2))
        if cleared.any():
            ramp = cleared & (self.move_interval > 6) & self.ramping
            self.move_interval -= ramp
            self.ramp_index += ramp
            self.aliens[cleared, 0:4, 2:8] = True
        return reward, terminal

    def render(self, obs: np.ndarray) -> None:
        obs[..., :6] = False
        obs[self._rows, 9, self.pos, CANNON] = True
        obs[..., ALIEN] = self.aliens
        left = (self.alien_dir < 0)[:, None, None]
        obs[..., ALIEN_LEFT] = self.aliens & left
        obs[..., ALIEN_RIGHT] = self.aliens & ~left
        obs[..., FRIENDLY_BULLET] = self.f_bullets
        obs[..., ENEMY_BULLET] = self.e_bullets
