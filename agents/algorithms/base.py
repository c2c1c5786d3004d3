"""What PPO and DQN share: the plasticity methods' entry points and the tensor rollout's bookkeeping."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.algorithms.vec_env import GymnasiumVecEnv, unwrap
from plasticity.sync import sync_free


class PlasticAlgorithm:
    """Mixin for SB3 algorithms whose env is a :class:`GymnasiumVecEnv` handing tensors on the agent's device.

    **The algorithm's state** (what a checkpoint must hold besides the policy, the optimizer and the buffers): the
    SB3 counters and the last observations, listed in :attr:`STATE_FIELDS` per algorithm and read and written only
    through :meth:`algorithm_state` / :meth:`load_algorithm_state`, which fail loudly on a missing field — SB3 is
    pinned to the tested minor version (pyproject.toml), and a field renamed upstream is an error, not a silently
    inexact resume.
    """

    STATE_FIELDS: tuple[str, ...] = ("num_timesteps", "_n_updates", "_episode_num", "_current_progress_remaining",
                                     "_last_obs", "_last_episode_starts", "_last_original_obs", "ep_info_buffer",
                                     "ep_success_buffer")

    def algorithm_state(self) -> dict[str, Any]:
        """The fields of :attr:`STATE_FIELDS` (an ``AttributeError`` naming the field if SB3 lacks one)."""
        missing = [f for f in self.STATE_FIELDS if not hasattr(self, f)]
        if missing:
            raise AttributeError(f"{type(self).__name__} has no {', '.join(missing)}: the algorithm's state cannot be "
                                 "saved (a Stable-Baselines3 outside the tested range? see pyproject.toml)")
        return {f: getattr(self, f) for f in self.STATE_FIELDS}

    def load_algorithm_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`algorithm_state`'s fields; a checkpoint without one of them is refused (``KeyError``)."""
        missing = [f for f in self.STATE_FIELDS if f not in state]
        if missing:
            raise KeyError(f"the checkpoint holds no {', '.join(missing)} for {type(self).__name__}: it was written "
                           "by another version")
        for f in self.STATE_FIELDS:
            setattr(self, f, state[f])

    policy: Any
    policy_kwargs: dict[str, Any]
    device: torch.device
    env: Any

    def inject_heads(self) -> None:
        """Plasticity injection on the policy's heads, recorded so that ``load`` rebuilds the same structure."""
        self.policy.inject_heads()
        self.policy_kwargs["injections"] = self.policy.injections

    def sync_target(self) -> None:
        """Make derived copies of the trained network agree with it again (nothing to do for PPO)."""

    def record_pending(self) -> None:
        """Record the values kept on the device since the last log row (called right before a row is written)."""

    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        """Actions for a batch of observations on the agent's device (evaluation), without leaving the device."""
        raise NotImplementedError

    def _setup_learn(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._setup_learn(*args, **kwargs)  # type: ignore[misc]
        if not isinstance(self._last_episode_starts, Tensor):  # SB3 sets a numpy array at a reset
            self._last_episode_starts = torch.as_tensor(self._last_episode_starts, device=self.device)
        env = unwrap(self.env)
        if isinstance(env, GymnasiumVecEnv):
            env.num_timesteps = self.num_timesteps  # episodes are stamped with the agent's step count
        self._sync_free = sync_free(self.device)  # the GPU form of device-dependent branches (plasticity.sync)
        return result

    _sync_free: bool = False

    _last_episode_starts: Any
    num_timesteps: int
