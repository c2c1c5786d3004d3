"""Build a curriculum vector env from its spec (what ``conf/env/*.yaml`` holds; the typed form and every option:
:mod:`envs.spec`). Every key and value is checked before any env is built; a bad one raises a one-line
``ValueError`` naming it and the valid choices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv

from envs.classic import CartPoleVectorEnv
from envs.curriculum import CurriculumEnv, CurriculumVectorEnv, Schedule, Task
from envs.minatar import N_ACTIONS, OBS_SHAPE
from envs.minatar_vector import MinAtarVectorEnv
from envs.spec import Curriculum, parse_spec, task_options
from envs.transforms import build_transform


def _spec(spec: Mapping[str, Any] | Curriculum) -> Curriculum:
    return spec if not isinstance(spec, Mapping) else parse_spec(dict(spec))


def _base_env(spec: Curriculum, game: str, options: dict[str, Any],
              device: str) -> tuple[Callable[[int], VectorEnv], tuple, int, bool]:
    """(factory, single observation shape, number of actions, channels_last) of one task's base env."""
    if spec.kind == "minatar":
        if spec.backend == "torch":
            from envs.minatar_torch import TorchMinAtarVectorEnv
            return partial(TorchMinAtarVectorEnv, game, device=device, **options), OBS_SHAPE, N_ACTIONS, True
        return partial(MinAtarVectorEnv, game, **options), OBS_SHAPE, N_ACTIONS, True
    if spec.kind == "ale":
        from envs.ale import ALEVectorEnv, check_rom
        return partial(ALEVectorEnv, check_rom(game), **options), (options.get("stack_num", 4), 84, 84), 18, False
    if spec.kind == "mujoco":
        from envs.mujoco import MuJoCoVectorEnv
        return partial(MuJoCoVectorEnv, game, **options), (), None, True
    return partial(CartPoleVectorEnv, **options), (4,), 2, True


def schedule_from_spec(spec: Mapping[str, Any] | Curriculum, seed: int) -> Schedule:
    spec = _spec(spec)
    steps = spec.steps_per_task if isinstance(spec.steps_per_task, int) else tuple(spec.steps_per_task)
    return Schedule(steps_per_task=steps, cycles=spec.cycles, order=spec.order, seed=seed, switch=spec.switch)


def _entries(spec: Curriculum, seed: int) -> list[Any]:
    """The spec's tasks; a friction schedule (Slippery Ant) makes one task per friction of row ``seed``."""
    frictions = getattr(spec, "frictions", None)
    if frictions is None:
        return list(spec.tasks)
    from envs.mujoco import dohare_frictions
    from envs.spec import DynamicsSpec
    (task,) = spec.tasks
    return [task.model_copy(update={"name": f"{task.name or task.game}_mu{mu:.4g}", "transforms": [
        *task.transforms, DynamicsSpec(type="dynamics", friction=mu)]})
        for mu in dohare_frictions(seed, frictions.changes)]


def tasks_from_spec(spec: Mapping[str, Any] | Curriculum, device: str = "cpu", seed: int = 0) -> list[Task]:
    """The tasks of ``spec``; torch MinAtar envs live on ``device`` (the other kinds are CPU simulators); ``seed``
    picks a friction schedule's row."""
    spec = _spec(spec)
    tasks, names = [], []
    for entry in _entries(spec, seed):
        name = entry.name or entry.game
        options = task_options(spec, entry)
        make_env, obs_shape, n_actions, channels_last = _base_env(spec, entry.game, options, device)
        transforms = tuple(build_transform(t.model_dump(exclude_none=True), obs_shape, n_actions, channels_last)
                           for t in [*entry.transforms, *spec.transforms])
        if name in names:
            name = f"{name}#{len(names)}"
        names.append(name)
        backend = getattr(spec, "backend", None)
        key = (spec.kind, backend, entry.game, tuple(sorted((k, repr(v)) for k, v in options.items())))
        tasks.append(Task(name=name, make_env=make_env, transforms=transforms, env_key=key))
    return tasks


def make_curriculum(spec: Mapping[str, Any] | Curriculum, num_envs: int, seed: int = 0,
                    device: str = "cpu") -> VectorEnv:
    """The curriculum described by ``spec`` with ``num_envs`` sub-envs, deterministic from ``seed``.

    MinAtar runs on the torch backend by default: every game as tensors on ``device``, observations, rewards and
    flags handed out as tensors there (``backend: minatar`` gives the reference package's numpy envs, bit for
    bit ``minatar`` per sub-env seed). ``vectorization: subproc`` runs each sub-env in its own worker process
    (gymnasium's ``AsyncVectorEnv``, numpy backends only); the workers count global steps for the whole batch, so
    they switch tasks at the same step and reproduce the batched env's trajectories exactly. On small CPUs it is
    slower (measured: docs/performance.md).
    """
    spec = _spec(spec)
    if getattr(spec, "backend", None) == "torch":
        from envs.minatar_torch import check_device
        check_device(device)
    tasks, schedule = tasks_from_spec(spec, device, seed), schedule_from_spec(spec, seed)
    if spec.vectorization == "batched":
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

    def position(self) -> dict[str, int]:
        return self.call("position")[0]

    def restore_position(self, position: dict[str, int]):
        import numpy as np
        return np.stack(self.call("restore_position", position))

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        # Every worker gets the curriculum seed itself (not seed + i): it offsets its env seeds on its own.
        if isinstance(seed, int):
            seed = [seed] * self.num_envs
        return super().reset(seed=seed, options=options)


def curriculum_length(spec: Mapping[str, Any] | Curriculum) -> int:
    """Nominal global env steps of the whole curriculum (all visits)."""
    spec = _spec(spec)
    return schedule_from_spec(spec, 0).total_steps(len(_entries(spec, 0)))
