"""The regularizer interface shared by every parameter-space method.

A :class:`Regularizer` is a penalty ``R(θ)`` on one parameter tensor with its gradient in closed form. An
optimizer (:class:`plasticity.optim.RegularizedAdam`) applies it in one of two ways:

* **coupled** — ``g ← g + coef·∇R(θ)`` before Adam's moments, i.e. the penalty ``coef·R`` is part of the loss
  and Adam rescales its gradient like any other;
* **decoupled** — after Adam's step, ``θ ← θ − lr·coef·∇R(θ)``, a plain descent step that follows the current
  learning rate and that Adam never rescales (as AdamW does with weight decay).

Per-parameter state (initial weights, power-iteration vectors, …) lives in the optimizer's ``state[p]``
under the regularizer's ``key`` prefix, so ``optimizer.state_dict()`` round-trips it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor


def as_matrix(p: Tensor) -> Tensor:
    """A weight as a matrix ``(out, in)``: conv kernels ``(C_out, C_in, kh, kw)`` become ``(C_out, C_in·kh·kw)``."""
    return p.reshape(p.shape[0], -1)


class Regularizer:
    """Base class. Subclasses set ``key`` and implement :meth:`penalty` and :meth:`grad`.

    :param coef: the strength λ (≥ 0); 0 turns the regularizer off exactly.
    :param coupled: add ``coef·∇R`` to the gradient (True) or take a decoupled step (False).
    """

    key = "reg"
    matrices_only = False  # True: only tensors with ndim ≥ 2 (weights, conv kernels), never biases

    def __init__(self, coef: float, coupled: bool = True):
        if not coef >= 0.0:
            raise ValueError(f"{type(self).__name__}: coef={coef!r} must be >= 0")
        self.coef = float(coef)
        self.coupled = bool(coupled)

    def applies_to(self, p: Tensor) -> bool:
        return p.ndim >= 2 if self.matrices_only else True

    def init_state(self, p: Tensor) -> dict[str, Tensor]:
        """State created when the optimizer is built (e.g. a copy of the initial weights)."""
        return {}

    def penalty(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        """``R(p)``, differentiable in ``p`` (for logging, or to add to a loss yourself)."""
        raise NotImplementedError

    def grad(self, p: Tensor, state: dict[str, Any]) -> Tensor:
        """``∇R(p)`` in closed form, same shape as ``p`` (may advance internal state, e.g. power iteration)."""
        raise NotImplementedError

    def reset_entries(self, p: Tensor, state: dict[str, Any], index: tuple | Tensor) -> None:
        """Called when a unit method re-initializes ``p[index]`` (e.g. L2-Init re-anchors those entries); ``index``
        may be a boolean mask of ``p``'s shape (write it with ``where``/``masked_fill``: a boolean index reads the
        mask on the host)."""

    def coupled_grad(self, p: Tensor, state: dict[str, Any], grad: Tensor) -> Tensor:
        """``grad + coef·∇R(p)`` as a new tensor (``grad`` is left alone); subclasses may fuse it."""
        return grad.add(self.grad(p, state), alpha=self.coef)

    def decoupled_step(self, p: Tensor, state: dict[str, Any], step_size: float) -> None:
        """``p ← p − step_size·∇R(p)`` in place (``step_size = lr·coef``); subclasses may fuse it."""
        p.add_(self.grad(p, state), alpha=-step_size)

    def _state(self, state: dict[str, Any], name: str) -> Tensor:
        return state[f"{self.key}_{name}"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(coef={self.coef}, coupled={self.coupled})"

