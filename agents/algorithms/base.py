"""What PPO and DQN share: the plasticity methods' entry points and the tensor rollout's bookkeeping."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from agents.algorithms.vec_env import GymnasiumVecEnv, unwrap


class PlasticAlgorithm:
    """Mixin for SB3 algorithms whose env is a :class:`GymnasiumVecEnv` handing tensors on the agent's device."""

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
        return result

    _last_episode_starts: Any
    num_timesteps: int
