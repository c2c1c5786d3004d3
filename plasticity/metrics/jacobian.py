"""Layer Jacobians and the isometry gap (Rosseau et al., ICML 2026).

For a hidden layer ``h = φ(W x + b)`` the Jacobian of its output w.r.t. its input is ``J(x) = D(x) W`` with
``D = diag(φ'(pre))``. For ReLU ``φ' = 1[h > 0]``, read from the captured activations (so no pre-activations
are needed); for conv layers the same holds per output position with ``W`` the kernel matrix
``(C_out, C_in·kh·kw)`` (the Jacobian of one output position w.r.t. its receptive field). **Dynamical
isometry** means these singular values are near 1; the **isometry gap** is their RMS distance from one,
``√(mean_i (σ_i − 1)²)`` over all samples (the audit note's "RMS distance from one"; 0 for an orthogonal layer
with all units active).

:func:`input_output_singular_values` gives the end-to-end Jacobian ``∂f/∂x`` singular values on a few inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def layer_jacobian_singular_values(weight: Tensor, h: Tensor, max_positions: int = 8) -> Tensor:
    """Singular values of ``D·W``, ``D = diag(1[h > 0])``, for every sample (and up to ``max_positions`` positions).

    ``σ(DW)² = eig(D·WWᵀ·D)``: one Gram product per layer, then a small symmetric eigenproblem per sample
    (instead of an SVD of the whole weight per sample); ``min(out, in)`` values per sample.

    :param weight: the layer's weight (Linear ``(out, in)`` or Conv2d ``(C_out, C_in, kh, kw)``).
    :param h: the layer's activations ``(N, units, positions)`` as captured (post-ReLU).
    """
    w = weight.detach().reshape(weight.shape[0], -1).double().cpu()
    h = h.detach().cpu()
    if h.ndim == 2:
        h = h.unsqueeze(-1)
    positions = h.shape[2]
    if positions > max_positions:
        h = h[:, :, torch.linspace(0, positions - 1, max_positions).round().long()]
    masks = (h > 0).double().permute(0, 2, 1).reshape(-1, w.shape[0])  # (samples·positions, units)
    gram = w @ w.T
    eig = torch.linalg.eigvalsh(masks.unsqueeze(2) * gram.unsqueeze(0) * masks.unsqueeze(1))
    keep = min(w.shape)  # DW has min(out, in) singular values; the rest of D·G·D's eigenvalues are 0
    return eig[:, -keep:].clamp_min(0.0).sqrt().flatten()


def isometry_gap(sv: Tensor) -> float:
    """``√(mean (σ − 1)²)``."""
    return float(((sv.detach().double() - 1.0) ** 2).mean().sqrt())


def input_output_singular_values(fn: Callable[[Tensor], Tensor], x: Tensor, max_samples: int = 8) -> Tensor:
    """Singular values of ``∂f(x_n)/∂x_n`` (outputs × flattened input) for up to ``max_samples`` inputs."""
    xs = x[:max_samples].detach().float()
    jac = torch.func.vmap(torch.func.jacrev(lambda xi: fn(xi.unsqueeze(0)).squeeze(0)))(xs)
    return torch.linalg.svdvals(jac.reshape(jac.shape[0], jac.shape[1], -1).double().cpu()).flatten()


def output_module(fn: Callable[[Tensor], Tensor], owner: nn.Module) -> nn.Module:
    """Wrap ``fn(x)`` (e.g. logits ⊕ value of a policy) as a module whose parameters are ``owner``'s."""
    return _Outputs(fn, owner)


class _Outputs(nn.Module):
    def __init__(self, fn: Callable[[Tensor], Tensor], owner: nn.Module):
        super().__init__()
        self.owner = owner
        self._fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self._fn(x)
