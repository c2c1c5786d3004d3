"""L2 and L2-Init (regenerative) regularization.

* :class:`L2` — ``R(θ) = ½||θ||²``, ``∇R = θ``: with ``coupled=True`` and coefficient ``λ`` this is exactly
  ``torch.optim.Adam(weight_decay=λ)`` (Dohare et al. 2024's PPO+L2 arm); with ``coupled=False`` it is
  AdamW-style decoupled decay ``θ ← θ − lr·λ·θ``.
* :class:`L2Init` — Kumar, Marklund & Van Roy (arXiv 2308.11958):
  ``R(θ) = ||θ − θ₀||²`` (squared, *not* Plasticine's unsquared norm), ``∇R = 2(θ − θ₀)``, with ``θ₀`` the
  parameters when the optimizer was built (the initialization itself, not a resample). The anchor lives for the
  whole run: forgetting Adam's moments (:func:`plasticity.reset_optimizer_state`, the AdamO protocol's reset at
  every switch) keeps it; only entries that are *re-initialized* (CBP, ReDo, a reset) are re-anchored to their
  new values. Which tensors are pulled is a choice between two conventions (``weights_only``):

  - ``False`` (default) — every parameter, biases included: Kumar et al.'s L2 Init;
  - ``True`` — weight matrices and conv kernels only (``ndim ≥ 2``): the AdamO authors' ``compute_l2_init_loss``
    (bordeauxred/rejax ``src/rejax/regularization.py``: Dense kernels, output layer excluded — the output layers
    are left out here by the param groups, e.g. ``regularize_heads=False`` in the agents).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from plasticity.regularizers.base import Regularizer


class L2(Regularizer):
    """``R(θ) = ½‖θ‖²``, ``∇R = θ`` (coupled: torch's ``weight_decay``; decoupled: AdamW-style decay)."""
    key = "l2"

    def penalty(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        return 0.5 * p.square().sum()

    def grad(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        return p.detach().clone()


class L2Init(Regularizer):
    """``R(θ) = ‖θ − θ₀‖²``, ``∇R = 2(θ − θ₀)``, θ₀ = the parameters when the optimizer was built (Kumar et al.).

    :param coef: λ (the authors' ``l2_init_coeff`` maps 1:1: their loss is ``λ·Σ(W − W₀)²`` too).
    :param coupled: add ``λ·∇R`` to the gradient (Kumar et al., the AdamO authors) or take a decoupled step.
    :param weights_only: pull only tensors with ``ndim ≥ 2`` (the AdamO authors' Dense kernels), not biases.
    """
    key = "l2init"

    def __init__(self, coef: float, coupled: bool = True, weights_only: bool = False):
        super().__init__(coef, coupled)
        if not isinstance(weights_only, bool):
            raise TypeError(f"L2Init: weights_only={weights_only!r} must be a bool")
        self.matrices_only = weights_only

    def __repr__(self) -> str:
        return f"L2Init(coef={self.coef}, coupled={self.coupled}, weights_only={self.matrices_only})"

    def init_state(self, p: Tensor) -> dict[str, Tensor]:
        return {f"{self.key}_init": p.detach().clone()}

    def penalty(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        return (p - self._state(state, "init")).square().sum()

    def grad(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        return (p.detach() - self._state(state, "init")).mul_(2.0)

    def reset_entries(self, p: Tensor, state: dict[str, Any], index: tuple | Tensor) -> None:
        if f"{self.key}_init" in state:
            init = self._state(state, "init")
            if isinstance(index, Tensor):  # a boolean mask of p's shape: no host read
                init.copy_(torch.where(index, p.detach(), init))
            else:
                init[index] = p.detach()[index]
