"""SpaceInvaders (``minatar/environments/space_invaders.py``) on torch tensors.

Deterministic apart from sticky actions (no draw groups). The alien formation and both kinds of bullets are row
bitmasks (``aliens[:, y]`` holds column ``x`` in bit ``x``): the reference's ``np.roll`` along rows is a
``torch.roll`` of the rows (it wraps, as the reference does: an alien row pushed past the bottom reappears at the
top in the terminal frame), a sideways move is a bit shift (it never wraps: the formation turns at the edge).
The alien that shoots is the lowest one of the column nearest the cannon (ties to the lower column index), as
the reference's search order gives.
"""

from __future__ import annotations

import torch
from torch import Tensor

from envs.minatar_torch.base import FIRE, LEFT, RIGHT, Canvas, TorchGame

CANNON, ALIEN, ALIEN_LEFT, ALIEN_RIGHT, FRIENDLY_BULLET, ENEMY_BULLET = range(6)
SHOT_COOL_DOWN = 5
ENEMY_MOVE_INTERVAL = 12
ENEMY_SHOT_INTERVAL = 10
FORMATION = (0b0011111100,) * 4 + (0,) * 6  # rows 0–3, columns 2–7


class SpaceInvaders(TorchGame):
    name = "space_invaders"
    channels = 6
    state_names = ("pos", "f_bullets", "e_bullets", "aliens", "alien_dir", "move_interval", "move_timer",
                   "shot_timer_aliens", "ramp_index", "shot_timer")

    def __init__(self, num_envs: int, ramping: bool = True, device: str | torch.device = "cpu"):
        dev = torch.device(device)
        self._formation = torch.tensor(FORMATION, device=dev)
        self._cols = torch.arange(10, device=dev)
        self._popcount = torch.tensor([bin(i).count("1") for i in range(1024)], device=dev)
        super().__init__(num_envs, ramping, device)

    def initial(self, u: Tensor) -> dict[str, Tensor]:
        empty = self.full(0, 10)
        return {"pos": self.full(5), "f_bullets": empty, "e_bullets": empty,
                "aliens": self._formation.expand(self.num_envs, 10), "alien_dir": self.full(-1),
                "move_interval": self.full(ENEMY_MOVE_INTERVAL), "move_timer": self.full(ENEMY_MOVE_INTERVAL),
                "shot_timer_aliens": self.full(ENEMY_SHOT_INTERVAL), "ramp_index": self.full(0),
                "shot_timer": self.full(0)}

    @staticmethod
    def _bit(rows: Tensor, row: int, col: Tensor) -> Tensor:
        return (rows[:, row] >> col) & 1 == 1

    def act(self, actions: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        fire = (actions == FIRE) & (self.shot_timer == 0)
        f_bullets = self.f_bullets.clone()
        f_bullets[:, 9] |= fire.long() << self.pos
        self.shot_timer = torch.where(fire, SHOT_COOL_DOWN, self.shot_timer)
        self.pos = torch.where(~fire & (actions == LEFT), (self.pos - 1).clamp(min=0),
                               torch.where(~fire & (actions == RIGHT), (self.pos + 1).clamp(max=9), self.pos))

        f_bullets = torch.roll(f_bullets, -1, dims=1)
        f_bullets[:, 9] = 0
        e_bullets = torch.roll(self.e_bullets, 1, dims=1)
        e_bullets[:, 0] = 0
        terminal = self._bit(e_bullets, 9, self.pos) | self._bit(self.aliens, 9, self.pos)

        aliens, direction = self.aliens, self.alien_dir
        move = self.move_timer == 0
        counts = self._popcount[aliens].sum(dim=1)
        self.move_timer = torch.where(move, torch.minimum(counts, self.move_interval), self.move_timer)
        at_edge = (((aliens & 1).any(dim=1) & (direction < 0)) | ((aliens & (1 << 9)).any(dim=1) & (direction > 0)))
        down = move & at_edge
        terminal |= down & (aliens[:, 9] != 0)
        self.alien_dir = torch.where(down, -direction, direction)
        side = move & ~at_edge
        moved = torch.where(down.unsqueeze(1), torch.roll(aliens, 1, dims=1), aliens)
        moved = torch.where((side & (direction < 0)).unsqueeze(1), aliens >> 1, moved)
        aliens = torch.where((side & (direction > 0)).unsqueeze(1), aliens << 1, moved)
        terminal |= move & self._bit(aliens, 9, self.pos)

        shoot = self.shot_timer_aliens == 0
        self.shot_timer_aliens = torch.where(shoot, ENEMY_SHOT_INTERVAL, self.shot_timer_aliens)
        occupied = aliens[:, 0]
        for row in range(1, 10):
            occupied = occupied | aliens[:, row]
        has = self._bits[occupied]  # (N, 10): columns holding an alien
        key = (self._cols - self.pos.unsqueeze(1)).abs() * 10 + self._cols
        col = torch.where(has, key, 1000).argmin(dim=1)
        in_column = (aliens >> col.unsqueeze(1)) & 1  # (N, 10): rows with an alien in that column
        lowest = (in_column * self._cols).amax(dim=1, keepdim=True)
        shot = ((shoot & (occupied != 0)).long() << col).unsqueeze(1)
        e_bullets = e_bullets.scatter(1, lowest, e_bullets.gather(1, lowest) | shot)

        kills = aliens & f_bullets
        reward = self._popcount[kills].sum(dim=1).float()
        aliens = aliens & ~kills
        self.f_bullets = f_bullets & ~kills
        self.e_bullets = e_bullets

        self.shot_timer = self.shot_timer - (self.shot_timer > 0).long()
        self.move_timer = self.move_timer - 1
        self.shot_timer_aliens = self.shot_timer_aliens - 1
        cleared = (aliens == 0).all(dim=1)
        ramp = cleared & (self.move_interval > 6) & self.ramping
        self.move_interval = self.move_interval - ramp.long()
        self.ramp_index = self.ramp_index + ramp.long()
        self.aliens = torch.where(cleared.unsqueeze(1), self._formation, aliens)
        return reward, terminal

    def draw(self, canvas: Canvas) -> None:
        canvas.put(torch.full_like(self.pos, 9), self.pos, CANNON)
        canvas.rows(ALIEN, self.aliens)
        left = (self.alien_dir < 0).unsqueeze(1)
        canvas.rows(ALIEN_LEFT, torch.where(left, self.aliens, 0))
        canvas.rows(ALIEN_RIGHT, torch.where(left, 0, self.aliens))
        canvas.rows(FRIENDLY_BULLET, self.f_bullets)
        canvas.rows(ENEMY_BULLET, self.e_bullets)
