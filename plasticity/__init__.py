"""plasticity: plasticity-preserving optimizers, unit methods and metrics (pure PyTorch).

Optimizers (``AdamO``, ``RegularizedAdam`` and presets, ``with_regularizers`` for any ``torch.optim`` class),
unit methods (``CBP``, ``ReDo``), task-switch resets, and metrics (``MetricSuite``, :mod:`plasticity.metrics`).
Formulas and sources are in each object's docstring; a complete example is in docs/library.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("plasticity-rl")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

from plasticity.activations import GroupSort
from plasticity.injection import InjectedHead, inject
from plasticity.metrics import MetricSuite
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
    with_regularizers,
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
    "GroupSort",
    "InjectedHead",
    "IsoAdam",
    "Isometry",
    "L2Adam",
    "L2Init",
    "L2InitAdam",
    "LayerGraph",
    "MetricSuite",
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
    "with_regularizers",
]
