"""plasticity: plasticity-preserving optimizers, unit methods and metrics (pure PyTorch)."""

from plasticity.optim import (
    AdamO,
    AdamW,
    EqualBetasAdam,
    IsoAdam,
    L2Adam,
    L2InitAdam,
    RegularizedAdam,
    ShrinkPerturbAdam,
    SpectralAdam,
    WassersteinAdam,
)
from plasticity.param_groups import module_names, param_groups
from plasticity.regularizers import L2, Isometry, L2Init, Regularizer, Spectral, Wasserstein

__all__ = [
    "L2",
    "AdamO",
    "AdamW",
    "EqualBetasAdam",
    "IsoAdam",
    "Isometry",
    "L2Adam",
    "L2Init",
    "L2InitAdam",
    "RegularizedAdam",
    "Regularizer",
    "ShrinkPerturbAdam",
    "Spectral",
    "SpectralAdam",
    "Wasserstein",
    "WassersteinAdam",
    "module_names",
    "param_groups",
]
