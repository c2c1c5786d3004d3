"""A diagonal Gaussian policy's samples, log-probabilities and entropy as SB3 computes them, without the
distribution object.

SB3's ``DiagGaussianDistribution`` builds a ``torch.distributions.Normal`` on every action and every PPO minibatch;
with one env (Dohare et al.'s PPO: a 27-d Ant observation, 8 actions) building it and validating its arguments cost
more than the arithmetic. These functions run torch's own operations in torch's order, so the numbers, the samples
drawn from the global generator and the gradients are bit for bit SB3's (tests/test_speedups.py):

* ``σ = 1 · exp(log σ)`` broadcast to the mean's shape (``proba_distribution``);
* a sample is ``μ + ε·σ`` with ``ε = empty(shape).normal_()`` (``Normal.rsample``), the greedy action ``μ``;
* ``log π(a) = Σ_i −(a_i − μ_i)² / (2σ_i²) − log σ_i − log √(2π)`` (``Normal.log_prob``, summed over actions);
* ``H = Σ_i ½ + ½ log 2π + log σ_i`` (``Normal.entropy``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def scale(mean: Tensor, log_std: Tensor) -> Tensor:
    """``σ`` of every action dimension, the mean's shape."""
    return torch.ones_like(mean) * log_std.exp()


def actions(mean: Tensor, std: Tensor, deterministic: bool) -> Tensor:
    """The mean, or one draw per row from the global generator."""
    if deterministic:
        return mean
    eps = torch.empty(mean.shape, dtype=mean.dtype, device=mean.device).normal_()
    return mean + eps * std


def log_prob(mean: Tensor, std: Tensor, actions: Tensor) -> Tensor:
    """``log π(a)``, summed over the action dimensions."""
    var = std**2
    return (-((actions - mean) ** 2) / (2 * var) - std.log() - LOG_SQRT_2PI).sum(dim=1)


def entropy(std: Tensor) -> Tensor:
    """The entropy, summed over the action dimensions."""
    return (0.5 + 0.5 * math.log(2 * math.pi) + torch.log(std)).sum(dim=1)
