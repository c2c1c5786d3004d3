"""Rollout and replay buffers whose arrays are tensors on the agent's device, filled from tensors.

* :class:`DeviceRolloutBuffer` is SB3's ``RolloutBuffer`` (same ``add``/``get`` contract, same GAE, same
  minibatches: the permutation is SB3's ``np.random.permutation`` over its env-major flattening, float32
  observations) with its arrays on the device and minibatches gathered there — no numpy array and no host↔device
  copy but one index per rollout. (Observations stored as float32 are converted once, when stored; kept as bool
  they were converted again in every epoch, which made a PPO update 8 % slower on the CPU.)
* :class:`DeviceReplayBuffer` is SB3's ``ReplayBuffer`` with ``handle_timeout_termination`` (a truncated episode
  is stored as not done, so its target bootstraps), observations in the env's dtype, sampled with torch's
  generator on the device. ``optimize_memory_usage`` is not offered.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer, RolloutBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples, RolloutBufferSamples
from torch import Tensor

from plasticity.sync import sync_free


def torch_dtype(space: spaces.Space) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=space.dtype)).dtype


def rows(t: Tensor, index: Tensor) -> Tensor:
    """Entries ``index`` of a ``(steps, envs, …)`` array, counted over its flattened ``steps × envs``."""
    return t.reshape(t.shape[0] * t.shape[1], *t.shape[2:]).index_select(0, index)


class DeviceRolloutBuffer(RolloutBuffer):
    def __init__(self, buffer_size: int, observation_space: spaces.Space, action_space: spaces.Space,
                 device: torch.device | str = "auto", gae_lambda: float = 1, gamma: float = 0.99, n_envs: int = 1):
        BaseBuffer.__init__(self, buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.gae_lambda, self.gamma = gae_lambda, gamma
        shape = (self.buffer_size, self.n_envs)
        self.observations = torch.zeros((*shape, *self.obs_shape), dtype=torch.float32, device=self.device)
        self.actions = torch.zeros((*shape, self.action_dim), dtype=torch.float32, device=self.device)
        for name in ("rewards", "returns", "episode_starts", "values", "log_probs", "advantages"):
            setattr(self, name, torch.zeros(shape, dtype=torch.float32, device=self.device))
        self.generator_ready = False
        self.pos, self.full = 0, False

    def reset(self) -> None:
        self.pos, self.full, self.generator_ready = 0, False, False  # every slot is written before it is read

    def add(self, obs: Tensor, action: Tensor, reward: Tensor, episode_start: Tensor, value: Tensor,
            log_prob: Tensor) -> None:
        self.observations[self.pos].copy_(obs.reshape(self.n_envs, *self.obs_shape))
        self.actions[self.pos].copy_(action.reshape(self.n_envs, self.action_dim))
        self.rewards[self.pos].copy_(reward)
        self.episode_starts[self.pos].copy_(episode_start)
        self.values[self.pos].copy_(value.flatten())
        self.log_probs[self.pos].copy_(log_prob.flatten())
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True

    def compute_returns_and_advantage(self, last_values: Tensor, dones: Tensor) -> None:
        """GAE(λ) exactly as SB3 computes it (Schulman et al. 2016), on the device."""
        last_values = last_values.flatten()
        last_gae_lam = torch.zeros_like(last_values)
        for step in reversed(range(self.buffer_size)):
            if step == self.buffer_size - 1:
                next_non_terminal = 1.0 - dones.float()
                next_values = last_values
            else:
                next_non_terminal = 1.0 - self.episode_starts[step + 1]
                next_values = self.values[step + 1]
            delta = self.rewards[step] + self.gamma * next_values * next_non_terminal - self.values[step]
            last_gae_lam = delta + self.gamma * self.gae_lambda * next_non_terminal * last_gae_lam
            self.advantages[step] = last_gae_lam
        torch.add(self.advantages, self.values, out=self.returns)

    def get(self, batch_size: int | None = None) -> Generator[RolloutBufferSamples, None, None]:
        assert self.full, ""
        total = self.buffer_size * self.n_envs
        indices = np.random.permutation(total)  # SB3's draw, over its env-major flattening of (step, env)
        storage = (indices % self.buffer_size) * self.n_envs + indices // self.buffer_size
        order = torch.as_tensor(storage, device=self.device)
        batch_size = total if batch_size is None else batch_size
        for start in range(0, total, batch_size):
            yield self._get_samples(order[start:start + batch_size])

    def _get_samples(self, batch_inds: Tensor, env: Any = None) -> RolloutBufferSamples:
        return RolloutBufferSamples(*(rows(t, batch_inds) for t in (self.observations, self.actions, self.values,
                                                                    self.log_probs, self.advantages, self.returns)))


class DeviceReplayBuffer(BaseBuffer):
    def __init__(self, buffer_size: int, observation_space: spaces.Space, action_space: spaces.Space,
                 device: torch.device | str = "auto", n_envs: int = 1, optimize_memory_usage: bool = False,
                 handle_timeout_termination: bool = True):
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        if optimize_memory_usage:
            raise ValueError("optimize_memory_usage=True is not offered by the device replay buffer")
        self.sync_free = sync_free(self.device)
        self.buffer_size = max(buffer_size // n_envs, 1)
        shape = (self.buffer_size, self.n_envs)
        obs_dtype = torch_dtype(observation_space)
        self.observations = torch.zeros((*shape, *self.obs_shape), dtype=obs_dtype, device=self.device)
        self.next_observations = torch.zeros_like(self.observations)
        action_dtype = torch.long if isinstance(action_space, spaces.Discrete) else torch.float32
        self.actions = torch.zeros((*shape, self.action_dim), dtype=action_dtype, device=self.device)
        self.rewards = torch.zeros(shape, dtype=torch.float32, device=self.device)
        self.dones = torch.zeros(shape, dtype=torch.float32, device=self.device)

    def add(self, obs: Tensor, next_obs: Tensor, action: Tensor, reward: Tensor, done: Tensor,
            ended: Tensor | None = None, final_obs: Tensor | None = None) -> None:
        """One vector step; ``done`` is true only where the game ended (a cut episode bootstraps). Where ``ended``,
        the next observation is ``final_obs`` (the episode's last one; ``next_obs`` is already the next episode's)."""
        self.observations[self.pos].copy_(obs.reshape(self.n_envs, *self.obs_shape))
        slot = self.next_observations[self.pos]
        slot.copy_(next_obs.reshape(self.n_envs, *self.obs_shape))
        if ended is not None:
            if self.sync_free:  # fixed shapes, no host read (plasticity.sync)
                slot.copy_(torch.where(ended.view(-1, *([1] * len(self.obs_shape))), final_obs, slot))
            else:
                rows = ended.nonzero().squeeze(1)
                if rows.numel():
                    slot[rows] = final_obs[rows]
        self.actions[self.pos].copy_(action.reshape(self.n_envs, self.action_dim))
        self.rewards[self.pos].copy_(reward)
        self.dones[self.pos].copy_(done)
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full, self.pos = True, 0

    def sample(self, batch_size: int, env: Any = None) -> ReplayBufferSamples:
        """Uniform over the stored transitions (SB3's rule: a step, then an env), with torch's generator."""
        upper = self.buffer_size if self.full else self.pos
        index = torch.randint(0, upper, (batch_size,), device=self.device) * self.n_envs
        if self.n_envs > 1:
            index += torch.randint(0, self.n_envs, (batch_size,), device=self.device)
        return self._get_samples(index)

    def _get_samples(self, batch_inds: Tensor, env: Any = None) -> ReplayBufferSamples:
        return ReplayBufferSamples(rows(self.observations, batch_inds), rows(self.actions, batch_inds),
                                   rows(self.next_observations, batch_inds), rows(self.dones, batch_inds).unsqueeze(1),
                                   rows(self.rewards, batch_inds).unsqueeze(1))

    # -- checkpoints: the filled part, bool arrays bit-packed ------------------------------------------------------
    ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones")

    def state_dict(self) -> dict[str, Any]:
        size = self.buffer_size if self.full else self.pos
        arrays = {}
        for name in self.ARRAYS:
            part = getattr(self, name)[:size].cpu().numpy()
            arrays[name] = (np.packbits(part, axis=-1), part.shape) if part.dtype == bool else (part, None)
        return {"pos": self.pos, "full": self.full, "size": size, "arrays": arrays}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = state["size"]
        for name, (data, shape) in state["arrays"].items():
            values = np.unpackbits(data, axis=-1, count=shape[-1]).astype(bool) if shape is not None else data
            getattr(self, name)[:size].copy_(torch.as_tensor(values))
        self.pos, self.full = state["pos"], state["full"]
