"""L2 and L2-Init (regenerative) regularization.

* :class:`L2` — ``R(θ) = ½||θ||²``, ``∇R = θ``: with ``coupled=True`` and coefficient ``λ`` this is exactly
  ``torch.optim.Adam(weight_decay=λ)`` (Dohare et al. 2024's PPO+L2 arm); with ``coupled=False`` it is
  AdamW-style decoupled decay ``θ ← θ − lr·λ·θ``.
* :class:`L2Init` — Kumar, Marklund & Van Roy (arXiv 2308.11958):
  ``R(θ) = ||θ − θ₀||²`` (squared, *not* Plasticine's unsquared norm), ``∇R = 2(θ − θ₀)``, with ``θ₀`` the
  parameters when the optimizer was built (the initialization itself, not a resample). Applies to biases too.
  When a unit method re-initializes entries (CBP, ReDo), their anchor becomes the new values.
"""

from __future__ import annotations

from typing import Any

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
    """``R(θ) = ‖θ − θ₀‖²``, ``∇R = 2(θ − θ₀)``, θ₀ = the parameters when the optimizer was built (Kumar et al.)."""
    key = "l2init"

    def init_state(self, p: Tensor) -> dict[str, Tensor]:
        return {f"{self.key}_init": p.detach().clone()}

    def penalty(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        return (p - self._state(state, "init")).square().sum()

    def grad(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        return (p.detach() - self._state(state, "init")).mul_(2.0)

    def reset_entries(self, p: Tensor, state: dict[str, Any], index: tuple) -> None:
        if f"{self.key}_init" in state:
            self._state(state, "init")[index] = p.detach()[index]
