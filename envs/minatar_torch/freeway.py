"""Freeway (``minatar/environments/freeway.py``) on torch tensors.

The chicken crosses ten rows upwards (+1 at the top, then back to the bottom); eight cars, one per row 1–8,
drive left or right at speeds 1–5 (a car moves once every ``|speed|`` + 1 frames) and wrap around; a car on
the chicken sends it back to the bottom. The chicken moves at most once every 3 frames; the episode ends after
2500 frames. Car speeds and directions are drawn at reset and after every crossing (draw group ``cars``:
``randint(1, 6, 8)`` then ``rand(8)``; a direction is ``sign(u − 0.5)``, taken as −1 for ``u < 0.5`` and +1
otherwise — the reference would give a speed-0 car for ``u == 0.5`` exactly, a measure-zero event).
"""

from __future__ import annotations

import torch
from torch import Tensor

from envs.minatar_torch.base import DOWN, UP, Canvas, TorchGame, randint

CHICKEN, CAR = 0, 1  # trails: channel 1 + |speed| (speed1..speed5 = channels 2..6)
PLAYER_SPEED = 3
TIME_LIMIT = 2500
CARS = 8


class Freeway(TorchGame):
    name = "freeway"
    channels = 7
    step_draws = {"cars": 2 * CARS}
    reset_draws = {"cars": 2 * CARS}
    state_names = ("pos", "move_timer", "terminate_timer", "car_x", "car_timer", "car_speed")
    initial_variants = None  # the cars' speeds and directions are drawn: 10^8 first observations

    def __init__(self, num_envs: int, ramping: bool = True, device: str | torch.device = "cpu"):
        self._rows = torch.arange(1, CARS + 1, device=torch.device(device))  # car i drives in row i + 1
        super().__init__(num_envs, ramping, device)

    @staticmethod
    def _speeds(u: Tensor) -> Tensor:
        """Signed car speeds from the ``cars`` draws: 8 speeds ``randint(1, 6)``, then 8 directions."""
        return randint(u[:, :CARS], 1, 6) * torch.where(u[:, CARS:2 * CARS] < 0.5, -1, 1)

    def initial(self, u: Tensor) -> dict[str, Tensor]:
        speed = self._speeds(u)
        return {"pos": self.full(9), "move_timer": self.full(PLAYER_SPEED), "terminate_timer": self.full(TIME_LIMIT),
                "car_x": self.full(0, CARS), "car_timer": speed.abs(), "car_speed": speed}

    def act(self, actions: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        ready = self.move_timer == 0
        up, down = ready & (actions == UP), ready & (actions == DOWN)
        self.move_timer = torch.where(up | down, PLAYER_SPEED, self.move_timer)
        self.pos = torch.where(up, (self.pos - 1).clamp(min=0),
                               torch.where(down, (self.pos + 1).clamp(max=9), self.pos))

        crossed = self.pos == 0
        speed = self._speeds(u)
        self.car_timer = torch.where(crossed.unsqueeze(1), speed.abs(), self.car_timer)
        self.car_speed = torch.where(crossed.unsqueeze(1), speed, self.car_speed)
        self.pos = torch.where(crossed, 9, self.pos)

        # Cars in order: a car on the chicken (before or after its move) sends it to row 9, where no car drives,
        # so every car compares with the same position until the first hit.
        on_row = self._rows == self.pos.unsqueeze(1)
        hit = on_row & (self.car_x == 4)
        move = self.car_timer == 0
        moved_x = self.car_x + torch.where(self.car_speed > 0, 1, -1)
        moved_x = torch.where(moved_x < 0, 9, torch.where(moved_x > 9, 0, moved_x))
        self.car_x = torch.where(move, moved_x, self.car_x)
        hit |= move & on_row & (self.car_x == 4)
        self.car_timer = torch.where(move, self.car_speed.abs(), self.car_timer - 1)
        self.pos = torch.where(hit.any(dim=1), 9, self.pos)

        self.move_timer = self.move_timer - (self.move_timer > 0).long()
        self.terminate_timer = self.terminate_timer - 1
        return crossed.float(), self.terminate_timer < 0

    def draw(self, canvas: Canvas) -> None:
        canvas.put(self.pos, torch.full_like(self.pos, 4), CHICKEN)
        rows = self._rows.expand(self.num_envs, CARS)
        canvas.put(rows, self.car_x, CAR)
        back = self.car_x + torch.where(self.car_speed > 0, -1, 1)
        back = torch.where(back < 0, 9, torch.where(back > 9, 0, back))
        canvas.put(rows, back, 1 + self.car_speed.abs())
