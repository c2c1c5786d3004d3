"""Unit-level statistics of a layer's activations ``h`` of shape ``(N, units, positions)``.

* :func:`fraction_active` — Lyle et al. (2022) "fraction of active units" (FAU): ``1 − mean_{n,i,p} 1[h = 0]``
  (ReLU; a conv channel counts at every position).
* :func:`dead_fraction` — Dohare's dead units: the fraction of units with ``h = 0`` for **every** probe input.
* :func:`dormant_ratio` — Sokar et al. (2023): the fraction of τ-dormant units (:mod:`.dormant`).
* :func:`feature_norm` — Plasticine's ``mean_n ‖h_n‖₂`` over the whole flattened layer output.
"""

from __future__ import annotations

from torch import Tensor

from plasticity.metrics.dormant import dormant_mask


def _as3d(h: Tensor) -> Tensor:
    return h.unsqueeze(-1) if h.ndim == 2 else h


def fraction_active(h: Tensor) -> float:
    return float((_as3d(h) != 0).float().mean())


def dead_fraction(h: Tensor) -> float:
    return float((_as3d(h) == 0).all(dim=0).all(dim=-1).float().mean())


def dormant_ratio(h: Tensor, tau: float) -> float:
    return float(dormant_mask(_as3d(h), tau).float().mean())


def feature_norm(h: Tensor) -> float:
    return float(_as3d(h).flatten(1).norm(dim=1).mean())
