"""Rank-like summaries of a spectrum (Roy & Vetterli 2007; Kumar et al. 2020). Names clash between papers, so
each function says which.

For singular values ``σ_1 ≥ … ≥ σ_r ≥ 0`` (of features ``H ∈ R^{N×d}``, a weight matrix, or the eigenvalues of
a PSD matrix such as an NTK):

* :func:`effective_rank` — Roy & Vetterli (2007): ``p_i = σ_i / Σσ``, ``exp(−Σ p_i log p_i)`` (0·log 0 = 0).
  Dohare and Plasticine use this one; nanochat's variant normalizes ``σ²`` instead (a different number).
* :func:`srank` — Kumar et al. (2020): ``min k`` with ``Σ_{i≤k} σ_i / Σσ ≥ 1 − δ``, δ = 0.01. Dohare calls it
  "abs approximate rank"; Plasticine and Dohare's RL logs call it "stable rank".
* :func:`approximate_rank` — Dohare / Yang (2020): ``min k`` with ``Σ_{i≤k} σ_i² / Σσ² ≥ 0.99``.
* :func:`stable_rank` — the classical ``‖A‖_F² / ‖A‖_2² = Σσ² / σ_1²``.

Each takes either the singular values (1-D) or the matrix itself (2-D, e.g. features ``(N, d)``: its singular
values are computed first); anything else is refused.
"""

from __future__ import annotations

import torch
from torch import Tensor


def singular_values(matrix: Tensor) -> Tensor:
    """Descending singular values in float64 (SVD on CPU float64: robust where float32 GPU SVD is not)."""
    return torch.linalg.svdvals(matrix.detach().double().cpu())


def _sorted(sv: Tensor) -> Tensor:
    """Singular values, descending: given (1-D) or of a matrix (2-D)."""
    if not isinstance(sv, Tensor) or sv.ndim not in (1, 2):
        shape = tuple(sv.shape) if isinstance(sv, Tensor) else type(sv).__name__
        raise ValueError(f"expected singular values (1-D) or a matrix (2-D), got shape {shape}")
    if sv.ndim == 2:
        return singular_values(sv)
    return sv.detach().double().abs().sort(descending=True).values


def effective_rank(sv: Tensor) -> float:
    """Roy & Vetterli (2007): ``exp(−Σ p_i log p_i)``, ``p_i = σ_i / Σσ`` (singular values or a matrix)."""
    s = _sorted(sv)
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def _cumulative_rank(weights: Tensor, fraction: float) -> int:
    total = weights.sum()
    if total <= 0:
        return 0
    cum = torch.cumsum(weights, 0) / total
    return int(torch.searchsorted(cum, torch.tensor(fraction, dtype=cum.dtype) - 1e-12).item()) + 1


def srank(sv: Tensor, delta: float = 0.01) -> int:
    """Kumar et al. (2020): ``min k`` with ``Σ_{i≤k} σ_i / Σσ ≥ 1 − δ``."""
    return _cumulative_rank(_sorted(sv), 1.0 - delta)


def approximate_rank(sv: Tensor, fraction: float = 0.99) -> int:
    """Dohare / Yang (2020): ``min k`` with ``Σ_{i≤k} σ_i² / Σσ² ≥ fraction``."""
    return _cumulative_rank(_sorted(sv) ** 2, fraction)


def stable_rank(sv: Tensor) -> float:
    """``Σσ² / σ_1²`` (``‖A‖_F² / ‖A‖_2²``)."""
    s = _sorted(sv)
    return float((s**2).sum() / s[0] ** 2) if s.numel() and s[0] > 0 else 0.0
