"""Plasticity methods as agent plugins: what optimizer the policy gets, what runs at task switches.

A method config (``conf/method/*.yaml``) holds

* ``name`` — the method's name (for run directories and reports);
* ``optimizer`` — an optimizer of :mod:`plasticity.registry` (``adam``, ``adamo``, …), and its keyword arguments
  as top-level keys (``coef``, ``betas``, ``eps``, …), so ``method.coef=1e-2`` works from the command line;
* ``regularize_heads`` — also regularize the output heads (default: no);
* ``units`` — a unit method of :mod:`plasticity.registry` run after every optimizer step
  (``{name: cbp | redo, <its arguments>}``) or null;
* ``on_switch`` — what happens at every task switch, in this order: ``inject`` (plasticity injection on the
  heads), ``reset`` (``head`` | ``all``: re-initialize in place from a fresh draw of the agent's own init),
  ``shrink_perturb`` (``θ ← shrink·θ + perturb·θ_fresh`` on every parameter), ``reset_optimizer`` (forget
  Adam's moments and step counts of every parameter — the AdamO paper does this for every arm). A reset or
  shrink & perturb also forgets the optimizer state of the parameters it rewrote. DQN's target network is
  then copied from the online network.

:func:`build_method` turns it into a :class:`Method` that the agent builder and the run loop consume; agents
never branch on a method's name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.tasks import TaskInfo
from plasticity import registry
from plasticity.resets import forget_optimizer_state, reset_optimizer_state, reset_parameters, shrink_perturb
from plasticity.units import UnitMethod

RESETS = ("head", "all")
SWITCH_DEFAULTS: dict[str, Any] = {"reset_optimizer": False, "reset": None, "shrink_perturb": False, "shrink": 0.8,
                                   "perturb": 0.2, "inject": False, "freeze_old_head": True}
META_KEYS = ("name", "optimizer", "regularize_heads", "units", "on_switch")


@dataclass
class Method:
    name: str
    optimizer_class: type[torch.optim.Optimizer]
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    regularize_heads: bool = False
    units: dict[str, Any] | None = None
    on_switch: dict[str, Any] = field(default_factory=lambda: dict(SWITCH_DEFAULTS))
    unit_method: UnitMethod | None = None

    def attach(self, model: BaseAlgorithm) -> None:
        """Install the unit method on a freshly built agent's optimizer (traced on an example forward pass)."""
        self.attach_to(model.policy, int(model.seed or 0))

    def attach_to(self, policy: Any, seed: int) -> None:
        """Install the unit method on ``policy``'s optimizer; a ``layers`` name the network does not have raises
        :class:`plasticity.units.base.UnknownLayerError` listing the hidden layers it has."""
        if self.units is None:
            return
        kwargs = {k: v for k, v in self.units.items() if k != "name"}
        kwargs.setdefault("seed", seed)
        self.unit_method = registry.spec(self.units["name"], "unit").cls(
            policy.trained_module(), policy.optimizer, trace_with=policy.example_forward, **kwargs)

    def on_task_switch(self, model: BaseAlgorithm, old: TaskInfo, new: TaskInfo, step: int) -> None:
        """Run the switch actions configured in ``on_switch`` (see the module docstring)."""
        actions, policy = self.on_switch, model.policy
        opt = policy.optimizer
        changed = False
        if actions["inject"]:
            model.inject_heads()
            changed = True
        if actions["reset"] or actions["shrink_perturb"]:
            fresh = policy.fresh_policy()
            module, fresh_module = policy.trained_module(), fresh.trained_module()
            if actions["reset"] == "head":
                names = policy.head_names()
                params = [p for n in names for p in module.get_submodule(n).parameters()]
                fresh_params = [p for n in names for p in fresh_module.get_submodule(n).parameters()]
            else:
                params, fresh_params = list(module.parameters()), list(fresh_module.parameters())
            if actions["reset"]:
                reset_parameters(params, fresh_params, opt)
            if actions["shrink_perturb"]:
                everything = list(module.parameters())
                shrink_perturb(everything, list(fresh_module.parameters()), actions["shrink"], actions["perturb"])
                forget_optimizer_state(opt, everything)
            changed = True
        if actions["reset_optimizer"]:
            reset_optimizer_state(opt)
        if changed:
            model.sync_target()


def _unit_config(cfg: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not cfg:
        return None
    cfg = dict(cfg)
    name = cfg.get("name")
    if name not in registry.UNIT_METHODS:
        raise ValueError(f"method.units.name={name!r}: valid choices: {', '.join(registry.UNIT_METHODS)}")
    options = registry.check_options(name, {k: v for k, v in cfg.items() if k != "name"}, "unit", "method.units.")
    return {"name": name, **options}


def _switch_config(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(SWITCH_DEFAULTS)
    for key, value in dict(cfg or {}).items():
        if key not in SWITCH_DEFAULTS:
            raise ValueError(f"method.on_switch.{key}={value!r}: unknown key; valid keys: {', '.join(SWITCH_DEFAULTS)}")
        out[key] = value
    for key in ("reset_optimizer", "shrink_perturb", "inject", "freeze_old_head"):
        if not isinstance(out[key], bool):
            raise ValueError(f"method.on_switch.{key}={out[key]!r}: must be true or false")
    for key, high in (("shrink", 1.0), ("perturb", math.inf)):  # θ ← shrink·θ + perturb·θ_fresh
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= high \
                or math.isinf(value):
            raise ValueError(f"method.on_switch.{key}={value!r}: must be a finite number >= 0"
                             + (f" and <= {high:g}" if high < math.inf else ""))
    if out["reset"] not in (None, *RESETS):
        raise ValueError(f"method.on_switch.reset={out['reset']!r}: valid choices: null, {', '.join(RESETS)}")
    return out


def search_space(cfg: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """The coefficient search space of a method config: its unit method's (``method.units.<option>``) if it has one,
    else its optimizer's (``method.<option>``), from :data:`plasticity.registry.METHODS` (log-uniform ranges)."""
    units = cfg.get("units") or {}
    if units.get("name") in registry.UNIT_METHODS:
        return {f"method.units.{k}": v for k, v in registry.spec(units["name"]).search.items()}
    optimizer = cfg.get("optimizer", "adam")
    if optimizer in registry.OPTIMIZERS:
        return {f"method.{k}": v for k, v in registry.spec(optimizer).search.items()}
    return {}


def build_method(cfg: Mapping[str, Any]) -> Method:
    """A :class:`Method` from a method config; an unknown preset or option, a value of the wrong type or out of
    range raises a one-line ``ValueError`` (:func:`plasticity.registry.check_options`)."""
    name = cfg.get("name")
    if not name:
        raise ValueError("method.name is missing")
    opt_name = cfg.get("optimizer", "adam")
    if opt_name not in registry.OPTIMIZERS:
        raise ValueError(f"method.optimizer={opt_name!r}: valid choices: {', '.join(registry.OPTIMIZERS)}")
    given = {k: v for k, v in cfg.items() if k not in META_KEYS}
    if "lr" in given:
        raise ValueError(f"method.lr={given['lr']!r}: the learning rate is the agent's: set agent.learning_rate")
    kwargs = registry.check_options(opt_name, given, "optimizer", "method.")
    regularize_heads = cfg.get("regularize_heads", False)
    if not isinstance(regularize_heads, bool):
        raise ValueError(f"method.regularize_heads={regularize_heads!r}: must be true or false")
    return Method(name=str(name), optimizer_class=registry.spec(opt_name).cls, optimizer_kwargs=kwargs,
                  regularize_heads=regularize_heads, units=_unit_config(cfg.get("units")),
                  on_switch=_switch_config(cfg.get("on_switch")))
