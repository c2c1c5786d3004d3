"""τ-dormant units (Sokar et al. 2023, ReDo; methods.md §6.3, §7).

For a layer with activations ``h`` of shape ``(N, units, positions)`` (positions = H·W for a conv channel)::

    s_i = mean_{n,pos} |h_i| / ( (1/H) Σ_k mean_{n,pos} |h_k| )

A unit is τ-dormant iff ``s_i ≤ τ``; for τ = 0 iff ``s_i`` is zero (up to float tolerance). If every unit is
silent the layer average is 0 and every score is 0 (all dormant).
"""

from __future__ import annotations

import torch
from torch import Tensor


def dormant_scores(h: Tensor) -> Tensor:
    """``s_i`` per unit from activations ``(N, units, positions)`` (or ``(N, units)``)."""
    if h.ndim == 2:
        h = h.unsqueeze(-1)
    per_unit = h.abs().mean(dim=(0, 2))
    return per_unit / per_unit.mean().clamp_min(torch.finfo(per_unit.dtype).tiny)


def dormant_mask(h: Tensor, tau: float) -> Tensor:
    """Boolean mask of the τ-dormant units."""
    if tau < 0:
        raise ValueError(f"tau={tau!r} must be >= 0")
    scores = dormant_scores(h)
    if tau == 0:
        return torch.isclose(scores, torch.zeros_like(scores))
    return scores <= tau
