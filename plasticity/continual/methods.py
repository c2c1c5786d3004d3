"""Every method of the library as an ``(optimizer, unit method)`` pair on a model, by its registry name.

The methods and their options come from :mod:`plasticity.registry`; this module only sets the values this suite
uses, each method's published supervised setting where one exists (docs/methods.md): AdamO and coupled isometry
1e-3 (AdamO paper, supervised), CBP ρ = 1e-4 with maturity 100 (Dohare, permuted MNIST), L2-init 1e-3 (Kumar et
al.), ReDo τ = 0.1 every 100 steps (Sokar et al.), spectral 1e-4 (Lewandowski et al.), shrink & perturb wd 1e-4 with
σ = 1e-5 (Dohare), Wasserstein 1e-3. Pass ``options`` to :func:`build` to change them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from plasticity import registry
from plasticity.param_groups import param_groups
from plasticity.units import UnitMethod

# suite method → (optimizer of the registry, its options, unit method of the registry or None, its options)
METHODS: dict[str, tuple[str, dict[str, Any], str | None, dict[str, Any]]] = {
    "adam": ("adam", {}, None, {}),
    "adamo": ("adamo", {"coef": 1e-3}, None, {}),
    "iso_adam": ("iso_adam", {"coef": 1e-3}, None, {}),
    "cbp": ("adam", {}, "cbp", {"replacement_rate": 1e-4, "maturity_threshold": 100}),
    "l2_init": ("l2_init", {"coef": 1e-3}, None, {}),
    "redo": ("adam", {}, "redo", {"threshold": 0.1, "interval": 100}),
    "spectral": ("spectral", {"coef": 1e-4}, None, {}),
    "shrink_perturb": ("shrink_perturb", {"weight_decay": 1e-4, "noise_std": 1e-5}, None, {}),
    "wasserstein": ("wasserstein", {"coef": 1e-3}, None, {}),
}


def build(name: str, model: nn.Module, lr: float, *, head: str | None = None, seed: int = 0,
          trace_with: Callable[[], Any] | None = None, **options: Any) -> tuple[torch.optim.Optimizer,
                                                                                UnitMethod | None]:
    """The optimizer (and unit method) of method ``name`` for ``model``; ``head`` (a module name) is left
    unregularized, as every method's paper does with the output layer. ``options`` override the values above,
    ``unit_<key>`` for the unit method's."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid choices: {', '.join(METHODS)}")
    opt_name, defaults, unit_name, unit_defaults = METHODS[name]
    unit_options = {k[5:]: v for k, v in options.items() if k.startswith("unit_")}
    opt_options = {k: v for k, v in options.items() if not k.startswith("unit_")}
    opt_cls = registry.spec(opt_name, "optimizer").cls
    if opt_name == "shrink_perturb":  # its noise is seeded
        opt_options.setdefault("seed", seed)
    optimizer = opt_cls(param_groups(model, exclude=[head] if head else []), lr=lr, **{**defaults, **opt_options})
    unit = None
    if unit_name is not None:
        unit = registry.spec(unit_name, "unit").cls(model, optimizer, **{**unit_defaults, **unit_options}, seed=seed,
                                                    trace_with=trace_with)
    return optimizer, unit
