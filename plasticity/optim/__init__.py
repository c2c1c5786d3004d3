"""Plasticity-preserving optimizers: :class:`RegularizedAdam` and its named presets."""

from plasticity.optim.presets import (
    AdamO,
    AdamW,
    EqualBetasAdam,
    IsoAdam,
    L2Adam,
    L2InitAdam,
    ShrinkPerturbAdam,
    SpectralAdam,
    WassersteinAdam,
)
from plasticity.optim.regularized_adam import RegularizedAdam

__all__ = [
    "AdamO",
    "AdamW",
    "EqualBetasAdam",
    "IsoAdam",
    "L2Adam",
    "L2InitAdam",
    "RegularizedAdam",
    "ShrinkPerturbAdam",
    "SpectralAdam",
    "WassersteinAdam",
]
