"""τ-dormant units (Sokar, Agarwal, Castro & Evci, ICML 2023 — ReDo).

For a layer with activations ``h`` of shape ``(N, units)``, ``(N, units, positions)`` or a conv map ``(N, C, H, W)``
(reduced per channel, as ReDo's code does: positions = H·W)::

    s_i = mean_{n,pos} |h_i| / ( (1/H) Σ_k mean_{n,pos} |h_k| )

A unit is τ-dormant iff ``s_i ≤ τ``; for τ = 0 iff ``s_i`` is zero (up to float tolerance). If every unit is
silent the layer average is 0 and every score is 0 (all dormant).
"""

from __future__ import annotations

import torch
from torch import Tensor


def as_units(h: Tensor) -> Tensor:
    """Activations as ``(N, units, positions)``: ``(N, units)`` gets one position, a conv map ``(N, C, H, W)``
    becomes ``(N, C, H·W)``; any other shape is refused (a silent reshape would give a wrong number)."""
    if not isinstance(h, Tensor) or h.ndim not in (2, 3, 4):
        shape = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
        raise ValueError(f"activations of shape {shape}: expected (N, units), (N, units, positions) or a conv map "
                         "(N, C, H, W)")
    if h.ndim == 2:
        return h.unsqueeze(-1)
    return h.flatten(2) if h.ndim == 4 else h


def mean_magnitude(h: Tensor) -> Tensor:
    """``mean_{n,pos} |h_i|`` per unit (activations of :func:`as_units` shapes)."""
    return as_units(h).abs().mean(dim=(0, 2))


def scores_from_magnitudes(per_unit: Tensor) -> Tensor:
    """``s_i = m_i / mean_k m_k`` from per-unit mean magnitudes ``m``."""
    return per_unit / per_unit.mean().clamp_min(torch.finfo(per_unit.dtype).tiny)


def dormant_scores(h: Tensor) -> Tensor:
    """``s_i`` per unit from activations (:func:`as_units` shapes)."""
    return scores_from_magnitudes(mean_magnitude(h))


def dormant_mask(h: Tensor, tau: float, scores: Tensor | None = None) -> Tensor:
    """Boolean mask of the τ-dormant units (of ``h``, or of given ``scores``)."""
    if tau < 0:
        raise ValueError(f"tau={tau!r} must be >= 0")
    scores = dormant_scores(h) if scores is None else scores
    if tau == 0:
        return torch.isclose(scores, torch.zeros_like(scores))
    return scores <= tau
