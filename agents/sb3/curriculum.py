"""A curriculum as SB3's ``VecEnv``: the batched :class:`envs.CurriculumVectorEnv` behind SB3's API.

``make_curriculum_vec_env("PlasticityRL/MinAtarAdamO-v0", n_envs=8, seed=0, steps_per_task=500_000)`` (a gym id
of :mod:`envs.registration` or a preset name of :mod:`envs.presets`) gives a :class:`CurriculumVecEnv`: every
sub-env switches task at the same step, ``steps_per_task`` counts env steps summed over the sub-envs (as in every
construction of this project), and each step's infos carry ``task_id``, ``task_name``, ``task_cycle`` and
``task_visit``. An episode cut by a switch ends with ``TimeLimit.truncated=True`` and its
``terminal_observation``, so SB3 bootstraps it like a time limit; every finished episode's info has SB3's
``episode`` record (``r``, ``l``, ``t``, as ``VecMonitor`` writes it), so SB3 logs ``rollout/ep_rew_mean``.

The adapter pickles whole (curriculum position, transforms, every game's state and generator): save it next to
``model.save()`` and load the model with it (``force_reset=False``) to continue exactly where it was.

SB3's ``make_vec_env("PlasticityRL/…", n_envs=N, env_kwargs=dict(num_envs=N))`` also works (N single-env
curricula that each count the global step; see :func:`envs.registration.make_env`), but its sub-envs are N
separate curricula; this adapter runs one batched curriculum, which is faster and has one state.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from stable_baselines3.common.vec_env import VecEnv

TASK_FIELDS = ("task_id", "task_name", "task_cycle", "task_visit", "curriculum_done")


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class CurriculumVecEnv(VecEnv):
    """SB3 ``VecEnv`` over a gymnasium vector env in same-step autoreset mode (a curriculum, or any other).

    :param venv: e.g. ``envs.make_curriculum(spec, num_envs, seed)`` or ``gym.make_vec(id, num_envs,
        vectorization_mode="vector_entry_point")``. Torch tensors (the torch MinAtar backend) are handed to SB3
        as numpy arrays.
    """

    def __init__(self, venv: VectorEnv):
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._seed: int | None = None
        self._returns = np.zeros(self.num_envs, np.float64)
        self._lengths = np.zeros(self.num_envs, np.int64)
        self._start = time.time()

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """The curriculum's seed for the next reset (its order, transforms and env seeds; one seed for all)."""
        self._seed = seed
        return [seed] * self.num_envs

    def reset(self) -> np.ndarray:
        obs, infos = self.venv.reset(seed=self._seed)
        self._seed = None
        self._returns[:], self._lengths[:] = 0.0, 0
        self.reset_infos = self._infos(infos, np.zeros(self.num_envs, bool), np.zeros(self.num_envs, bool), None)
        return _numpy(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        obs, terminated, truncated = _numpy(obs), _numpy(terminated).astype(bool), _numpy(truncated).astype(bool)
        dones = terminated | truncated
        rewards = _numpy(rewards).astype(np.float32)
        self._returns += rewards
        self._lengths += 1
        out = self._infos(infos, terminated, truncated, dones)
        for i in np.flatnonzero(dones):
            out[i]["episode"] = {"r": float(self._returns[i]), "l": int(self._lengths[i]),
                                 "t": round(time.time() - self._start, 6)}
            self._returns[i], self._lengths[i] = 0.0, 0
        return obs, rewards, dones, out

    def _infos(self, infos: dict[str, Any], terminated: np.ndarray, truncated: np.ndarray,
               dones: np.ndarray | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for key in TASK_FIELDS:
            if key in infos:
                values = _numpy(infos[key])
                for i in range(self.num_envs):
                    out[i][key] = values[i].item() if hasattr(values[i], "item") else values[i]
        if dones is not None and dones.any():
            final = infos.get("final_obs")
            for i in np.flatnonzero(dones):
                out[i]["terminal_observation"] = _numpy(final[i]) if final is not None else None
                out[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return out

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs


def make_curriculum_vec_env(env: str, n_envs: int = 1, seed: int = 0, **overrides: Any) -> CurriculumVecEnv:
    """A curriculum (gym id ``PlasticityRL/…`` or preset name) as SB3's ``VecEnv`` (module docstring).

    :param n_envs: sub-envs, stepped as one batch.
    :param seed: the curriculum's seed (task order, transform draws, game seeds).
    :param overrides: the preset's options (``steps_per_task=...``, ``cycles=...``, ``order=...``).
    """
    from envs.presets import PRESETS
    from envs.registration import IDS, make_vector_env
    name = IDS.get(env, env)
    if name not in PRESETS:
        raise ValueError(f"make_curriculum_vec_env: env={env!r}; valid choices: {', '.join([*IDS, *PRESETS])}")
    if n_envs < 1:
        raise ValueError(f"make_curriculum_vec_env: n_envs={n_envs!r} must be >= 1")
    venv = make_vector_env(name, num_envs=n_envs, seed=seed, **overrides)
    vec = CurriculumVecEnv(venv)
    vec.seed(seed)
    return vec
