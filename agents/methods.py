"""Plasticity methods as agent plugins: what optimizer the policy gets, what runs at task switches.

A method config (``conf/method/*.yaml``) holds

* ``name`` — the method's name (for run directories and reports);
* ``optimizer`` — a preset of :mod:`plasticity.optim` (:data:`OPTIMIZERS`), and its keyword arguments as
  top-level keys (``coef``, ``betas``, ``eps``, …), so ``method.coef=1e-2`` works from the command line;
* ``regularize_heads`` — also regularize the output heads (default: no).

:func:`build_method` turns it into a :class:`Method` that the agent builder and the run loop consume; agents
never branch on a method's name.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.vec_env import TaskInfo
from plasticity import optim

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": optim.RegularizedAdam,
    "adamw": optim.AdamW,
    "adamo": optim.AdamO,
    "iso_adam": optim.IsoAdam,
    "l2": optim.L2Adam,
    "l2_init": optim.L2InitAdam,
    "spectral": optim.SpectralAdam,
    "wasserstein": optim.WassersteinAdam,
    "snp": optim.ShrinkPerturbAdam,
    "adam_equal_betas": optim.EqualBetasAdam,
}
META_KEYS = ("name", "optimizer", "regularize_heads")
# Set by the agent (learning rate and its schedule) or internally; not method options.
RESERVED = ("params", "lr", "regularizers", "self")


def optimizer_options(cls: type[torch.optim.Optimizer]) -> list[str]:
    """Keyword arguments a preset accepts (its own plus RegularizedAdam's, which presets forward)."""
    names: list[str] = []
    for klass in (cls, optim.RegularizedAdam):
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in RESERVED and p.name not in names:
                names.append(p.name)
    return names


@dataclass
class Method:
    name: str
    optimizer_class: type[torch.optim.Optimizer]
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    regularize_heads: bool = False

    def attach(self, model: BaseAlgorithm) -> None:
        """Install per-update machinery on a freshly built agent (nothing for pure optimizers)."""

    def on_task_switch(self, model: BaseAlgorithm, old: TaskInfo, new: TaskInfo, step: int) -> None:
        """Run the method's task-switch actions (nothing for pure optimizers)."""


def build_method(cfg: Mapping[str, Any]) -> Method:
    """A :class:`Method` from a method config; unknown presets or options raise a one-line ``ValueError``."""
    name = cfg.get("name")
    if not name:
        raise ValueError("method.name is missing")
    opt_name = cfg.get("optimizer", "adam")
    if opt_name not in OPTIMIZERS:
        raise ValueError(f"unknown method.optimizer {opt_name!r}; valid choices: {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[opt_name]
    valid = optimizer_options(cls)
    kwargs = {}
    for key, value in cfg.items():
        if key in META_KEYS:
            continue
        if key not in valid:
            raise ValueError(f"unknown key method.{key} for optimizer {opt_name!r}; valid keys: "
                             f"{', '.join([*META_KEYS, *valid])}")
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    return Method(name=str(name), optimizer_class=cls, optimizer_kwargs=kwargs,
                  regularize_heads=bool(cfg.get("regularize_heads", False)))
