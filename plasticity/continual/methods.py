"""Every method of the library as an ``(optimizer, unit method)`` pair on a model, by name.

The coefficients are each method's published supervised defaults where one exists (methods.md): AdamO and
coupled isometry 1e-3 (AdamO paper, supervised), CBP ρ = 1e-4 with maturity 100 (Dohare, permuted MNIST),
L2-init 1e-3 (Kumar et al.), ReDo τ = 0.1 (Sokar et al.), spectral 1e-4 (Lewandowski et al.), shrink & perturb
wd 1e-4 with σ = 1e-5 (Dohare), Wasserstein 1e-3. Pass ``options`` to :func:`build` to change them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from plasticity import optim
from plasticity.param_groups import param_groups
from plasticity.units import CBP, ReDo, UnitMethod

# name → (optimizer class, its defaults, unit method class or None, its defaults)
METHODS: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any], type[UnitMethod] | None, dict[str, Any]]] = {
    "adam": (optim.RegularizedAdam, {}, None, {}),
    "adamo": (optim.AdamO, {"coef": 1e-3}, None, {}),
    "iso_adam": (optim.IsoAdam, {"coef": 1e-3}, None, {}),
    "cbp": (optim.RegularizedAdam, {}, CBP, {"replacement_rate": 1e-4, "maturity_threshold": 100}),
    "l2_init": (optim.L2InitAdam, {"coef": 1e-3}, None, {}),
    "redo": (optim.RegularizedAdam, {}, ReDo, {"threshold": 0.1, "interval": 100}),
    "spectral": (optim.SpectralAdam, {"coef": 1e-4}, None, {}),
    "shrink_perturb": (optim.ShrinkPerturbAdam, {"weight_decay": 1e-4, "noise_std": 1e-5}, None, {}),
    "wasserstein": (optim.WassersteinAdam, {"coef": 1e-3}, None, {}),
}


def build(name: str, model: nn.Module, lr: float, *, head: str | None = None, seed: int = 0,
          trace_with: Callable[[], Any] | None = None, **options: Any) -> tuple[torch.optim.Optimizer,
                                                                                UnitMethod | None]:
    """The optimizer (and unit method) of method ``name`` for ``model``; ``head`` (a module name) is left
    unregularized, as every method's paper does with the output layer. ``options`` override the defaults,
    ``unit_<key>`` for the unit method's."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid choices: {', '.join(METHODS)}")
    cls, defaults, unit_cls, unit_defaults = METHODS[name]
    unit_options = {k[5:]: v for k, v in options.items() if k.startswith("unit_")}
    opt_options = {k: v for k, v in options.items() if not k.startswith("unit_")}
    groups = param_groups(model, exclude=[head] if head else [])
    if cls is optim.ShrinkPerturbAdam:
        opt_options.setdefault("seed", seed)
    optimizer = cls(groups, lr=lr, **{**defaults, **opt_options})
    unit = None
    if unit_cls is not None:
        unit = unit_cls(model, optimizer, **{**unit_defaults, **unit_options}, seed=seed, trace_with=trace_with)
    return optimizer, unit
