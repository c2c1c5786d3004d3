"""Plasticity-preserving optimizers: :class:`RegularizedAdam`, its named presets, and :func:`with_regularizers`
for any ``torch.optim`` optimizer."""

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
from plasticity.optim.wrap import with_regularizers

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
    "with_regularizers",
]
