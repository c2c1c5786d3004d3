"""Unit-level statistics of a layer's activations ``h``: ``(N, units)``, ``(N, units, positions)`` or a conv map
``(N, C, H, W)`` (a channel is a unit, counted at every position); other shapes are refused.

* :func:`fraction_active` — Lyle et al. (2022) "fraction of active units" (FAU): ``1 − mean_{n,i,p} 1[h = 0]``
  (ReLU; a conv channel counts at every position).
* :func:`dead_fraction` — Dohare's dead units: the fraction of units with ``h = 0`` for **every** probe input.
* :func:`dormant_ratio` — Sokar et al. (2023): the fraction of τ-dormant units (:mod:`.dormant`).
* :func:`feature_norm` — Plasticine's ``mean_n ‖h_n‖₂`` over the whole flattened layer output.
"""

from __future__ import annotations

from torch import Tensor

from plasticity.metrics.dormant import as_units, dormant_mask


def fraction_active(h: Tensor) -> float:
    """FAU (Lyle et al. 2022): ``1 − mean_{n,i,p} 1[h_{n,i,p} = 0]``."""
    return float((as_units(h) != 0).float().mean())


def dead_fraction(h: Tensor) -> float:
    """Dohare's dead units: the fraction of units with ``h = 0`` on every input and position."""
    return float((as_units(h) == 0).all(dim=0).all(dim=-1).float().mean())


def dormant_ratio(h: Tensor, tau: float) -> float:
    """Sokar et al. (2023): the fraction of units with score ``s_i ≤ τ`` (:func:`dormant_scores`)."""
    return float(dormant_mask(h, tau).float().mean())


def feature_norm(h: Tensor) -> float:
    """Plasticine's feature norm ``mean_n ‖h_n‖₂`` over the flattened layer output."""
    return float(as_units(h).flatten(1).norm(dim=1).mean())
