"""Build a curriculum vector env from a plain mapping (what ``conf/env/*.yaml`` holds).

A spec looks like::

    kind: minatar                 # the family of base envs
    tasks: [breakout, space_invaders]   # a game name, or a mapping {game: ..., name: ..., <env options>}
    steps_per_task: 250000        # global env steps per visit (one number or one per task)
    cycles: 2
    order: fixed                  # fixed | random (seeded per cycle)
    sticky_action_prob: 0.1       # env options shared by every task, overridable per task
    difficulty_ramping: true
    max_episode_steps: null
    vectorization: batched        # batched (one process, default) | subproc (one worker process per env)
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv

from envs.curriculum import CurriculumEnv, CurriculumVectorEnv, Schedule, Task
from envs.minatar import check_game
from envs.minatar_vector import MinAtarVectorEnv

KINDS = ("minatar",)
VECTORIZATIONS = ("batched", "subproc")
SCHEDULE_KEYS = ("steps_per_task", "cycles", "order")
MINATAR_OPTIONS = ("sticky_action_prob", "difficulty_ramping", "max_episode_steps")
SPEC_KEYS = ("name", "kind", "tasks", "vectorization", *SCHEDULE_KEYS, *MINATAR_OPTIONS)


def _check_keys(where: str, spec: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    for key in spec:
        if key not in valid:
            raise ValueError(f"unknown key {where}.{key}; valid keys: {', '.join(valid)}")


def _task_spec(entry: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"game": entry}
    entry = dict(entry)
    _check_keys("env.tasks[]", entry, ("game", "name", *MINATAR_OPTIONS))
    if "game" not in entry:
        raise ValueError(f"a task needs a 'game': got {entry}")
    return entry


def schedule_from_spec(spec: Mapping[str, Any], seed: int) -> Schedule:
    steps = spec.get("steps_per_task", 1_000_000)
    if not isinstance(steps, int):
        steps = tuple(steps)
    return Schedule(steps_per_task=steps, cycles=int(spec.get("cycles", 1)),
                    order=str(spec.get("order", "fixed")), seed=seed)


def tasks_from_spec(spec: Mapping[str, Any]) -> list[Task]:
    kind = spec.get("kind", "minatar")
    if kind not in KINDS:
        raise ValueError(f"unknown env.kind {kind!r}; valid choices: {', '.join(KINDS)}")
    entries = spec.get("tasks") or []
    if not entries:
        raise ValueError("env.tasks is empty; give at least one task")
    shared = {k: spec[k] for k in MINATAR_OPTIONS if k in spec}
    tasks = []
    for entry in entries:
        task = _task_spec(entry)
        game = check_game(task.pop("game"))
        name = task.pop("name", game)
        options = {**shared, **task}
        key = (game, tuple(sorted(options.items())))
        tasks.append(Task(name=name, make_env=partial(MinAtarVectorEnv, game, **options), env_key=key))
    return tasks


def make_curriculum(spec: Mapping[str, Any], num_envs: int, seed: int = 0) -> VectorEnv:
    """The curriculum described by ``spec`` with ``num_envs`` sub-envs, deterministic from ``seed``.

    ``vectorization: subproc`` runs each sub-env in its own worker process (gymnasium's
    ``AsyncVectorEnv``); the workers count global steps for the whole batch, so they switch tasks at the same
    step and reproduce the batched env's trajectories exactly. On small CPUs it is slower (ecosystem.md §11).
    """
    _check_keys("env", spec, SPEC_KEYS)
    vectorization = spec.get("vectorization", "batched")
    if vectorization not in VECTORIZATIONS:
        raise ValueError(f"env.vectorization={vectorization!r}; valid choices: {', '.join(VECTORIZATIONS)}")
    tasks, schedule = tasks_from_spec(spec), schedule_from_spec(spec, seed)
    if vectorization == "batched":
        return CurriculumVectorEnv(tasks, schedule, num_envs, seed=seed)
    schedule.visits(len(tasks))  # validate before starting workers
    fns = [partial(CurriculumEnv, tasks, schedule, seed, global_num_envs=num_envs, env_index=i)
           for i in range(num_envs)]
    return SubprocCurriculumEnv(fns, total_steps=schedule.total_steps(len(tasks)))


class SubprocCurriculumEnv(AsyncVectorEnv):
    """``AsyncVectorEnv`` of :class:`CurriculumEnv` workers in same-step autoreset mode."""

    def __init__(self, env_fns: list, total_steps: int):
        super().__init__(env_fns, autoreset_mode=AutoresetMode.SAME_STEP, context="spawn")
        self.total_steps = total_steps

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        # Every worker gets the curriculum seed itself (not seed + i): it offsets its env seeds on its own.
        if isinstance(seed, int):
            seed = [seed] * self.num_envs
        return super().reset(seed=seed, options=options)


def curriculum_length(spec: Mapping[str, Any]) -> int:
    """Nominal global env steps of the whole curriculum (all visits)."""
    return schedule_from_spec(spec, 0).total_steps(len(spec.get("tasks") or []))
