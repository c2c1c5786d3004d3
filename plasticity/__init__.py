"""plasticity: plasticity-preserving optimizers, unit methods and metrics (pure PyTorch)."""

from plasticity.injection import InjectedHead, inject
from plasticity.network import LayerGraph, trace
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
from plasticity.resets import fresh_like, reset_optimizer_state, reset_parameters, shrink_perturb
from plasticity.units import CBP, ReDo

__all__ = [
    "CBP",
    "L2",
    "AdamO",
    "AdamW",
    "EqualBetasAdam",
    "InjectedHead",
    "IsoAdam",
    "Isometry",
    "L2Adam",
    "L2Init",
    "L2InitAdam",
    "LayerGraph",
    "ReDo",
    "RegularizedAdam",
    "Regularizer",
    "ShrinkPerturbAdam",
    "Spectral",
    "SpectralAdam",
    "Wasserstein",
    "WassersteinAdam",
    "fresh_like",
    "inject",
    "module_names",
    "param_groups",
    "reset_optimizer_state",
    "reset_parameters",
    "shrink_perturb",
    "trace",
]
