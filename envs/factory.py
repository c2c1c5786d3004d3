"""Build a curriculum vector env from a plain mapping (what ``conf/env/*.yaml`` holds).

A spec looks like::

    kind: minatar                 # minatar | ale | classic
    tasks:                        # a game name, or a mapping {game: ..., name: ..., transforms: [...], <options>}
      - breakout
      - {game: breakout, name: breakout_flipped, transforms: [{type: reward_scale, scale: -1}]}
    transforms: []                # applied to every task, after the task's own
    steps_per_task: 250000        # global env steps per visit (one number or one per task)
    cycles: 2
    order: fixed                  # fixed | random (seeded per cycle)
    vectorization: batched        # batched (one process) | subproc (one worker process per env)
    backend: torch                # MinAtar: torch (tensors on the run's device) | minatar (the reference package)
    sticky_action_prob: 0.1       # the kind's options: defaults for every task, overridable per task

Options per kind: see :data:`KIND_OPTIONS`. Every key and value is checked before any env is built; a bad one
raises a one-line ``ValueError`` naming it and the valid choices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv

from envs.classic import CartPoleVectorEnv
from envs.curriculum import CurriculumEnv, CurriculumVectorEnv, Schedule, Task
from envs.minatar import N_ACTIONS, OBS_SHAPE, check_game
from envs.minatar_vector import MinAtarVectorEnv
from envs.names import BACKENDS, CLASSIC_GAMES, KIND_OPTIONS, SPEC_KEYS, TASK_KEYS, VECTORIZATIONS
from envs.transforms import build_transform


def _check_keys(where: str, spec: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    for key in spec:
        if key not in valid:
            raise ValueError(f"unknown key {where}.{key}; valid keys: {', '.join(valid)}")


def _kind(spec: Mapping[str, Any]) -> str:
    kind = spec.get("kind", "minatar")
    if kind not in KIND_OPTIONS:
        raise ValueError(f"unknown env.kind {kind!r}; valid choices: {', '.join(KIND_OPTIONS)}")
    return kind


def backend_of(spec: Mapping[str, Any]) -> str | None:
    """The spec's MinAtar backend (``torch`` unless it says otherwise); ``None`` for the other kinds."""
    if _kind(spec) != "minatar":
        if spec.get("backend") is not None:
            raise ValueError(f"env.backend={spec['backend']!r} is for kind minatar; valid choices here: null")
        return None
    backend = spec.get("backend") or "torch"
    if backend not in BACKENDS:
        raise ValueError(f"env.backend={backend!r}; valid choices: {', '.join(BACKENDS)}")
    return backend


def _base_env(kind: str, game: str, options: dict[str, Any], backend: str | None,
              device: str) -> tuple[Callable[[int], VectorEnv], tuple, int, bool]:
    """(factory, single observation shape, number of actions, channels_last) of one task's base env."""
    if kind == "minatar":
        if backend == "torch":
            from envs.minatar_torch import TorchMinAtarVectorEnv
            return (partial(TorchMinAtarVectorEnv, check_game(game), device=device, **options), OBS_SHAPE, N_ACTIONS,
                    True)
        return partial(MinAtarVectorEnv, check_game(game), **options), OBS_SHAPE, N_ACTIONS, True
    if kind == "ale":
        from envs.ale import ALEVectorEnv, check_rom
        return partial(ALEVectorEnv, check_rom(game), **options), (options.get("stack_num", 4), 84, 84), 18, False
    if game not in CLASSIC_GAMES:
        raise ValueError(f"unknown classic game {game!r}; valid games: {', '.join(CLASSIC_GAMES)}")
    return partial(CartPoleVectorEnv, **options), (4,), 2, True


def schedule_from_spec(spec: Mapping[str, Any], seed: int) -> Schedule:
    steps = spec.get("steps_per_task", 1_000_000)
    if not isinstance(steps, int):
        steps = tuple(steps)
    return Schedule(steps_per_task=steps, cycles=int(spec.get("cycles", 1)),
                    order=str(spec.get("order", "fixed")), seed=seed)


def tasks_from_spec(spec: Mapping[str, Any], device: str = "cpu") -> list[Task]:
    """The tasks of ``spec``; torch MinAtar envs live on ``device`` (the other kinds are CPU simulators)."""
    kind = _kind(spec)
    backend = backend_of(spec)
    options_keys = KIND_OPTIONS[kind]
    _check_keys("env", spec, (*SPEC_KEYS, *options_keys))
    entries = spec.get("tasks") or []
    if not entries:
        raise ValueError("env.tasks is empty; give at least one task")
    shared = {k: spec[k] for k in options_keys if k in spec and spec[k] is not None}
    shared_transforms = list(spec.get("transforms") or [])
    tasks, names = [], []
    for entry in entries:
        task = {"game": entry} if isinstance(entry, str) else dict(entry)
        _check_keys("env.tasks[]", task, (*TASK_KEYS, *options_keys))
        if "game" not in task:
            raise ValueError(f"a task needs a 'game': got {dict(task)}")
        game = str(task.pop("game"))
        name = str(task.pop("name", game))
        transform_specs = [*(task.pop("transforms", None) or []), *shared_transforms]
        options = {**shared, **task}  # a task may set an option back to null (e.g. no episode cap)
        make_env, obs_shape, n_actions, channels_last = _base_env(kind, game, options, backend, device)
        transforms = tuple(build_transform(t, obs_shape, n_actions, channels_last) for t in transform_specs)
        if name in names:
            name = f"{name}#{len(names)}"
        names.append(name)
        key = (kind, backend, game, tuple(sorted((k, repr(v)) for k, v in options.items())))
        tasks.append(Task(name=name, make_env=make_env, transforms=transforms, env_key=key))
    return tasks


def make_curriculum(spec: Mapping[str, Any], num_envs: int, seed: int = 0, device: str = "cpu") -> VectorEnv:
    """The curriculum described by ``spec`` with ``num_envs`` sub-envs, deterministic from ``seed``.

    MinAtar runs on the torch backend by default: every game as tensors on ``device``, observations, rewards and
    flags handed out as tensors there (``backend: minatar`` gives the reference package's numpy envs, bit for
    bit ``minatar`` per sub-env seed). ``vectorization: subproc`` runs each sub-env in its own worker process
    (gymnasium's ``AsyncVectorEnv``, numpy backends only); the workers count global steps for the whole batch, so
    they switch tasks at the same step and reproduce the batched env's trajectories exactly. On small CPUs it is
    slower (measured: docs/performance.md).
    """
    vectorization = spec.get("vectorization", "batched")
    if vectorization not in VECTORIZATIONS:
        raise ValueError(f"env.vectorization={vectorization!r}; valid choices: {', '.join(VECTORIZATIONS)}")
    if vectorization == "subproc" and backend_of(spec) == "torch":
        raise ValueError("env.vectorization=subproc runs numpy envs in worker processes; with MinAtar set "
                         "env.backend=minatar (the torch backend is batched already)")
    if backend_of(spec) == "torch":
        from envs.minatar_torch import check_device
        check_device(device)
    tasks, schedule = tasks_from_spec(spec, device), schedule_from_spec(spec, seed)
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


def curriculum_length(spec: Mapping[str, Any]) -> int:
    """Nominal global env steps of the whole curriculum (all visits)."""
    return schedule_from_spec(spec, 0).total_steps(len(spec.get("tasks") or []))
