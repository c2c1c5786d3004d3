"""Observation and reward normalization with running statistics, on the agent's device: SB3's ``VecNormalize``.

With ``RunningMeanStd`` (Chan et al.'s parallel update, count starting at 1e-4; SB3
``common/running_mean_std.py``) over every observation handed to the agent (reset ones included) and over the
discounted return ``Rₜ = γ·Rₜ₋₁ + rₜ`` (reset to 0 after an episode end):

    obs' = clip((obs − μ_obs) / √(σ²_obs + ε), −c, c)
    r'   = clip(r / √(σ²_R + ε), −c, c)                       (no centring: the sign of a reward is kept)

ε = 1e-8, c = 10 (SB3's defaults). The agent sees ``obs'`` and ``r'``; the episode returns we log, evaluate and
report are the env's raw rewards. The statistics go on across task switches (a new task shifts them as a new
game shifts the network's inputs: part of what plasticity methods must absorb), are frozen during evaluation, and
are part of the checkpoint, so a resumed run continues with the same scales. Everything stays a tensor on the
device: no host synchronization per step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class RunningMeanStd:
    """Running mean and (population) variance of batches of ``shape``-shaped samples, in float64."""

    def __init__(self, shape: tuple[int, ...], device: torch.device | str = "cpu", epsilon: float = 1e-4):
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = epsilon

    def update(self, batch: Tensor) -> None:
        """Fold in ``batch`` (first dimension = samples): m₂ = m_a + m_b + δ²·n_a·n_b/(n_a + n_b)."""
        batch = batch.to(torch.float64)
        n = batch.shape[0]
        batch_mean, batch_var = batch.mean(0), batch.var(0, unbiased=False)
        delta, total = batch_mean - self.mean, self.count + n
        self.mean = self.mean + delta * (n / total)
        self.var = (self.var * self.count + batch_var * n + delta.square() * (self.count * n / total)) / total
        self.count = total

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.cpu(), "var": self.var.cpu(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.mean.device
        self.mean, self.var, self.count = state["mean"].to(device), state["var"].to(device), float(state["count"])


class Normalizer:
    """The observation and reward scaling of one training env (see the module docstring for the formulas).

    :param obs_shape: one observation's shape.
    :param num_envs: sub-envs (one discounted return each).
    :param observations: normalize observations.
    :param rewards: scale rewards by the running std of the discounted return.
    :param gamma: the discount of that return (the agent's γ).
    :param clip: c, the bound of the normalized values.
    :param epsilon: ε under the square roots.
    """

    def __init__(self, obs_shape: tuple[int, ...], num_envs: int, device: torch.device | str = "cpu",
                 observations: bool = True, rewards: bool = True, gamma: float = 0.99, clip: float = 10.0,
                 epsilon: float = 1e-8):
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma={gamma!r}: must be in [0, 1]")
        if clip <= 0:
            raise ValueError(f"clip={clip!r}: must be > 0")
        self.observations, self.rewards = observations, rewards
        self.gamma, self.clip, self.epsilon = gamma, clip, epsilon
        self.obs_rms = RunningMeanStd(tuple(obs_shape), device)
        self.ret_rms = RunningMeanStd((), device)
        self.returns = torch.zeros(num_envs, dtype=torch.float64, device=device)
        self.training = True  # False: normalize with the statistics as they are, never update them

    def observe(self, obs: Tensor) -> Tensor:
        """``obs'`` for a batch of new observations, updating the statistics first (SB3's order) when training."""
        if not self.observations:
            return obs
        if self.training:
            self.obs_rms.update(obs)
        return self.normalize_obs(obs)

    def normalize_obs(self, obs: Tensor) -> Tensor:
        """``obs'`` without updating (final observations, evaluation)."""
        if not self.observations:
            return obs
        scaled = (obs.to(torch.float64) - self.obs_rms.mean) / torch.sqrt(self.obs_rms.var + self.epsilon)
        return scaled.clamp_(-self.clip, self.clip).to(torch.float32)

    def reward(self, rewards: Tensor, dones: Tensor) -> Tensor:
        """``r'`` for one step's rewards; ``dones`` ends the discounted returns after the update."""
        if not self.rewards:
            return rewards
        if self.training:
            self.returns = self.returns * self.gamma + rewards.to(torch.float64)
            self.ret_rms.update(self.returns)
        scaled = (rewards.to(torch.float64) / torch.sqrt(self.ret_rms.var + self.epsilon)).clamp_(-self.clip,
                                                                                                   self.clip)
        self.returns = self.returns.masked_fill(dones, 0.0)
        return scaled.to(torch.float32)

    def reset(self) -> None:
        """A new start of every sub-env (the env's ``reset``): the discounted returns restart (a frozen view has
        none of its own, and leaves the training env's alone)."""
        if self.training:
            self.returns = torch.zeros_like(self.returns)

    def frozen(self) -> Normalizer:
        """A view for evaluation: the same statistics, never updated, no reward scaling."""
        view = object.__new__(Normalizer)
        view.__dict__.update(self.__dict__)
        view.training, view.rewards = False, False
        return view

    def state_dict(self) -> dict[str, Any]:
        return {"obs_rms": self.obs_rms.state_dict(), "ret_rms": self.ret_rms.state_dict(),
                "returns": self.returns.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.obs_rms.load_state_dict(state["obs_rms"])
        self.ret_rms.load_state_dict(state["ret_rms"])
        self.returns = state["returns"].to(self.returns.device)
