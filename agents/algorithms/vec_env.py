"""The agents' vector env: SB3's ``VecEnv`` over a gymnasium vector env, handing torch tensors on the agent's device.

``step(actions)`` takes the actions as a tensor and returns ``(obs, rewards, dones, info)``: observations in the
env's own dtype (MinAtar's bool, ALE's uint8; the policy casts them), rewards float32 and ``dones`` bool, all on
the agent's device, and a :class:`StepInfo` instead of SB3's list of per-env dicts. With the torch MinAtar backend
nothing crosses to the host in a step; numpy envs (ALE, CartPole, ``env.backend=minatar``) are converted once per
step, as SB3 would do.

* **Episodes** are counted on the device (:class:`EpisodeTracker`) and handed to the host in blocks
  (``episodes.flush()``, at rollout ends and log rows), so logging never synchronizes per step.
* **Task switches** come from the curriculum's task fields (``task_id``, ``task_name``, ``task_cycle``,
  ``task_visit``, host values), so agents see them without importing ``envs``; a vector env without them is one
  task.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from torch import Tensor

from agents.algorithms.normalize import Normalizer
from agents.tasks import TaskInfo


class _RelocatingUnpickler(pickle.Unpickler):
    """Unpickles a pickled env onto ``device``: its tensors' storages and its ``torch.device`` attributes of another
    kind (a checkpoint written on a GPU, opened on a CPU, or the reverse) go to ``device``; ``torch.load``'s
    ``map_location`` does not reach into an object pickled with ``pickle``."""

    def __init__(self, data: bytes, device: torch.device):
        super().__init__(io.BytesIO(data))
        self.device = device

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch", "device"):
            target = self.device
            return lambda *args: target if torch.device(*args).type != target.type else torch.device(*args)
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            target = self.device
            return lambda b: torch.load(io.BytesIO(b), map_location=target, weights_only=False)
        return super().find_class(module, name)


def load_env(data: bytes, device: str | torch.device) -> Any:
    """An env pickled by :meth:`GymnasiumVecEnv.state_dict`, on ``device`` (whatever device it was written on)."""
    return _RelocatingUnpickler(data, torch.device(device)).load()


@dataclass
class StepInfo:
    """What a step tells beyond ``(obs, rewards, dones)``, as tensors on the agent's device.

    :param truncated: envs whose episode was cut (time limit, stall guard, task switch), not ended by the game:
        their return is bootstrapped from ``final_obs``.
    :param final_obs: the last observation of every env whose episode ended (rows of the others are meaningless).
    :param may_truncate: a host flag, false when no env can have been truncated in this step (nothing to
        bootstrap); true at task switches and for envs with episode caps.
    """

    terminated: Tensor
    truncated: Tensor
    final_obs: Tensor
    may_truncate: bool


@dataclass(frozen=True)
class Episode:
    step: int
    task: TaskInfo
    ret: float
    length: int


class EpisodeTracker:
    """Episode returns and lengths from the steps' reward and done tensors, computed when read.

    A step only keeps references to its ``rewards`` and ``dones`` tensors (no device work); :meth:`flush` copies the
    block to the host once and walks it there, carrying the episodes in flight from block to block.
    """

    def __init__(self, num_envs: int, device: torch.device):
        self.returns = np.zeros(num_envs, dtype=np.float64)  # of the episodes in flight, up to the last flush
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self._pending: list[tuple[int, TaskInfo, Tensor, Tensor]] = []

    def __len__(self) -> int:
        return len(self._pending)

    def step(self, rewards: Tensor, dones: Tensor, step: int, task: TaskInfo) -> None:
        self._pending.append((step, task, rewards, dones))

    def flush(self) -> list[Episode]:
        """The episodes finished since the last flush, in step order then env order (one copy to the host)."""
        if not self._pending:
            return []
        steps, tasks, rewards, dones = zip(*self._pending, strict=True)
        self._pending = []
        rewards = torch.stack(rewards).double().cpu().numpy()
        dones = torch.stack(dones).cpu().numpy()
        out = []
        for t in range(len(steps)):
            self.returns += rewards[t]
            self.lengths += 1
            for i in np.flatnonzero(dones[t]):
                out.append(Episode(steps[t], tasks[t], float(self.returns[i]), int(self.lengths[i])))
            self.returns[dones[t]] = 0.0
            self.lengths[dones[t]] = 0
        return out

    def reset(self) -> None:
        self.returns[:] = 0
        self.lengths[:] = 0
        self._pending = []

    def state_dict(self) -> dict[str, Any]:
        return {"returns": self.returns.copy(), "lengths": self.lengths.copy(),
                "pending": [(s, t, r.cpu(), d.cpu()) for s, t, r, d in self._pending]}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.returns, self.lengths = state["returns"].copy(), state["lengths"].copy()
        self._pending = [(s, t, r.to(device), d.to(device)) for s, t, r, d in state["pending"]]


class GymnasiumVecEnv(VecEnv):
    """Adapts ``venv`` (a ``gymnasium.vector.VectorEnv`` in ``SAME_STEP`` autoreset mode) to the agents.

    :param device: where observations, rewards and flags are handed out (the agent's device).
    :param normalizer: scales what the agent sees (observations, rewards); episodes are tracked on raw rewards.
    """

    def __init__(self, venv: VectorEnv, device: str | torch.device = "cpu", normalizer: Normalizer | None = None):
        self.venv = venv
        self.device = torch.device(device)
        self.normalizer = normalizer
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self.episodes = EpisodeTracker(self.num_envs, self.device)
        self.num_timesteps = 0  # env steps (all sub-envs) so far; the agent sets it when it starts learning
        self._actions: Tensor | None = None
        self._truncates = bool(getattr(venv, "truncates", True))
        self.task = TaskInfo(0, 0, "task", 0)
        self.previous_task = self.task
        self.task_switched = False

    # -- conversion ----------------------------------------------------------------------------------------------
    def to_tensor(self, x: Any, dtype: torch.dtype | None = None) -> Tensor:
        return torch.as_tensor(x, device=self.device, dtype=dtype)

    def _for_env(self, actions: Tensor | np.ndarray) -> Tensor | np.ndarray:
        """Actions in the form the wrapped env takes: tensors for a tensor env, numpy arrays for a numpy one."""
        if getattr(self.venv, "device", None) is not None and isinstance(actions, Tensor):  # a torch env
            return actions
        return actions.cpu().numpy() if isinstance(actions, Tensor) else np.asarray(actions)

    # -- the VecEnv interface --------------------------------------------------------------------------------------
    def reset(self) -> Tensor:
        obs, infos = self.venv.reset(seed=self._seeds[0])
        self._reset_seeds()
        self.episodes.reset()
        self.task = self.previous_task = TaskInfo.from_infos(infos)
        self.task_switched = False
        obs = self.to_tensor(obs)
        if self.normalizer is not None:
            self.normalizer.reset()
            obs = self.normalizer.observe(obs)
        return obs

    def step_async(self, actions: Tensor | np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[Tensor, Tensor, Tensor, StepInfo]:
        obs, rewards, terminated, truncated, infos = self.venv.step(self._for_env(self._actions))
        self.num_timesteps += self.num_envs
        # numpy flags are on the host already: bootstrap only when something was cut; tensors stay on the device
        host_truncated = bool((truncated & ~terminated).any()) if isinstance(truncated, np.ndarray) else None
        obs = self.to_tensor(obs)
        rewards = self.to_tensor(rewards, torch.float32)
        terminated, truncated = self.to_tensor(terminated, torch.bool), self.to_tensor(truncated, torch.bool)
        dones = terminated | truncated
        final_obs = infos.get("final_obs")
        if isinstance(final_obs, Tensor):
            final_obs = final_obs.to(self.device)
        elif final_obs is not None:  # numpy envs: an object array, filled where "_final_obs"
            rows = final_obs
            final_obs = obs.clone()
            for i in np.flatnonzero(infos["_final_obs"]):
                final_obs[i] = self.to_tensor(rows[i])
        else:
            final_obs = obs
        visit = infos.get("task_visit")
        self.task_switched = visit is not None and int(visit[0]) != self.task.visit
        new_task = TaskInfo.from_infos(infos) if self.task_switched else self.task
        may_truncate = host_truncated if host_truncated is not None else self.task_switched or self._truncates
        self.episodes.step(rewards, dones, self.num_timesteps, self.task)  # episodes belong to the task they ran in
        if self.task_switched:
            self.previous_task, self.task = self.task, new_task
        if self.normalizer is not None:  # SB3's order: statistics from the new observations, then both scaled
            raw, obs = obs, self.normalizer.observe(obs)
            final_obs = obs if final_obs is raw else self.normalizer.normalize_obs(final_obs)
            rewards = self.normalizer.reward(rewards, dones)
        return obs, rewards, dones, StepInfo(terminated, truncated & ~terminated, final_obs, may_truncate)

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
        return {"venv": venv, "position": position, "episodes": self.episodes.state_dict(), "task": self.task,
                "previous_task": self.previous_task, "task_switched": self.task_switched,
                "num_timesteps": self.num_timesteps,
                "normalizer": self.normalizer.state_dict() if self.normalizer is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> Tensor | None:
        """Restore; returns the new first observations when the env was re-seeded instead (else ``None``)."""
        self.task, self.previous_task = state["task"], state["previous_task"]
        self.task_switched = state["task_switched"]
        self.num_timesteps = state["num_timesteps"]
        if self.normalizer is not None and state.get("normalizer") is not None:
            self.normalizer.load_state_dict(state["normalizer"])
        if state["venv"] is not None:
            self.venv.close()
            self.venv = load_env(state["venv"], self.device)
            self.episodes.load_state_dict(state["episodes"], self.device)
            return None
        self.episodes.reset()  # re-seeded: every episode starts again
        if state["position"] is None:
            return self.reset()
        obs = self.to_tensor(self.venv.restore_position(state["position"]))
        return obs if self.normalizer is None else self.normalizer.normalize_obs(obs)

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
