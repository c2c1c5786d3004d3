"""The isometry (Gram) regularizer of AdamO (Rosseau et al., ICML 2026, Eq. 16; the authors' code:
Arosseau/nanochat-isometry, bordeauxred/rejax).

For a weight ``W ∈ R^{out×in}`` (conv kernels reshaped to ``(C_out, C_in·kh·kw)``), on the smaller side::

    R(W) = ||WᵀW − s·I||²_F     if out ≥ in    (tall/square: orthonormal columns)    ∇R = 4·W(WᵀW − s·I)
    R(W) = ||WWᵀ − s·I||²_F     if out < in    (wide: orthonormal rows)               ∇R = 4·(WWᵀ − s·I)W

``s = target_scale`` (1 in the paper; 2 compensates ReLU's halving of the second moment), or ``"auto"``: ``s = out/in``
for tall layers (``out > in``) and 1 otherwise — the AdamO authors' RL code (its ``rect_scale`` option), which
lets an expanding layer keep the scale of its input. With
``normalize_by_dim`` both are divided by the Gram dimension ``min(out, in)`` so λ does not depend on width.
Conventions differ by a factor 2 between implementations (the authors' nanochat port uses ``½||·||²``):
our λ equals theirs / 2. The gradient costs one Gram product, ``O(min(out,in)²·max(out,in))``; no SVD.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from plasticity.regularizers.base import Regularizer, as_matrix


def gram_deviation(w: Tensor, target_scale: float = 1.0) -> Tensor:
    """``Gram − s·I`` on the smaller side of ``w`` (a matrix)."""
    out_dim, in_dim = w.shape
    gram = w.T @ w if out_dim >= in_dim else w @ w.T
    return gram - target_scale * torch.eye(gram.shape[0], dtype=w.dtype, device=w.device)


class Isometry(Regularizer):
    """AdamO's penalty ``‖WᵀW − sI‖²_F`` (tall) / ``‖WWᵀ − sI‖²_F`` (wide), ``∇R = 4W(WᵀW − sI)`` / ``4(WWᵀ − sI)W``;
    decoupled by default (AdamO), coupled for the Parseval-style ablation. See the module docstring."""
    key = "iso"
    matrices_only = True

    def __init__(self, coef: float, coupled: bool = False, target_scale: float | str = 1.0,
                 normalize_by_dim: bool = False):
        super().__init__(coef, coupled)
        if target_scale != "auto" and not (isinstance(target_scale, int | float) and target_scale > 0):
            raise ValueError(f"Isometry: target_scale={target_scale!r} must be > 0 or 'auto' (out/in for tall layers)")
        self.target_scale = target_scale if target_scale == "auto" else float(target_scale)
        self.normalize_by_dim = bool(normalize_by_dim)

    def _scale(self, w: Tensor) -> float:
        return 1.0 / min(w.shape) if self.normalize_by_dim else 1.0

    def target(self, w: Tensor) -> float:
        """``s`` for the matrix ``w``: ``target_scale``, or with ``"auto"`` ``out/in`` if ``out > in`` else 1."""
        if self.target_scale == "auto":
            return w.shape[0] / w.shape[1] if w.shape[0] > w.shape[1] else 1.0
        return self.target_scale

    def penalty(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        w = as_matrix(p)
        return gram_deviation(w, self.target(w)).square().sum() * self._scale(w)

    def grad(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        w = as_matrix(p)
        g = gram_deviation(w, self.target(w))
        grad = w @ g if w.shape[0] >= w.shape[1] else g @ w
        return grad.mul_(4.0 * self._scale(w)).reshape(p.shape)

    def _gram_times(self, w: Tensor, base: Tensor, beta: float, alpha: float) -> Tensor:
        """``beta·base + alpha·(WWᵀ)W`` (wide) or ``beta·base + alpha·W(WᵀW)`` (tall): one Gram, one addmm."""
        if w.shape[0] >= w.shape[1]:
            return torch.addmm(base, w, w.T @ w, beta=beta, alpha=alpha)
        return torch.addmm(base, w @ w.T, w, beta=beta, alpha=alpha)

    def coupled_grad(self, p: Tensor, state: dict[str, Any], grad: Tensor) -> Tensor:
        # g + 4c(Gram − sI)W = (g − 4cs·W) + 4c·Gram·W
        w = as_matrix(p)
        c = 4.0 * self.coef * self._scale(w)
        base = as_matrix(grad).add(w, alpha=-c * self.target(w))
        return self._gram_times(w, base, 1.0, c).view(p.shape)

    def decoupled_step(self, p: Tensor, state: dict[str, Any], step_size: float) -> None:
        # W − c·4(Gram − sI)W = (1 + 4cs)·W − 4c·Gram·W
        w = as_matrix(p)
        c = 4.0 * step_size * self._scale(w)
        p.copy_(self._gram_times(w, w, 1.0 + c * self.target(w), -c).view(p.shape))
