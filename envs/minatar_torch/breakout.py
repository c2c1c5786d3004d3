"""Breakout (``minatar/environments/breakout.py``) on torch tensors: the same state and branch order.

The ball moves diagonally and bounces off the walls, the bricks and the paddle; a brick hit gives +1, the
bricks come back when the ball reaches the bottom row with none left, and the episode ends when the paddle
misses. The bricks are a row bitmask (``bricks[:, y]`` holds column ``x`` in bit ``x``). The only randomness is the
ball's starting side at reset (draw group ``start``: ``randint(2)``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from envs.minatar_torch.base import LEFT, RIGHT, Canvas, TorchGame, randint

PADDLE, BALL, TRAIL, BRICK = range(4)
# ball_dir: 0 = up-left, 1 = up-right, 2 = down-right, 3 = down-left
_DX, _DY = (-1, 1, 1, -1), (-1, -1, 1, 1)
_FLIP_X, _FLIP_Y, _FLIP_BOTH = (1, 0, 3, 2), (3, 2, 1, 0), (2, 3, 0, 1)
FULL_ROW = (1 << 10) - 1  # a row bitmask with all ten columns set


class Breakout(TorchGame):
    name = "breakout"
    channels = 4
    reset_draws = {"start": 1}
    state_names = ("ball_x", "ball_y", "ball_dir", "pos", "last_x", "last_y", "strike", "bricks")

    def __init__(self, num_envs: int, ramping: bool = True, device: str | torch.device = "cpu"):
        dev = torch.device(device)
        self._dx, self._dy = torch.tensor(_DX, device=dev), torch.tensor(_DY, device=dev)
        self._flip_x, self._flip_y = torch.tensor(_FLIP_X, device=dev), torch.tensor(_FLIP_Y, device=dev)
        self._flip_both = torch.tensor(_FLIP_BOTH, device=dev)
        self._wall = torch.tensor([0, FULL_ROW, FULL_ROW, FULL_ROW, 0, 0, 0, 0, 0, 0], device=dev)  # row bitmasks
        super().__init__(num_envs, ramping, device)

    def initial(self, u: Tensor) -> dict[str, Tensor]:
        right = randint(u[:, 0], 0, 2) == 1
        ball_x = torch.where(right, 9, 0)
        return {"ball_x": ball_x, "ball_y": self.full(3), "ball_dir": torch.where(right, 3, 2),
                "pos": self.full(4), "last_x": ball_x, "last_y": self.full(3),
                "strike": self.full(False, dtype=torch.bool), "bricks": self._wall.expand(self.num_envs, 10)}

    initial_variants = 2  # the ball starts on the left or on the right

    def initial_variant(self, u: Tensor) -> Tensor:
        return randint(u[:, 0], 0, 2)

    def variant_draws(self) -> Tensor:
        return torch.tensor([[0.25], [0.75]], device=self.device)

    def act(self, actions: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        self.pos = torch.where(actions == LEFT, (self.pos - 1).clamp(min=0),
                               torch.where(actions == RIGHT, (self.pos + 1).clamp(max=9), self.pos))
        self.last_x, self.last_y = self.ball_x, self.ball_y
        d = self.ball_dir
        new_x, new_y = self.ball_x + self._dx[d], self.ball_y + self._dy[d]

        off_x = (new_x < 0) | (new_x > 9)
        new_x = new_x.clamp(0, 9)
        d = torch.where(off_x, self._flip_x[d], d)

        top = new_y < 0
        new_y = new_y.clamp(min=0)
        d = torch.where(top, self._flip_y[d], d)

        row = new_y.unsqueeze(1)
        bricks_row = self.bricks.gather(1, row).squeeze(1)
        brick = ~top & ((bricks_row >> new_x) & 1 == 1)
        hit = brick & ~self.strike
        bricks = self.bricks.scatter(1, row, (bricks_row & ~(hit.long() << new_x)).unsqueeze(1))  # the brick hit goes
        new_y = torch.where(hit, self.last_y, new_y)
        d = torch.where(hit, self._flip_y[d], d)

        bottom = ~top & ~brick & (new_y == 9)
        cleared = bottom & (bricks == 0).all(dim=1)
        self.bricks = torch.where(cleared.unsqueeze(1), self._wall, bricks)
        under = bottom & (self.ball_x == self.pos)
        corner = bottom & ~under & (new_x == self.pos)
        d = torch.where(under, self._flip_y[d], torch.where(corner, self._flip_both[d], d))
        new_y = torch.where(under | corner, self.last_y, new_y)
        terminal = bottom & ~under & ~corner

        self.strike = brick  # touching a brick keeps (or starts) a strike; anything else ends it
        self.ball_dir, self.ball_x, self.ball_y = d, new_x, new_y
        return hit.float(), terminal

    def draw(self, canvas: Canvas) -> None:
        canvas.put(self.ball_y, self.ball_x, BALL)
        canvas.put(torch.full_like(self.pos, 9), self.pos, PADDLE)
        canvas.put(self.last_y, self.last_x, TRAIL)
        canvas.rows(BRICK, self.bricks)
