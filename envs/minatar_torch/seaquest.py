"""Seaquest (``minatar/environments/seaquest.py``) on torch tensors, with the reference's list semantics.

The reference keeps friendly bullets, enemy bullets, fish, enemy subs and divers in Python lists that grow at
the end, shrink anywhere and are walked backwards while entities are removed. Here each list is a set of
``(N, capacity)`` tensors in list order with a length per env; removals are masked during a step and the lists
are compacted (stably: the order is kept) once at its end. Where order matters it is kept: a friendly bullet
takes the *first* fish (else sub) on its cell; a moving fish or sub takes the *first* bullet on its cell, and
with several of them the one walked first (the last in the list) wins — resolved bullet by bullet in list
order, which gives the same pairs as the reference's walk; divers are walked one by one because each pickup
changes the diver count. A sub that is removed in its own update still fires if its shot timer is due (the
reference's loop goes on after ``remove``); an enemy bullet's list position is never observable.

Also as the reference: surfacing with six divers gives ``oxygen · 10 // 200`` and leaves the diver count at
−1 (it is set to 0, then decremented like any surfacing); every surfacing with a non-zero count ramps the
difficulty. Draw groups: ``enemy`` (side ``rand() < 1/2``, sub ``rand() < 1/3``, row ``randint(1, 9)``) and
``diver`` (side, row).

Capacities (entities alive at once): friendly bullets 3 (at most 2 occur: one shot per 5 frames, 10 frames
to leave the screen), divers 4 (one per 30 frames, ≤ 60 frames on screen), fish and subs 32 each (at most one
enemy spawns per frame and lives ≤ 10·move_speed + 10 frames, i.e. ≤ 30 at the fastest ramp), enemy bullets
32 (≤ one per sub in flight). An entity that would not fit is not spawned and counted in ``overflow``, which
the equivalence tests require to stay 0. On CUDA the lists keep their capacity as their width (fixed shapes,
nothing read back by the host); on the CPU they are cut to the longest list in the batch at every step (one cheap
host read), which is what makes Seaquest fast there: most lists hold a handful of entities.
"""

from __future__ import annotations

import torch
from torch import Tensor

from envs.minatar_torch.base import DOWN, FIRE, LEFT, RIGHT, UP, Canvas, TorchGame, randint, sync_free

(SUB_FRONT, SUB_BACK, FRIENDLY_BULLET, TRAIL, ENEMY_BULLET, ENEMY_FISH, ENEMY_SUB, OXYGEN_GAUGE, DIVER_GAUGE,
 DIVER) = range(10)
MAX_OXYGEN = 200
INIT_SPAWN_SPEED = 20
DIVER_SPAWN_SPEED = 30
INIT_MOVE_INTERVAL = 5
SHOT_COOL_DOWN = 5
ENEMY_SHOT_INTERVAL = 10
DIVER_MOVE_INTERVAL = 5

# list → (capacity, fields); every list also has the fields' common length ``<list>_n``
LISTS: dict[str, tuple[int, tuple[str, ...]]] = {
    "fb": (3, ("x", "y", "lr")),
    "eb": (32, ("x", "y", "lr")),
    "fish": (32, ("x", "y", "lr", "timer")),
    "esub": (32, ("x", "y", "lr", "timer", "shot")),
    "diver": (4, ("x", "y", "lr", "timer")),
}
SCALARS = ("oxygen", "diver_count", "sub_x", "sub_y", "sub_or", "e_spawn_speed", "e_spawn_timer", "d_spawn_timer",
           "move_speed", "ramp_index", "shot_timer", "surface", "overflow")


def _step(lr: Tensor) -> Tensor:
    return torch.where(lr, 1, -1)


def _offscreen(x: Tensor) -> Tensor:
    return (x < 0) | (x > 9)


def _first(match: Tensor) -> Tensor:
    """The first true entry of each row (as a mask)."""
    index = match.to(torch.uint8).argmax(dim=1, keepdim=True)
    return match & (torch.arange(match.shape[1], device=match.device) == index)


def _last(match: Tensor) -> Tensor:
    """The last true entry of each row (as a mask)."""
    order = torch.arange(1, match.shape[1] + 1, device=match.device)
    index = (match * order).argmax(dim=1, keepdim=True)
    return match & (order - 1 == index)


class Seaquest(TorchGame):
    name = "seaquest"
    channels = 10
    step_draws = {"enemy": 3, "diver": 2}
    state_names = (*SCALARS, *(f"{name}_{f}" for name, (_, fields) in LISTS.items() for f in (*fields, "n")))

    def __init__(self, num_envs: int, ramping: bool = True, device: str | torch.device = "cpu"):
        dev = torch.device(device)
        self._slots = {name: torch.arange(cap, device=dev) for name, (cap, _) in LISTS.items()}
        self._cols = torch.arange(10, device=dev)
        self.fixed_width = sync_free(dev)
        super().__init__(num_envs, ramping, device)

    def initial(self, u: Tensor) -> dict[str, Tensor]:
        state = {"oxygen": self.full(MAX_OXYGEN), "diver_count": self.full(0), "sub_x": self.full(5),
                 "sub_y": self.full(0), "sub_or": self.full(False, dtype=torch.bool),
                 "e_spawn_speed": self.full(INIT_SPAWN_SPEED), "e_spawn_timer": self.full(INIT_SPAWN_SPEED),
                 "d_spawn_timer": self.full(DIVER_SPAWN_SPEED), "move_speed": self.full(INIT_MOVE_INTERVAL),
                 "ramp_index": self.full(0), "shot_timer": self.full(0),
                 "surface": self.full(True, dtype=torch.bool), "overflow": self.full(0)}
        return {**state, **{f"{name}_n": self.full(0) for name in LISTS}}  # emptied lists: their fields are moot

    def allocate(self) -> dict[str, Tensor]:
        return {f"{name}_{f}": self.full(False, cap if self.fixed_width else 1, dtype=torch.bool) if f == "lr"
                else self.full(0, cap if self.fixed_width else 1)
                for name, (cap, fields) in LISTS.items() for f in fields}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        super().load_state_dict(state)
        for name in LISTS:
            self._ensure(name, 0)

    # -- lists ----------------------------------------------------------------------------------------------------
    def _get(self, name: str, field: str) -> Tensor:
        return getattr(self, f"{name}_{field}")

    def _set(self, name: str, field: str, value: Tensor) -> None:
        setattr(self, f"{name}_{field}", value)

    def _width(self, name: str) -> int:
        return self._get(name, "x").shape[1]

    def _ensure(self, name: str, extra: int) -> None:
        """Widen a list so that every env can append ``extra`` entities (up to the capacity)."""
        cap, fields = LISTS[name]
        need = cap if self.fixed_width else max(1, min(cap, int(self._get(name, "n").max()) + extra))
        width = self._width(name)
        if width < need:
            for field in fields:
                value = self._get(name, field)
                pad = torch.zeros(self.num_envs, need - width, dtype=value.dtype, device=self.device)
                self._set(name, field, torch.cat([value, pad], dim=1))

    def _alive(self, name: str) -> Tensor:
        return self._slots[name][: self._width(name)] < self._get(name, "n").unsqueeze(1)

    def _append(self, name: str, cond: Tensor, **values: Tensor | int) -> None:
        """Append one entity at the end of the list where ``cond`` holds."""
        self._ensure(name, 1)
        n = self._get(name, "n")
        ok = cond & (n < LISTS[name][0])
        slot = ok.unsqueeze(1) & (self._slots[name][: self._width(name)] == n.unsqueeze(1))
        for field, value in values.items():
            value = value.unsqueeze(1) if isinstance(value, Tensor) else value
            self._set(name, field, torch.where(slot, value, self._get(name, field)))
        self._set(name, "n", n + ok)
        self.overflow = self.overflow + (cond & ~ok)

    def _append_many(self, name: str, cond: Tensor, **values: Tensor) -> None:
        """Append the entities ``values[:, k]`` where ``cond[:, k]`` holds (their order in the list is free)."""
        cap = LISTS[name][0]
        count = cond.cumsum(dim=1)
        self._ensure(name, 0 if self.fixed_width else int(count[:, -1].max()) if count.shape[1] else 0)
        n, width = self._get(name, "n"), self._width(name)
        dest = n.unsqueeze(1) + count - 1
        fits = cond & (dest < cap)
        dest = torch.where(fits, dest, width)  # column ``width``: dropped
        for field, value in values.items():
            current = self._get(name, field)
            buffer = torch.cat([current, current[:, :1]], dim=1)
            self._set(name, field, buffer.scatter(1, dest, value.to(current.dtype))[:, :width])
        self._set(name, "n", n + fits.sum(dim=1))
        self.overflow = self.overflow + (cond & ~fits).sum(dim=1)

    def _compact(self, name: str, keep: Tensor) -> None:
        order = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)
        n = keep.sum(dim=1)
        width = self._width(name) if self.fixed_width else max(1, int(n.max()))
        order = order[:, :width]
        for field in LISTS[name][1]:
            self._set(name, field, self._get(name, field).gather(1, order))
        self._set(name, "n", n)

    def _on_player(self, name: str, x: Tensor) -> Tensor:
        return (x == self.sub_x.unsqueeze(1)) & (self._get(name, "y") == self.sub_y.unsqueeze(1))

    # -- the step -------------------------------------------------------------------------------------------------
    def act(self, actions: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
        reward = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self._spawn(u)
        self._player(actions)
        fb_keep, fish_keep, sub_keep, hits = self._friendly_bullets()
        reward = reward + hits
        self._divers()
        terminal, fish_hits, sub_hits, fb_keep, sub_keep, fish_keep = self._enemies(fb_keep, fish_keep, sub_keep)
        reward = reward + fish_hits + sub_hits
        surfacing_reward, surfacing_terminal = self._timers_and_oxygen()
        for name, keep in (("fb", fb_keep), ("fish", fish_keep), ("esub", sub_keep)):
            self._compact(name, keep)
        return (reward + surfacing_reward).float(), terminal | surfacing_terminal

    def _spawn(self, u: Tensor) -> None:
        due = self.e_spawn_timer == 0
        lr, is_sub, row = u[:, 0] < 1 / 2, u[:, 1] < 1 / 3, randint(u[:, 2], 1, 9)
        blocked = torch.zeros_like(due)
        for name in ("esub", "fish"):  # no spawn in a row where an enemy goes the other way
            blocked |= (self._alive(name) & (self._get(name, "y") == row.unsqueeze(1))
                        & (self._get(name, "lr") != lr.unsqueeze(1))).any(dim=1)
        spawn, x = due & ~blocked, torch.where(lr, 0, 9)
        self._append("esub", spawn & is_sub, x=x, y=row, lr=lr, timer=self.move_speed,
                     shot=torch.full_like(x, ENEMY_SHOT_INTERVAL))
        self._append("fish", spawn & ~is_sub, x=x, y=row, lr=lr, timer=self.move_speed)
        self.e_spawn_timer = torch.where(due, self.e_spawn_speed, self.e_spawn_timer)

        diver_due = self.d_spawn_timer == 0
        diver_lr, diver_row = u[:, 3] < 1 / 2, randint(u[:, 4], 1, 9)
        self._append("diver", diver_due, x=torch.where(diver_lr, 0, 9), y=diver_row, lr=diver_lr,
                     timer=torch.full_like(diver_row, DIVER_MOVE_INTERVAL))
        self.d_spawn_timer = torch.where(diver_due, DIVER_SPAWN_SPEED, self.d_spawn_timer)

    def _player(self, actions: Tensor) -> None:
        fire = (actions == FIRE) & (self.shot_timer == 0)
        self._append("fb", fire, x=self.sub_x, y=self.sub_y, lr=self.sub_or)
        self.shot_timer = torch.where(fire, SHOT_COOL_DOWN, self.shot_timer)
        left, right = actions == LEFT, actions == RIGHT
        self.sub_x = torch.where(left, (self.sub_x - 1).clamp(min=0),
                                 torch.where(right, (self.sub_x + 1).clamp(max=9), self.sub_x))
        self.sub_or = torch.where(left, False, torch.where(right, True, self.sub_or))
        self.sub_y = torch.where(actions == UP, (self.sub_y - 1).clamp(min=0),
                                 torch.where(actions == DOWN, (self.sub_y + 1).clamp(max=8), self.sub_y))

    def _friendly_bullets(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Each bullet (walked backwards) moves, leaves the screen or takes the first fish, else sub, on its cell."""
        fb_keep, fish_keep, sub_keep = self._alive("fb"), self._alive("fish"), self._alive("esub")
        self.fb_x = self.fb_x + torch.where(fb_keep, _step(self.fb_lr), 0)
        hits = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        for j in reversed(range(self._width("fb"))):
            bx, by = self.fb_x[:, j:j + 1], self.fb_y[:, j:j + 1]
            flying = fb_keep[:, j] & ~_offscreen(self.fb_x[:, j])
            fish = _first(fish_keep & (self.fish_x == bx) & (self.fish_y == by) & flying.unsqueeze(1))
            hit_fish = fish.any(dim=1)
            sub = _first(sub_keep & (self.esub_x == bx) & (self.esub_y == by) & (flying & ~hit_fish).unsqueeze(1))
            hit_sub = sub.any(dim=1)
            fish_keep, sub_keep = fish_keep & ~fish, sub_keep & ~sub
            hits = hits + hit_fish + hit_sub
            fb_keep = fb_keep.clone()
            fb_keep[:, j] = flying & ~hit_fish & ~hit_sub
        return fb_keep, fish_keep, sub_keep, hits

    def _divers(self) -> None:
        keep = self._alive("diver")
        x, timer = self.diver_x.clone(), self.diver_timer.clone()
        count = self.diver_count
        for j in reversed(range(self._width("diver"))):
            live = keep[:, j]
            on = (x[:, j] == self.sub_x) & (self.diver_y[:, j] == self.sub_y)
            picked = live & on & (count < 6)
            count = count + picked
            rest = live & ~picked
            moves = rest & (timer[:, j] == 0)
            timer[:, j] = torch.where(moves, DIVER_MOVE_INTERVAL, torch.where(rest, timer[:, j] - 1, timer[:, j]))
            x[:, j] = torch.where(moves, x[:, j] + _step(self.diver_lr[:, j]), x[:, j])
            gone = moves & _offscreen(x[:, j])
            on = (x[:, j] == self.sub_x) & (self.diver_y[:, j] == self.sub_y)
            picked_after = moves & ~gone & on & (count < 6)
            count = count + picked_after
            keep[:, j] = live & ~picked & ~gone & ~picked_after
        self.diver_x, self.diver_timer, self.diver_count = x, timer, count
        self._compact("diver", keep)

    def _move_enemies(self, name: str, keep: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Move one enemy list: (terminal, still on screen, candidates for a bullet hit)."""
        x = self._get(name, "x")
        terminal = (keep & self._on_player(name, x)).any(dim=1)
        moves = keep & (self._get(name, "timer") == 0)
        timer = self._get(name, "timer")
        self._set(name, "timer", torch.where(moves, self.move_speed.unsqueeze(1), torch.where(keep, timer - 1, timer)))
        x = torch.where(moves, x + _step(self._get(name, "lr")), x)
        self._set(name, "x", x)
        gone = moves & _offscreen(x)
        crash = moves & ~gone & self._on_player(name, x)
        return terminal | crash.any(dim=1), keep & ~gone, moves & ~gone & ~crash

    def _bullet_hits(self, name: str, candidates: Tensor, fb_keep: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Moving enemies that meet a bullet: the enemy walked first (the last in the list) takes it; bullets are
        resolved in list order. Returns (enemies hit, bullets kept, hits per env)."""
        x, y = self._get(name, "x"), self._get(name, "y")
        killed = torch.zeros_like(candidates)
        hits = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        fb_keep = fb_keep.clone()
        for j in range(self._width("fb")):
            match = candidates & ~killed & (x == self.fb_x[:, j:j + 1]) & (y == self.fb_y[:, j:j + 1])
            match &= fb_keep[:, j:j + 1]
            taker = _last(match)
            hit = taker.any(dim=1)
            killed |= taker
            fb_keep[:, j] &= ~hit
            hits = hits + hit
        return killed, fb_keep, hits

    def _enemies(self, fb_keep: Tensor, fish_keep: Tensor, sub_keep: Tensor):
        # enemy subs
        terminal, on_screen, candidates = self._move_enemies("esub", sub_keep)
        killed, fb_keep, sub_hits = self._bullet_hits("esub", candidates, fb_keep)
        shoots = sub_keep & (self.esub_shot == 0)  # removed subs still fire this step
        self.esub_shot = torch.where(shoots, ENEMY_SHOT_INTERVAL,
                                     torch.where(sub_keep, self.esub_shot - 1, self.esub_shot))
        self._append_many("eb", shoots, x=self.esub_x, y=self.esub_y, lr=self.esub_lr)
        sub_keep = on_screen & ~killed
        # enemy bullets: each hits the player before or after its move
        eb_keep = self._alive("eb")
        terminal |= (eb_keep & self._on_player("eb", self.eb_x)).any(dim=1)
        self.eb_x = self.eb_x + torch.where(eb_keep, _step(self.eb_lr), 0)
        eb_keep = eb_keep & ~_offscreen(self.eb_x)
        terminal |= (eb_keep & self._on_player("eb", self.eb_x)).any(dim=1)
        self._compact("eb", eb_keep)
        # enemy fish
        fish_terminal, on_screen, candidates = self._move_enemies("fish", fish_keep)
        killed, fb_keep, fish_hits = self._bullet_hits("fish", candidates, fb_keep)
        fish_keep = on_screen & ~killed
        return terminal | fish_terminal, fish_hits, sub_hits, fb_keep, sub_keep, fish_keep

    def _timers_and_oxygen(self) -> tuple[Tensor, Tensor]:
        self.e_spawn_timer = (self.e_spawn_timer - 1).clamp_(min=0)
        self.d_spawn_timer = (self.d_spawn_timer - 1).clamp_(min=0)
        self.shot_timer = (self.shot_timer - 1).clamp_(min=0)
        terminal = self.oxygen <= 0
        under = self.sub_y > 0
        arriving = ~under & ~self.surface
        terminal |= arriving & (self.diver_count == 0)
        surfacing = arriving & (self.diver_count != 0)
        full = surfacing & (self.diver_count == 6)
        reward = torch.where(full, self.oxygen * 10 // MAX_OXYGEN, 0)
        count = torch.where(full, 0, self.diver_count)
        self.diver_count = torch.where(surfacing, count - 1, count)
        self.oxygen = torch.where(surfacing, MAX_OXYGEN, torch.where(under, self.oxygen - 1, self.oxygen))
        self.surface = torch.where(under, False, torch.where(surfacing, True, self.surface))
        if self.ramping:
            ramp = surfacing & ((self.e_spawn_speed > 1) | (self.move_speed > 2))
            self.move_speed = self.move_speed - (ramp & (self.move_speed > 2) & (self.ramp_index % 2 == 1)).long()
            self.e_spawn_speed = self.e_spawn_speed - (ramp & (self.e_spawn_speed > 1)).long()
            self.ramp_index = self.ramp_index + ramp
        return reward, terminal

    # -- observation ----------------------------------------------------------------------------------------------
    def draw(self, canvas: Canvas) -> None:
        canvas.put(self.sub_y, self.sub_x, SUB_FRONT)
        canvas.put(self.sub_y, torch.where(self.sub_or, self.sub_x - 1, self.sub_x + 1).clamp(0, 9), SUB_BACK)
        bar = self._cols.unsqueeze(0)
        canvas.row(OXYGEN_GAUGE, 9, bar < (self.oxygen.clamp(min=0) * 10 // MAX_OXYGEN).unsqueeze(1))
        canvas.row(DIVER_GAUGE, 9, (bar >= (9 - self.diver_count).unsqueeze(1)) & (bar < 9))
        canvas.put(self.fb_y, self.fb_x, FRIENDLY_BULLET, self._alive("fb"))
        canvas.put(self.eb_y, self.eb_x, ENEMY_BULLET, self._alive("eb"))
        for name, channel in (("fish", ENEMY_FISH), ("esub", ENEMY_SUB), ("diver", DIVER)):
            alive, x, y = self._alive(name), self._get(name, "x"), self._get(name, "y")
            canvas.put(y, x, channel, alive)
            back = x + torch.where(self._get(name, "lr"), -1, 1)
            canvas.put(y, back.clamp(0, 9), TRAIL, alive & ~_offscreen(back))
