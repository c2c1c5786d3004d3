"""A categorical policy's samples, log-probabilities and entropy as SB3 computes them, without the distribution object.

SB3's ``CategoricalDistribution`` builds a ``torch.distributions.Categorical`` on every action and every PPO
minibatch; its argument validation and lazy properties cost more than the arithmetic at MinAtar's sizes (64 × 6
logits: ≈ 150 vs 55 µs per action, 1 thread). These functions run torch's own operations in torch's order, so
the numbers, the samples drawn from the global generator and the gradients are bit for bit SB3's (tested):

* logits ``ℓ ← ℓ − logsumexp(ℓ)`` (``Categorical.__init__``), probabilities ``p = softmax(ℓ)``;
* ``log π(a) = ℓ_a``, ``H = −Σ_a max(ℓ_a, float_min) · p_a`` (``Categorical.entropy``);
* a sample is ``multinomial(p, 1, replacement=True)``, the greedy action ``argmax p``.

Torch's validation (finite logits) is skipped: non-finite logits still stop a run, in ``multinomial`` when acting
and in the non-finite guard after an update.
"""

from __future__ import annotations

import torch
from torch import Tensor


def normalize(logits: Tensor) -> Tensor:
    """Log-probabilities: ``ℓ − logsumexp(ℓ)`` over the last dimension."""
    return logits - logits.logsumexp(dim=-1, keepdim=True)


def log_prob(log_probs: Tensor, actions: Tensor) -> Tensor:
    """``log π(a)`` for integer-valued ``actions`` of the batch's shape (float or integer dtype)."""
    index, log_pmf = torch.broadcast_tensors(actions.long().unsqueeze(-1), log_probs)
    return log_pmf.gather(-1, index[..., :1]).squeeze(-1)


def entropy(log_probs: Tensor, probs: Tensor) -> Tensor:
    """``−Σ_a max(ℓ_a, float_min) · p_a``; the clamp keeps ``0 · −inf`` out of it."""
    return -(torch.clamp(log_probs, min=torch.finfo(log_probs.dtype).min) * probs).sum(-1)


def actions(probs: Tensor, deterministic: bool) -> Tensor:
    """The greedy action or one draw per row from the global generator."""
    if deterministic:
        return torch.argmax(probs, dim=1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, True).T.reshape(probs.shape[:-1])
