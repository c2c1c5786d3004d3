"""Spectral regularization (Lewandowski et al., arXiv 2406.06811 / ICLR 2025).

Keeps each weight matrix's largest singular value near 1::

    R(W) = (σ_max(W)^k − 1)²,     ∇R = 2·(σ^k − 1)·k·σ^{k−1} · u vᵀ

where ``u, v`` are the top singular vectors, so ``∂σ/∂W = u vᵀ``. ``k`` is exposed (default 2, i.e. the
``(σ² − 1)²`` of the authors' co-author code; the paper's exact k is unverified). σ is estimated by power
iteration with **persistent** ``u, v`` kept in the optimizer state (as ``torch.nn.utils.spectral_norm`` does):
``init_iterations`` when the optimizer is built, then ``power_iterations`` per step, so one iteration per step
tracks σ closely. Conv kernels are reshaped to ``(C_out, C_in·kh·kw)``. Biases are not regularized (the
paper's bias treatment is unverified). :meth:`Spectral.penalty` is differentiable — ``σ = uᵀWv`` with ``u, v``
held fixed — so the gradient flows if you add it to a loss yourself (a ``no_grad`` σ would silently give none).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn.functional import normalize

from plasticity.regularizers.base import Regularizer, as_matrix


class Spectral(Regularizer):
    """``R(W) = (σ_max(W)^k − 1)²`` with σ from persistent power iteration (Lewandowski et al. 2024)."""
    key = "spectral"
    matrices_only = True

    def __init__(self, coef: float, coupled: bool = True, exponent: float = 2.0, power_iterations: int = 1,
                 init_iterations: int = 30, seed: int = 0):
        super().__init__(coef, coupled)
        if not exponent >= 1:
            raise ValueError(f"Spectral: exponent (k)={exponent!r} must be >= 1")
        if power_iterations < 1:
            raise ValueError(f"Spectral: power_iterations={power_iterations!r} must be >= 1")
        self.exponent = float(exponent)
        self.power_iterations = int(power_iterations)
        self.init_iterations = int(init_iterations)
        self.seed = int(seed)

    @torch.no_grad()
    def _iterate(self, w: Tensor, u: Tensor, v: Tensor, n: int) -> None:
        for _ in range(n):
            v.copy_(normalize(w.T @ u, dim=0, eps=1e-12))
            u.copy_(normalize(w @ v, dim=0, eps=1e-12))

    def init_state(self, p: Tensor) -> dict[str, Tensor]:
        w = as_matrix(p.detach())
        gen = torch.Generator(device="cpu").manual_seed(self.seed + w.shape[0] * 7919 + w.shape[1])
        u = normalize(torch.randn(w.shape[0], generator=gen, dtype=w.dtype), dim=0).to(w.device)
        v = torch.empty(w.shape[1], dtype=w.dtype, device=w.device)
        self._iterate(w, u, v, self.init_iterations)
        return {f"{self.key}_u": u, f"{self.key}_v": v}

    def sigma(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        """The current estimate ``uᵀWv`` (differentiable in ``p``)."""
        return self._state(state, "u") @ as_matrix(p) @ self._state(state, "v")

    def penalty(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        return (self.sigma(p, state) ** self.exponent - 1.0) ** 2

    def grad(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        w = as_matrix(p.detach())
        u, v = self._state(state, "u"), self._state(state, "v")
        self._iterate(w, u, v, self.power_iterations)
        sigma = u @ w @ v
        k = self.exponent
        scale = 2.0 * (sigma**k - 1.0) * k * sigma ** (k - 1.0)
        return torch.outer(u, v).mul_(scale).reshape(p.shape)
