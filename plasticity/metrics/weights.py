"""Weight-space statistics (Dohare et al. 2024; Plasticine; Rosseau et al. 2026).

* :func:`weight_magnitude` — Dohare / Kumar: mean ``|w|`` (average L1 per parameter) over the given tensors.
* :func:`distance_from_init` — Plasticine's ``compute_l2_norm_difference``: ``√(Σ(θ − θ₀)² / P)``.
* :func:`update_size` — Dohare: ``Σ|Δθ|`` of one update (and its RMS, ``√(ΣΔθ²/P)``).
* :func:`weight_spectrum` — per matrix (conv kernels as ``(C_out, C_in·kh·kw)``): ``σ_max``, ``σ_min`` (the
  smallest of the ``min(out, in)`` singular values), the condition number ``σ_max/σ_min``, and the isometry
  paper's Gram deviation ``‖Gram − I‖_F`` on the smaller side (rejax's "Gram deviation"; AdamO drives it to 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from plasticity.metrics.rank import singular_values
from plasticity.regularizers.isometry import gram_deviation


def weight_magnitude(params: Sequence[Tensor]) -> float:
    """Mean ``|w|`` over all entries of ``params`` (Dohare; Kumar et al.)."""
    total = sum(float(p.detach().abs().sum()) for p in params)
    return total / max(1, sum(p.numel() for p in params))


def distance_from_init(params: Sequence[Tensor], initial: Sequence[Tensor]) -> float:
    """``√(Σ(θ − θ₀)² / P)`` over ``params`` and their initial values (Plasticine)."""
    sq = sum(float((p.detach() - q.to(p.device)).pow(2).sum()) for p, q in zip(params, initial, strict=True))
    return (sq / max(1, sum(p.numel() for p in params))) ** 0.5


def update_size(before: Sequence[Tensor], after: Sequence[Tensor]) -> dict[str, float]:
    """One update's ``update_l1 = Σ|Δθ|`` (Dohare) and ``update_rms = √(ΣΔθ²/P)``."""
    l1 = sum(float((a - b).abs().sum()) for a, b in zip(after, before, strict=True))
    sq = sum(float((a - b).pow(2).sum()) for a, b in zip(after, before, strict=True))
    n = max(1, sum(p.numel() for p in before))
    return {"update_l1": l1, "update_rms": (sq / n) ** 0.5}


def weight_spectrum(weight: Tensor) -> dict[str, float]:
    """``sigma_max``, ``sigma_min``, ``condition`` and ``gram_deviation = ‖Gram − I‖_F`` of one weight (as a matrix)."""
    w = weight.detach().reshape(weight.shape[0], -1).double()
    sv = singular_values(w)
    smax, smin = float(sv[0]), float(sv[-1])
    return {"sigma_max": smax, "sigma_min": smin, "condition": smax / smin if smin > 0 else float("inf"),
            "gram_deviation": float(torch.linalg.matrix_norm(gram_deviation(w)))}
