"""Curricula: an ordered list of tasks visited on a schedule, as one gymnasium vector env.

**Global steps.** The schedule counts *env steps summed over all sub-envs*: one vector step of ``N`` envs
advances the global step by ``N``. Visit ``v`` nominally covers global steps ``[start_v, end_v)``.

**Synchronized switch rule.** A vector step belongs to the visit that contains its first env step. After a
vector step the global step is ``T``; if ``T >= end_v``, every sub-env switches to the next visit at once.
So the switch happens at global step ``ceil(end_v / N) * N`` — exactly ``end_v`` when ``N`` divides it —
and boundaries never drift, because each one is computed from the absolute ``end_v``.

**Switching at an episode end** (``Schedule.switch = "episode_end"``, Dohare et al.'s Slippery Ant rule: "the
friction changes at the first episode end more than 2M steps after the previous change"): once the global step has
passed the visit's nominal end, the switch happens at the first vector step in which some sub-env's episode ended;
the next visit then lasts its own length *from that step* (boundaries drift by at most an episode each, as
Dohare's do; the curriculum's total length stays the nominal one, so the last visit is that much shorter). With
one env this is Dohare's rule exactly; with ``N`` envs the first of their episodes to end decides, and the others'
episodes in flight are cut as at any switch.

**An episode in flight at a switch** is cut with ``truncated=True`` (its last observation in
``infos["final_obs"]``, as gymnasium's same-step autoreset does), and the observation returned by that step is
already the first observation of the new task. Agents therefore bootstrap the cut episode like a time limit
and never act on an observation of the old task after the switch.

**After the last visit** the env stays in the last task (``infos["curriculum_done"]`` is true), because
agents such as PPO finish their last rollout past the nominal end.

**Evaluation.** :meth:`CurriculumVectorEnv.make_eval_envs` builds, for every task, new env instances seen
through a copy of the task's transforms in their current state (the last visit's permutation; for a task not
visited yet, the one its first visit will draw), for evaluation with fixed seeds.

**Tensors.** With the torch MinAtar backend every array above is a tensor on the env's device (``final_obs`` one
``(N, …)`` tensor, meaningful where ``_final_obs``); switches are decided on the host from the step count, so
they cost no synchronization.

Every step's ``infos`` carries ``task_id``, ``task_name``, ``task_cycle`` and ``task_visit`` arrays (the same
value for every sub-env), describing the task of the *returned* observation; this is how agents see task
switches without importing this package. Episodes that end at a step belong to the task reported by the
previous step (or by ``reset``), since no episode spans a switch.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from envs.names import ORDERS, SWITCHES
from envs.transforms import Transform, TransformedVectorEnv


@dataclass(frozen=True)
class Task:
    """One task: a base vector env (built by ``make_env(num_envs)``) and its transforms.

    Tasks with equal ``env_key`` share one env instance (re-seeded at each visit); by default each task
    has its own.
    """

    name: str
    make_env: Callable[[int], VectorEnv]
    transforms: tuple[Transform, ...] = ()
    env_key: Hashable | None = None


@dataclass(frozen=True)
class Visit:
    index: int
    task_id: int
    cycle: int
    start: int
    end: int


@dataclass(frozen=True)
class Schedule:
    """How long each task lasts and in which order tasks come.

    :param steps_per_task: global env steps per visit, one number or one per task.
    :param cycles: how many times the task list is visited.
    :param order: ``fixed`` (the list order every cycle) or ``random`` (a seeded permutation per cycle).
    :param switch: ``step`` (at the visit's end) or ``episode_end`` (at the first episode end after it; the module
        docstring).
    """

    steps_per_task: int | tuple[int, ...]
    cycles: int = 1
    order: str = "fixed"
    seed: int = 0
    switch: str = "step"  # step: at the visit's end | episode_end: at the first episode end after it

    def task_steps(self, n_tasks: int) -> tuple[int, ...]:
        if isinstance(self.steps_per_task, int | np.integer):
            steps = (int(self.steps_per_task),) * n_tasks
        else:
            steps = tuple(int(s) for s in self.steps_per_task)
            if len(steps) != n_tasks:
                raise ValueError(f"steps_per_task has {len(steps)} entries for {n_tasks} tasks")
        for s in steps:
            if s <= 0:
                raise ValueError(f"steps_per_task={s!r} must be > 0")
        return steps

    def visits(self, n_tasks: int) -> list[Visit]:
        if n_tasks < 1:
            raise ValueError("the curriculum has no tasks; give at least one")
        if self.cycles < 1:
            raise ValueError(f"cycles={self.cycles!r} must be >= 1")
        if self.order not in ORDERS:
            raise ValueError(f"order={self.order!r}; valid choices: {', '.join(ORDERS)}")
        if self.switch not in SWITCHES:
            raise ValueError(f"switch={self.switch!r}; valid choices: {', '.join(SWITCHES)}")
        steps = self.task_steps(n_tasks)
        rng = np.random.default_rng([self.seed, 0x5EED])
        visits: list[Visit] = []
        start = 0
        for cycle in range(self.cycles):
            order = rng.permutation(n_tasks) if self.order == "random" else np.arange(n_tasks)
            for task_id in order:
                end = start + steps[task_id]
                visits.append(Visit(len(visits), int(task_id), cycle, start, end))
                start = end
        return visits

    def total_steps(self, n_tasks: int) -> int:
        return sum(self.task_steps(n_tasks)) * self.cycles


def switch_step(nominal_end: int, num_envs: int) -> int:
    """The global step at which a visit that nominally ends at ``nominal_end`` really ends."""
    return math.ceil(nominal_end / num_envs) * num_envs


class CurriculumVectorEnv(VectorEnv):
    """A vector env that runs the tasks of a curriculum one after another, all sub-envs in lockstep."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, tasks: Sequence[Task], schedule: Schedule, num_envs: int, seed: int = 0, *,
                 global_num_envs: int | None = None, env_index_offset: int = 0):
        """
        :param global_num_envs: env steps the global step advances per vector step (default ``num_envs``).
            A worker process that runs sub-envs ``[offset, offset + num_envs)`` of a larger batch passes the
            batch size here, so every worker switches at the same vector step.
        :param env_index_offset: index of this env's first sub-env in that batch (it shifts the env seeds,
            so the workers together reproduce the single-process batch exactly).
        """
        if not tasks:
            raise ValueError("the curriculum has no tasks; give at least one")
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be >= 1")
        self.tasks = tuple(tasks)
        self.schedule = schedule
        self.visits = schedule.visits(len(self.tasks))
        self.num_envs = num_envs
        self.global_num_envs = global_num_envs or num_envs
        self.env_index_offset = env_index_offset
        self.seed = seed
        self._envs: dict[Hashable, VectorEnv] = {}
        first = self._env_for(0)
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        for task_id in range(1, len(self.tasks)):
            env = self._env_for(task_id)
            if env.single_observation_space != self.single_observation_space:
                raise ValueError(f"task {self.tasks[task_id].name!r} has another observation space")
            if env.single_action_space != self.single_action_space:
                raise ValueError(f"task {self.tasks[task_id].name!r} has another action space")
        self.global_step = 0
        self.total_end = self.visits[-1].end  # the nominal length, whatever the boundaries' drift
        self._visit = self.visits[0]
        for task_id in range(len(self.tasks)):  # transforms start as their task's first visit draws them
            first = next((v for v in self.visits if v.task_id == task_id), None)
            if first is not None:
                self._resample(first)

    # -- public state -------------------------------------------------------------------------------
    @property
    def visit(self) -> Visit:
        return self._visit

    @property
    def task(self) -> Task:
        return self.tasks[self._visit.task_id]

    @property
    def device(self):
        """The torch device of a tensor curriculum (torch MinAtar backend), ``None`` for numpy envs."""
        return getattr(self._env_for(0), "device", None)

    @property
    def truncates(self) -> bool:
        """Whether any task's env can cut an episode itself (an episode cap or a stall guard); switches aside."""
        return any(getattr(self._env_for(i), name, None) is not None for i in range(len(self.tasks))
                   for name in ("max_episode_steps", "stall_steps"))

    @property
    def total_steps(self) -> int:
        return self.total_end

    @property
    def done(self) -> bool:
        return self._visit.index == len(self.visits) - 1 and self.global_step >= self._visit.end

    # -- internals ----------------------------------------------------------------------------------
    def _env_for(self, task_id: int) -> VectorEnv:
        task = self.tasks[task_id]
        key = task.env_key if task.env_key is not None else ("task", task_id)
        if key not in self._envs:
            env = task.make_env(self.num_envs)
            if env.num_envs != self.num_envs:
                raise ValueError(f"task {task.name!r} built {env.num_envs} envs, expected {self.num_envs}")
            self._envs[key] = env
        return self._envs[key]

    def _resample(self, visit: Visit) -> None:
        for k, t in enumerate(self.tasks[visit.task_id].transforms):
            t.resample(np.random.default_rng([self.seed, visit.index, k, 0x7F]))

    def _view(self, task_id: int) -> TransformedVectorEnv:
        return TransformedVectorEnv(self._env_for(task_id), self.tasks[task_id].transforms)

    def _activate(self, visit: Visit) -> np.ndarray:
        """Enter ``visit``: resample its transforms, reset its env with visit-derived seeds."""
        self._visit = visit
        self._resample(visit)
        self._active = self._view(visit.task_id)
        env_seed = int(np.random.SeedSequence([self.seed, visit.index]).generate_state(1)[0] >> 1)
        obs, _ = self._active.reset(seed=env_seed + self.env_index_offset)
        return obs

    def position(self) -> dict[str, int]:
        """Where the curriculum is (for resuming when its envs cannot be saved, e.g. ALE or worker processes)."""
        return {"global_step": self.global_step, "visit": self._visit.index, "seed": self.seed,
                "visit_start": self._visit.start}

    def restore_position(self, position: dict[str, int]) -> np.ndarray:
        """Continue at ``position`` with the visit's envs reset from seeds derived from (seed, visit, global step):
        the re-seeding rule for envs whose state cannot be saved. Returns the first observations."""
        self.seed, self.global_step = position["seed"], position["global_step"]
        self.visits = self.schedule.visits(len(self.tasks))
        k = position["visit"]
        self._shift(k, position.get("visit_start", self.visits[k].start) - self.visits[k].start)
        visit = self.visits[k]
        self._visit = visit
        self._resample(visit)
        self._active = self._view(visit.task_id)
        seed = int(np.random.SeedSequence([self.seed, visit.index, self.global_step]).generate_state(1)[0] >> 1)
        obs, _ = self._active.reset(seed=seed + self.env_index_offset)
        return obs

    def make_eval_envs(self, num_envs: int) -> list[tuple[int, str, VectorEnv]]:
        """``(task_id, task_name, env)`` for every task: new env instances seen through a snapshot (a copy) of the
        task's transforms, so an evaluation neither depends on earlier ones nor touches the training envs."""
        return [(i, task.name, TransformedVectorEnv(task.make_env(num_envs), copy.deepcopy(task.transforms)))
                for i, task in enumerate(self.tasks)]

    def _task_infos(self, infos: dict[str, Any]) -> dict[str, Any]:
        """The task fields of the visit, built once per visit and shared by its steps (read-only for consumers)."""
        done = self.done
        key = (self._visit.index, done)
        if getattr(self, "_infos_key", None) != key:
            n, v = self.num_envs, self._visit
            self._infos = {"task_id": np.full(n, v.task_id, dtype=np.int64),
                           "task_name": np.full(n, self.task.name, dtype=object),
                           "task_cycle": np.full(n, v.cycle, dtype=np.int64),
                           "task_visit": np.full(n, v.index, dtype=np.int64),
                           "curriculum_done": np.full(n, done, dtype=bool)}
            self._infos_key = key
        infos.update(self._infos)
        return infos

    # -- gymnasium API ------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.seed = int(seed)
        self.global_step = 0
        self.visits = self.schedule.visits(len(self.tasks))  # undo an earlier run's drift
        obs = self._activate(self.visits[0])
        return obs, self._task_infos({})

    def _due(self, terminated: Any, truncated: Any) -> bool:
        """The visit ends after this step (see the switch rules in the module docstring)."""
        if self._visit.index == len(self.visits) - 1 or self.global_step < self._visit.end:
            return False
        if self.schedule.switch == "step":
            return True
        return bool((terminated | truncated).any())  # episode_end: numpy envs only (MuJoCo, ALE, CartPole)

    def _drift(self, switched_at: int) -> None:
        """Under ``switch: episode_end``: the next visits start from the step the switch really happened at."""
        if self.schedule.switch != "episode_end":
            return
        self._shift(self._visit.index + 1, switched_at - self._visit.end)

    def _shift(self, k: int, shift: int) -> None:
        """Visits ``k`` and after start ``shift`` steps later (the curriculum still ends at its nominal length)."""
        if shift:
            self.visits[k:] = [dataclasses.replace(v, start=v.start + shift, end=min(v.end + shift, self.total_end))
                               for v in self.visits[k:]]

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self._active.step(actions)
        self.global_step += self.global_num_envs
        if self._due(terminated, truncated):
            self._drift(self.global_step)
            ended = terminated | truncated
            final_obs = infos.get("final_obs")
            if isinstance(obs, torch.Tensor):  # tensors (torch MinAtar): one masked select, on their device
                final_obs = obs if final_obs is None else torch.where(
                    ended.view(-1, *([1] * (obs.dim() - 1))), final_obs, obs)
                everyone = torch.ones_like(ended)
            else:
                final_obs = np.full(self.num_envs, None, dtype=object) if final_obs is None else final_obs.copy()
                for i in np.flatnonzero(~ended):
                    final_obs[i] = obs[i].copy()
                everyone = np.ones(self.num_envs, dtype=bool)
            truncated = truncated | ~ended
            infos = {**infos, "final_obs": final_obs, "_final_obs": everyone}
            obs = self._activate(self.visits[self._visit.index + 1])
        return obs, rewards, terminated, truncated, self._task_infos(infos)

    def close(self, **kwargs: Any) -> None:
        for env in self._envs.values():
            env.close(**kwargs)


class CurriculumEnv(gym.Env):
    """One sub-env of a curriculum as a plain ``gymnasium.Env`` (for env checkers and subprocess workers).

    Episode ends and switches follow gymnasium's single-env contract: ``step`` returns the last observation
    with ``terminated``/``truncated`` set, and the next ``reset()`` returns the first observation of the next
    episode (in the next task after a switch). ``info`` holds the task fields as scalars.
    """

    metadata = {"render_modes": []}

    def __init__(self, tasks: Sequence[Task], schedule: Schedule, seed: int = 0, *,
                 global_num_envs: int = 1, env_index: int = 0, reset_seeds_games: bool = False):
        """
        :param global_num_envs: sub-envs running side by side with this one (each step advances the global step
            by this many, so they switch together).
        :param env_index: this sub-env's index among them (shifts its game seeds).
        :param reset_seeds_games: ``reset(seed=s)`` shifts the game seeds by ``s`` and keeps the curriculum's
            ``seed`` (order, transform draws) — for vectorizers that seed sub-env ``i`` with ``s + i``. Default:
            ``s`` becomes the curriculum seed (the workers of :func:`envs.make_curriculum` all get the same one).
        """
        self._venv = CurriculumVectorEnv(tasks, schedule, 1, seed, global_num_envs=global_num_envs,
                                         env_index_offset=env_index)
        self._reset_seeds_games = reset_seeds_games
        self.observation_space = self._venv.single_observation_space
        self.action_space = self._venv.single_action_space
        self._next: tuple[np.ndarray, dict[str, Any]] | None = None
        self._task: dict[str, Any] = {}

    @property
    def curriculum(self) -> CurriculumVectorEnv:
        return self._venv

    def position(self) -> dict[str, int]:
        return self._venv.position()

    def restore_position(self, position: dict[str, int]) -> np.ndarray:
        self._next = None
        return self._venv.restore_position(position)[0]

    @staticmethod
    def _info(infos: dict[str, Any]) -> dict[str, Any]:
        return {k: infos[k][0].item() if hasattr(infos[k][0], "item") else infos[k][0]
                for k in ("task_id", "task_name", "task_cycle", "task_visit", "curriculum_done")}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if self._next is not None and seed is None:
            obs, self._task = self._next
        else:
            if self._reset_seeds_games and seed is not None:
                self._venv.env_index_offset, seed = int(seed), None
            obs, infos = self._venv.reset(seed=seed)
            obs, self._task = obs[0], self._info(infos)
        self._next = None
        return obs, dict(self._task)

    def step(self, action):
        obs, rewards, terminated, truncated, infos = self._venv.step(np.asarray([action]))
        info = self._info(infos)
        if terminated[0] or truncated[0]:
            # The returned observation is the old episode's last one, so is the info; the next ones wait for reset.
            self._next = (obs[0], info)
            obs, info = infos["final_obs"], {**self._task, "curriculum_done": info["curriculum_done"]}
        else:
            self._task = info
        return obs[0], float(rewards[0]), bool(terminated[0]), bool(truncated[0]), dict(info)


class AloneCurriculumEnv(CurriculumEnv):
    """``gym.make(id)`` without ``num_envs``: its ``steps_per_task`` counts its own steps, right for one env alone.

    Several alive in one process with the same arguments (``make_vec_env(lambda: gym.make(id), n)``,
    ``gym.make_vec(id, n, vectorization_mode="sync")``) would each switch after ``steps_per_task`` of their own
    steps, ``n`` times later than the batched curriculum: their first step refuses that in one line. Worker
    processes cannot see each other: pass ``num_envs`` there (:func:`envs.registration.make_env`)."""

    live: weakref.WeakSet = weakref.WeakSet()

    def __init__(self, *args: Any, key: tuple, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._key, self._checked, self._closed = key, False, False
        AloneCurriculumEnv.live.add(self)

    def step(self, action):
        if not self._checked:
            self._checked = True
            siblings = [e for e in list(AloneCurriculumEnv.live)
                        if e is not self and e._key == self._key and not e._closed]
            if siblings:
                raise ValueError(f"{self._key[0]}: {len(siblings) + 1} single-env curricula with the same arguments "
                                 "step in this process (a vector env of gym.make?): each would count only its own "
                                 "steps; pass num_envs=<number of sub-envs> so that steps_per_task counts them all "
                                 "(num_envs=1: a per-env count), or use the batched curriculum")
        return super().step(action)

    def close(self) -> None:
        self._closed = True
        AloneCurriculumEnv.live.discard(self)
        super().close()

    def __setstate__(self, state: dict[str, Any]) -> None:  # an unpickled copy is alive too
        self.__dict__.update(state)
        AloneCurriculumEnv.live.add(self)
