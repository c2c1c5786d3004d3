"""Plasticity methods as agent plugins: what optimizer the policy gets, what runs at task switches.

A method config (``conf/method/*.yaml``) names a method and its hyper-parameters; :func:`build_method`
turns it into a :class:`Method` that the agent builder and the run loop consume. Agents never branch on
the method's name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.vec_env import TaskInfo

METHODS = ("adam",)


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
    name = cfg.get("name")
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid choices: {', '.join(METHODS)}")
    kwargs = {"betas": tuple(cfg.get("betas", (0.9, 0.999))), "eps": float(cfg.get("eps", 1e-8)),
              "weight_decay": float(cfg.get("weight_decay", 0.0))}
    return Method(name=name, optimizer_class=torch.optim.Adam, optimizer_kwargs=kwargs,
                  regularize_heads=bool(cfg.get("regularize_heads", False)))
