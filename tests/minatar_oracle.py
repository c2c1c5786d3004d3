"""The reference ``minatar`` games as the oracle of the torch games: recorded draws, state conversion.

* :class:`RecordingRandom` stands in for a reference game's ``RandomState``: it draws from the real one and
  records every call, tagged with the draw group of the game method that made it (``_spawn_enemy`` → ``enemy``,
  …; the first draw of ``minatar.Environment.act`` → ``sticky``), as uniforms in ``[0, 1)``: ``rand()`` as is,
  ``randint(low, high)`` as ``(v − low + ½) / (high − low)``, which the torch games map back to ``v``.
* :class:`Lockstep` steps ``N`` reference ``minatar.Environment`` objects and one
  :class:`~envs.minatar_torch.TorchMinAtarVectorEnv` with the same actions, feeding the torch env the reference's
  recorded draws (draws the reference did not make are random filler, so a game that used one would diverge).
* :func:`reference_state` converts one reference game into the torch game's state tensors (row ``i``), so
  states can be compared exactly and late-game states set up on both sides.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from minatar import Environment

from envs.minatar_torch import TorchMinAtarVectorEnv
from envs.minatar_torch.seaquest import LISTS, SCALARS

# game → {reference method: draw group}
TAGGED = {"breakout": {"reset": "start"}, "asterix": {"_spawn_entity": "spawn"}, "freeway": {"_randomize_cars": "cars"},
          "seaquest": {"_spawn_enemy": "enemy", "_spawn_diver": "diver"}, "space_invaders": {}}


class RecordingRandom:
    def __init__(self, rs: np.random.RandomState):
        self.rs = rs
        self.tag: str | None = None
        self.records: list[tuple[str | None, list[float]]] = []

    def _record(self, values: list[float]) -> None:
        self.records.append((self.tag, values))
        if self.tag == "sticky":
            self.tag = None  # only the first draw of Environment.act is the sticky one

    def rand(self, *size: int):
        v = self.rs.rand(*size)
        self._record([float(x) for x in np.ravel(v)])
        return v

    def randint(self, low: int, high: int | None = None, size: Any = None):
        v = self.rs.randint(low, high, size)
        lo, hi = (0, low) if high is None else (low, high)
        self._record([(float(x) - lo + 0.5) / (hi - lo) for x in np.ravel(v)])
        return v


def _tagging(env: Environment, recorder: RecordingRandom) -> None:
    for method, tag in TAGGED[env.env_name].items():
        original = getattr(env.env, method)

        def wrapped(*args: Any, _original=original, _tag=tag, **kwargs: Any):
            previous, recorder.tag = recorder.tag, _tag
            try:
                return _original(*args, **kwargs)
            finally:
                recorder.tag = previous
        setattr(env.env, method, wrapped)


def padded(state: np.ndarray) -> np.ndarray:
    out = np.zeros((10, 10, 10), dtype=bool)
    out[..., : state.shape[-1]] = state
    return out


class Lockstep:
    """Reference envs and the torch env side by side (see the module docstring)."""

    def __init__(self, game: str, num_envs: int, seed: int = 0, sticky_action_prob: float = 0.1,
                 ramping: bool = True, **env_kwargs: Any):
        self.game, self.num_envs = game, num_envs
        self.refs = [Environment(game, sticky_action_prob=sticky_action_prob, difficulty_ramping=ramping)
                     for _ in range(num_envs)]
        self.recorders = []
        for i, env in enumerate(self.refs):
            env.seed(seed * 1000 + i)
            recorder = RecordingRandom(env.random)
            env.random = env.env.random = recorder
            _tagging(env, recorder)
            self.recorders.append(recorder)
        self.filler = np.random.default_rng(seed + 7)
        self._next: torch.Tensor | None = None
        self.torch = TorchMinAtarVectorEnv(game, num_envs, sticky_action_prob, ramping, draw_hook=self._hook,
                                           **env_kwargs)
        g = self.torch.game
        self.step_offsets = self._offsets(g.step_draws, 1)
        self.reset_offsets = self._offsets(g.reset_draws, 1 + g.step_draw_count)
        self.columns = 1 + g.step_draw_count + g.reset_draw_count

    @staticmethod
    def _offsets(groups: dict[str, int], start: int) -> dict[str, tuple[int, int]]:
        out, at = {}, start
        for name, count in groups.items():
            out[name] = (at, count)
            at += count
        return out

    def _hook(self, num_envs: int, columns: int) -> torch.Tensor:
        assert self._next is not None and self._next.shape == (num_envs, columns), (self._next, columns)
        u, self._next = self._next, None
        return u

    def _fill(self, row: np.ndarray, records: list, offsets: dict[str, tuple[int, int]], sticky: bool) -> None:
        """Write each draw group's values (its calls, in order) at the group's columns of ``row``."""
        groups: dict[str, list[float]] = {}
        previous = None
        for tag, values in records:
            if tag == "sticky" and sticky:
                row[0] = values[0]
                continue
            assert tag in offsets, f"{self.game}: unexpected draw {tag!r} ({values})"
            assert tag == previous or tag not in groups, f"{self.game}: draw group {tag!r} drawn twice in a step"
            groups.setdefault(tag, []).extend(values)
            previous = tag
        for tag, values in groups.items():
            start, count = offsets[tag]
            assert len(values) <= count, (tag, values)
            row[start:start + len(values)] = values

    def reset(self) -> None:
        u = self.filler.random((self.num_envs, max(1, self.torch.game.reset_draw_count)))
        for i, (env, rec) in enumerate(zip(self.refs, self.recorders, strict=True)):
            rec.records = []
            env.reset()
            self._fill(u[i], rec.records, self._offsets(self.torch.game.reset_draws, 0), sticky=False)
        self._next = torch.as_tensor(u, dtype=torch.float32)
        obs, _ = self.torch.reset()
        for i, env in enumerate(self.refs):
            assert np.array_equal(obs[i].numpy(), padded(env.state())), f"{self.game}: first observation, env {i}"

    def step(self, actions: np.ndarray) -> dict[str, Any]:
        """One step on both sides; returns both sides' transitions as numpy arrays."""
        u = self.filler.random((self.num_envs, self.columns))
        ref = {"reward": np.zeros(self.num_envs), "terminal": np.zeros(self.num_envs, dtype=bool),
               "final_obs": np.zeros((self.num_envs, 10, 10, 10), dtype=bool),
               "obs": np.zeros((self.num_envs, 10, 10, 10), dtype=bool)}
        for i, (env, rec) in enumerate(zip(self.refs, self.recorders, strict=True)):
            rec.records, rec.tag = [], "sticky"
            r, terminal = env.act(int(actions[i]))
            rec.tag = None
            self._fill(u[i], rec.records, self.step_offsets, sticky=True)
            ref["reward"][i], ref["terminal"][i] = r, terminal
            ref["final_obs"][i] = padded(env.state())
            if terminal:
                rec.records = []
                env.reset()
                self._fill(u[i], rec.records, self.reset_offsets, sticky=False)
            ref["obs"][i] = padded(env.state())
        self._next = torch.as_tensor(u, dtype=torch.float32)
        obs, reward, terminated, truncated, infos = self.torch.step(torch.as_tensor(actions))
        ours = {"reward": reward.numpy(), "terminal": terminated.numpy(), "final_obs": infos["final_obs"].numpy(),
                "obs": obs.numpy(), "truncated": truncated.numpy()}
        return {"ref": ref, "ours": ours}

    def load_reference_states(self) -> None:
        """Overwrite the torch game's state with the reference games' (e.g. after changing them)."""
        game = self.torch.game
        states = [reference_state(self.game, env.env, game) for env in self.refs]
        game.load_state_dict({name: torch.as_tensor(np.stack([np.asarray(s[name]) for s in states]))
                              for name in game.state_names})
        self.torch._last_action = torch.as_tensor([env.last_action for env in self.refs])

    def assert_same_states(self) -> None:
        game = self.torch.game
        ours = game.state_dict()
        for i, env in enumerate(self.refs):
            theirs = reference_state(self.game, env.env, game)
            for name, value in theirs.items():
                mine = ours[name][i].numpy()
                lst = name.rsplit("_", 1)[0]
                if self.game == "seaquest" and lst in LISTS and name not in SCALARS and not name.endswith("_n"):
                    n = int(ours[f"{lst}_n"][i])
                    mine, value = mine[:n], np.asarray(value)[:n]
                    if lst == "eb":  # an enemy bullet's place in its list is never observable
                        continue
                if self.game == "asterix" and name.startswith("ent_"):  # empty slots hold stale values
                    alive = ours["alive"][i].numpy()
                    mine, value = mine[alive], np.asarray(value)[alive]
                assert np.array_equal(mine, np.asarray(value)), f"{self.game} env {i}: state {name}: {mine} != {value}"
            if self.game == "seaquest":
                n = int(ours["eb_n"][i])
                mine = sorted(zip(*(ours[f"eb_{f}"][i, :n].tolist() for f in ("x", "y", "lr")), strict=True))
                ref_eb = sorted((b[0], b[1], bool(b[2])) for b in env.env.e_bullets)
                assert mine == ref_eb, f"seaquest env {i}: enemy bullets {mine} != {ref_eb}"


def rows(grid: np.ndarray) -> np.ndarray:
    """A 10×10 grid as the torch games' row bitmasks (bit ``x`` of row ``y``)."""
    return (grid.astype(bool) * (1 << np.arange(10))).sum(axis=1)


def reference_state(game: str, env: Any, torch_game: Any) -> dict[str, Any]:
    """One reference game's state in the torch game's state layout (one env's row)."""
    if game == "breakout":
        return {"ball_x": env.ball_x, "ball_y": env.ball_y, "ball_dir": env.ball_dir, "pos": env.pos,
                "last_x": env.last_x, "last_y": env.last_y, "strike": bool(env.strike), "bricks": rows(env.brick_map)}
    if game == "space_invaders":
        return {"pos": env.pos, "f_bullets": rows(env.f_bullet_map), "e_bullets": rows(env.e_bullet_map),
                "aliens": rows(env.alien_map), "alien_dir": env.alien_dir,
                "move_interval": env.enemy_move_interval, "move_timer": env.alien_move_timer,
                "shot_timer_aliens": env.alien_shot_timer, "ramp_index": env.ramp_index, "shot_timer": env.shot_timer}
    if game == "asterix":
        alive = [e is not None for e in env.entities]
        return {"player_x": env.player_x, "player_y": env.player_y, "alive": np.array(alive),
                "ent_x": np.array([e[0] if e is not None else 0 for e in env.entities]) * np.array(alive),
                "ent_lr": np.array([bool(e[2]) if e is not None else False for e in env.entities]),
                "ent_gold": np.array([bool(e[3]) if e is not None else False for e in env.entities]),
                "spawn_speed": env.spawn_speed, "spawn_timer": env.spawn_timer, "move_speed": env.move_speed,
                "move_timer": env.move_timer, "ramp_timer": env.ramp_timer, "ramp_index": env.ramp_index}
    if game == "freeway":
        return {"pos": env.pos, "move_timer": env.move_timer, "terminate_timer": env.terminate_timer,
                "car_x": np.array([c[0] for c in env.cars]), "car_timer": np.array([c[2] for c in env.cars]),
                "car_speed": np.array([c[3] for c in env.cars])}
    state: dict[str, Any] = {
        "oxygen": env.oxygen, "diver_count": env.diver_count, "sub_x": env.sub_x, "sub_y": env.sub_y,
        "sub_or": bool(env.sub_or), "e_spawn_speed": env.e_spawn_speed, "e_spawn_timer": env.e_spawn_timer,
        "d_spawn_timer": env.d_spawn_timer, "move_speed": env.move_speed, "ramp_index": env.ramp_index,
        "shot_timer": env.shot_timer, "surface": bool(env.surface), "overflow": 0}
    lists = {"fb": env.f_bullets, "eb": env.e_bullets, "fish": env.e_fish, "esub": env.e_subs, "diver": env.divers}
    for name, (cap, fields) in LISTS.items():
        items = lists[name]
        assert len(items) <= cap, f"seaquest: {len(items)} entities in {name} (capacity {cap})"
        for k, field in enumerate(fields):
            column = [bool(e[k]) if field == "lr" else int(e[k]) for e in items]
            column += [False if field == "lr" else 0] * (cap - len(items))
            state[f"{name}_{field}"] = np.array(column)
        state[f"{name}_n"] = len(items)
    return state


def scramble(game: str, env: Any, rng: np.random.Generator) -> None:
    """Move a reference game (just reset) into a random late-game state that random play rarely reaches: ramped
    difficulty, few bricks or aliens left, divers on board, a nearly elapsed clock."""
    if game == "breakout":
        keep = rng.random((10, 10)) < rng.choice([0.0, 0.05, 0.5])
        env.brick_map = env.brick_map * keep
    elif game == "space_invaders":
        env.enemy_move_interval = int(rng.integers(6, 13))
        env.alien_move_timer = int(rng.integers(0, env.enemy_move_interval + 1))
        env.ramp_index = int(rng.integers(0, 7))
        aliens = env.alien_map * (rng.random((10, 10)) < rng.choice([0.1, 0.5]))
        if aliens.sum() == 0:
            aliens[0, 2] = 1
        env.alien_map = aliens
    elif game == "asterix":
        env.spawn_speed = int(rng.integers(1, 11))
        env.spawn_timer = int(rng.integers(0, env.spawn_speed + 1))
        env.move_speed = int(rng.integers(1, 6))
        env.move_timer = int(rng.integers(0, env.move_speed + 1))
        env.ramp_index = int(rng.integers(0, 20))
        env.ramp_timer = int(rng.integers(-1, 101))
    elif game == "freeway":
        env.terminate_timer = int(rng.integers(0, 300))
        env.pos = int(rng.integers(1, 10))
    elif game == "seaquest":
        env.e_spawn_speed = int(rng.integers(1, 21))
        env.e_spawn_timer = int(rng.integers(0, env.e_spawn_speed + 1))
        env.move_speed = int(rng.integers(2, 6))
        env.ramp_index = int(rng.integers(0, 20))
        env.diver_count = int(rng.integers(-1, 7))
        env.oxygen = int(rng.integers(1, 201))
        env.sub_y = int(rng.integers(0, 3))
        env.surface = env.sub_y == 0 and bool(rng.random() < 0.5)
        # a crowd of entities with random timers, so that shots, hits and pickups coincide
        speed = env.move_speed
        for _ in range(int(rng.integers(0, 7))):
            x, y, lr = int(rng.integers(0, 10)), int(rng.integers(1, 9)), bool(rng.random() < 0.5)
            if rng.random() < 0.5:
                env.e_subs.append([x, y, lr, int(rng.integers(0, speed + 1)), int(rng.integers(0, 11))])
            else:
                env.e_fish.append([x, y, lr, int(rng.integers(0, speed + 1))])
        for _ in range(int(rng.integers(0, 3))):
            env.f_bullets.append([int(rng.integers(0, 10)), int(rng.integers(0, 9)), bool(rng.random() < 0.5)])
        for _ in range(int(rng.integers(0, 3))):
            env.divers.append([int(rng.integers(0, 10)), int(rng.integers(1, 9)), bool(rng.random() < 0.5),
                               int(rng.integers(0, 6))])
