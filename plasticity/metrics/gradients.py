"""Gradient norms (Abbas et al. 2023 use the l0 and l1 norms because l2 hides a collapse of the gradient).

``grad_l2 = ‖g‖₂``, ``grad_l1 = Σ|g_i|``, ``grad_l0`` = the **fraction** of non-zero entries (the count
divided by the number of parameters, so networks of different sizes compare), over the given tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


def gradient_norms(grads: Sequence[Tensor]) -> dict[str, float]:
    """``grad_l2 = ‖g‖₂``, ``grad_l1 = Σ|g_i|`` and ``grad_l0`` = fraction of non-zero entries (Abbas et al. 2023)."""
    grads = [g.detach() for g in grads if g is not None]
    n = max(1, sum(g.numel() for g in grads))
    return {"grad_l2": sum(float(g.pow(2).sum()) for g in grads) ** 0.5,
            "grad_l1": sum(float(g.abs().sum()) for g in grads),
            "grad_l0": sum(int((g != 0).sum()) for g in grads) / n}
