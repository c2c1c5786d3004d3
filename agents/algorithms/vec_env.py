"""Stable-Baselines3 ``VecEnv`` over a gymnasium vector env with same-step autoreset.

It turns gymnasium's batched infos into SB3's list of dicts (``terminal_observation``,
``TimeLimit.truncated``), records episode returns and lengths like ``VecMonitor`` (``info["episode"]``),
and follows the curriculum's task fields (``task_id``, ``task_name``, ``task_cycle``, ``task_visit``) so that
agents see task switches without importing ``envs``. A vector env without those fields is one task.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper


@dataclass(frozen=True)
class TaskInfo:
    visit: int
    task_id: int
    name: str
    cycle: int

    @classmethod
    def from_infos(cls, infos: dict[str, Any], default: TaskInfo | None = None) -> TaskInfo:
        if "task_visit" not in infos:
            return default or cls(0, 0, "task", 0)
        return cls(int(infos["task_visit"][0]), int(infos["task_id"][0]), str(infos["task_name"][0]),
                   int(infos["task_cycle"][0]))


class GymnasiumVecEnv(VecEnv):
    """Adapts ``venv`` (a ``gymnasium.vector.VectorEnv`` in ``SAME_STEP`` autoreset mode) to SB3."""

    def __init__(self, venv: VectorEnv):
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._returns = np.zeros(self.num_envs, dtype=np.float64)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._actions: np.ndarray | None = None
        self._t0 = time.time()
        self.task = TaskInfo(0, 0, "task", 0)
        self.previous_task = self.task
        self.task_switched = False

    def reset(self) -> np.ndarray:
        obs, infos = self.venv.reset(seed=self._seeds[0])
        self._reset_seeds()
        self._returns[:] = 0
        self._lengths[:] = 0
        self.task = self.previous_task = TaskInfo.from_infos(infos)
        self.task_switched = False
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        dones = terminated | truncated
        self._returns += rewards
        self._lengths += 1
        out: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        ended = np.flatnonzero(dones)
        if ended.size:
            final_obs = infos["final_obs"]
            elapsed = round(time.time() - self._t0, 6)
            for i in ended:
                out[i] = {
                    "terminal_observation": final_obs[i],
                    "TimeLimit.truncated": bool(truncated[i] and not terminated[i]),
                    "episode": {"r": float(self._returns[i]), "l": int(self._lengths[i]), "t": elapsed},
                    "task": self.task,
                }
            self._returns[ended] = 0
            self._lengths[ended] = 0
        new_task = TaskInfo.from_infos(infos, self.task)
        self.task_switched = new_task != self.task
        if self.task_switched:
            self.previous_task, self.task = self.task, new_task
        return obs, rewards.astype(np.float32), dones, out

    def close(self) -> None:
        self.venv.close()

    def state_dict(self) -> dict[str, Any]:
        """The wrapped env pickled whole (curriculum position, transforms, every game's state and generator) and
        the episodes in progress; for an env that cannot be pickled (ALE's emulator, worker processes) only its
        ``position()``, to be continued by the env's re-seeding rule."""
        try:
            venv, position = pickle.dumps(self.venv), None
        except (TypeError, pickle.PicklingError, AttributeError):
            venv, position = None, self.venv.position() if hasattr(self.venv, "position") else None
        return {"venv": venv, "position": position, "returns": self._returns.copy(),
                "lengths": self._lengths.copy(), "task": self.task, "previous_task": self.previous_task,
                "task_switched": self.task_switched}

    def load_state_dict(self, state: dict[str, Any]) -> np.ndarray | None:
        """Restore; returns the new first observations when the env was re-seeded instead (else ``None``)."""
        self.task, self.previous_task = state["task"], state["previous_task"]
        self.task_switched = state["task_switched"]
        if state["venv"] is not None:
            self.venv.close()
            self.venv = pickle.loads(state["venv"])
            self._returns, self._lengths = state["returns"].copy(), state["lengths"].copy()
            return None
        self._returns[:] = 0  # re-seeded: every episode starts again
        self._lengths[:] = 0
        if state["position"] is None:
            return self.reset()
        return self.venv.restore_position(state["position"])

    # SB3's VecEnv interface for per-sub-env access; the batched env has no sub-env objects.
    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result] * len(self._get_indices(indices))

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._get_indices(indices))

    def get_images(self):
        raise NotImplementedError("rendering is not supported by batched curriculum envs")


def unwrap(env: VecEnv) -> VecEnv:
    while isinstance(env, VecEnvWrapper):
        env = env.venv
    return env
