"""Asterix (``minatar/environments/asterix.py``) on torch tensors.

Eight entity slots, one per row 1–8 (the reference's ``entities`` list, indexed by slot): an entity moves
left or right and is gold (+1 when touched) or an enemy (touching it ends the episode). Every ``spawn_speed``
steps an entity spawns in a random free slot (draw group ``spawn``: side ``rand() < 1/2``, gold
``rand() < 1/3``, slot ``randint(#free slots)`` — the last only when a slot is free, as in the reference).
Difficulty ramps every 100 steps: spawns get more frequent, and every second ramp entities get faster.
"""

from __future__ import annotations

import torch
from torch import Tensor

from envs.minatar_torch.base import DOWN, LEFT, RIGHT, UP, Canvas, TorchGame

PLAYER, ENEMY, TRAIL, GOLD = range(4)
RAMP_INTERVAL = 100
INIT_SPAWN_SPEED = 10
INIT_MOVE_INTERVAL = 5
SLOTS = 8


class Asterix(TorchGame):
    name = "asterix"
    channels = 4
    step_draws = {"spawn": 3}
    state_names = ("player_x", "player_y", "alive", "ent_x", "ent_lr", "ent_gold", "spawn_speed", "spawn_timer",
                   "move_speed", "move_timer", "ramp_timer", "ramp_index")

    def __init__(self, num_envs: int, ramping: bool = True, device: str | torch.device = "cpu"):
        self._rows = torch.arange(1, SLOTS + 1, device=torch.device(device))  # slot i lives in row i + 1
        super().__init__(num_envs, ramping, device)

    def initial(self, u: Tensor) -> dict[str, Tensor]:
        slots = self.full(False, SLOTS, dtype=torch.bool)
        return {"player_x": self.full(5), "player_y": self.full(5), "alive": slots, "ent_x": self.full(0, SLOTS),
                "ent_lr": slots.clone(), "ent_gold": slots.clone(), "spawn_speed": self.full(INIT_SPAWN_SPEED),
                "spawn_timer": self.full(INIT_SPAWN_SPEED), "move_speed": self.full(INIT_MOVE_INTERVAL),
                "move_timer": self.full(INIT_MOVE_INTERVAL), "ramp_timer": self.full(RAMP_INTERVAL),
                "ramp_index": self.full(0)}

    def _spawn(self, u: Tensor) -> None:
        due = self.spawn_timer == 0
        lr, gold = u[:, 0] < 1 / 2, u[:, 1] < 1 / 3
        free = ~self.alive
        rank = free.long().cumsum(dim=1)  # 1-based rank of each free slot
        n_free = rank[:, -1]
        k = (u[:, 2] * n_free).long().clamp(max=(n_free - 1).clamp(min=0))  # randint(#free)
        new = (due & (n_free > 0)).unsqueeze(1) & free & (rank == (k + 1).unsqueeze(1))
        self.alive = self.alive | new
        self.ent_x = torch.where(new, torch.where(lr, 0, 9).unsqueeze(1), self.ent_x)
        self.ent_lr = torch.where(new, lr.unsqueeze(1), self.ent_lr)
        self.ent_gold = torch.where(new, gold.unsqueeze(1), self.ent_gold)
        self.spawn_timer = torch.where(due, self.spawn_speed, self.spawn_timer)

    def _touch(self, reward: Tensor, terminal: Tensor) -> tuple[Tensor, Tensor]:
        """Entities on the player: gold is picked up (+1), an enemy ends the episode."""
        on = self.alive & (self.ent_x == self.player_x.unsqueeze(1)) & (self._rows == self.player_y.unsqueeze(1))
        picked = on & self.ent_gold
        self.alive = self.alive & ~picked
        return reward + picked.sum(dim=1), terminal | (on & ~self.ent_gold).any(dim=1)

    def act(self, actions: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        self._spawn(u)
        self.player_x = torch.where(actions == LEFT, (self.player_x - 1).clamp(min=0),
                                    torch.where(actions == RIGHT, (self.player_x + 1).clamp(max=9), self.player_x))
        self.player_y = torch.where(actions == UP, (self.player_y - 1).clamp(min=1),
                                    torch.where(actions == DOWN, (self.player_y + 1).clamp(max=8), self.player_y))
        reward = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        terminal = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        reward, terminal = self._touch(reward, terminal)

        move = self.move_timer == 0
        self.move_timer = torch.where(move, self.move_speed, self.move_timer)
        moving = move.unsqueeze(1) & self.alive
        self.ent_x = torch.where(moving, self.ent_x + torch.where(self.ent_lr, 1, -1), self.ent_x)
        self.alive = self.alive & ~(moving & ((self.ent_x < 0) | (self.ent_x > 9)))
        touched_reward, touched_terminal = self._touch(reward, terminal)
        reward = torch.where(move, touched_reward, reward)
        terminal = torch.where(move, touched_terminal, terminal)

        self.spawn_timer = self.spawn_timer - 1
        self.move_timer = self.move_timer - 1
        if self.ramping:
            active = (self.spawn_speed > 1) | (self.move_speed > 1)
            wait = active & (self.ramp_timer >= 0)
            ramp = active & ~wait
            self.ramp_timer = torch.where(wait, self.ramp_timer - 1, torch.where(ramp, RAMP_INTERVAL, self.ramp_timer))
            faster = ramp & (self.move_speed > 1) & (self.ramp_index % 2 == 1)
            self.move_speed = self.move_speed - faster.long()
            self.spawn_speed = self.spawn_speed - (ramp & (self.spawn_speed > 1)).long()
            self.ramp_index = self.ramp_index + ramp.long()
        return reward.float(), terminal

    def draw(self, canvas: Canvas) -> None:
        canvas.put(self.player_y, self.player_x, PLAYER)
        rows = self._rows.expand(self.num_envs, SLOTS)
        canvas.put(rows, self.ent_x, torch.where(self.ent_gold, GOLD, ENEMY), self.alive)
        back = self.ent_x + torch.where(self.ent_lr, -1, 1)
        canvas.put(rows, back.clamp(0, 9), TRAIL, self.alive & (back >= 0) & (back <= 9))
