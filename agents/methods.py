"""Plasticity methods as agent plugins: what optimizer the policy gets, what runs at task switches.

A method config (``conf/method/*.yaml``) holds

* ``name`` — the method's name (for run directories and reports);
* ``optimizer`` — a preset of :mod:`plasticity.optim` (:data:`OPTIMIZERS`), and its keyword arguments as
  top-level keys (``coef``, ``betas``, ``eps``, …), so ``method.coef=1e-2`` works from the command line;
* ``regularize_heads`` — also regularize the output heads (default: no);
* ``units`` — a unit method run after every optimizer step (``{name: cbp | redo, <its arguments>}``) or null;
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

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.algorithms.vec_env import TaskInfo
from plasticity import optim
from plasticity.resets import forget_optimizer_state, reset_optimizer_state, reset_parameters, shrink_perturb
from plasticity.units import CBP, ReDo, UnitMethod

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
UNIT_METHODS: dict[str, type[UnitMethod]] = {"cbp": CBP, "redo": ReDo}
RESETS = ("head", "all")
SWITCH_DEFAULTS: dict[str, Any] = {"reset_optimizer": False, "reset": None, "shrink_perturb": False, "shrink": 0.8,
                                   "perturb": 0.2, "inject": False, "freeze_old_head": True}
META_KEYS = ("name", "optimizer", "regularize_heads", "units", "on_switch")
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
    units: dict[str, Any] | None = None
    on_switch: dict[str, Any] = field(default_factory=lambda: dict(SWITCH_DEFAULTS))
    unit_method: UnitMethod | None = None

    def attach(self, model: BaseAlgorithm) -> None:
        """Install the unit method on a freshly built agent's optimizer (traced on an example forward pass)."""
        if self.units is None:
            return
        policy = model.policy
        kwargs = {k: v for k, v in self.units.items() if k != "name"}
        kwargs.setdefault("seed", int(model.seed or 0))
        self.unit_method = UNIT_METHODS[self.units["name"]](
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
    if name not in UNIT_METHODS:
        raise ValueError(f"unknown method.units.name {name!r}; valid choices: {', '.join(UNIT_METHODS)}")
    valid = [p for p in inspect.signature(UNIT_METHODS[name].__init__).parameters
             if p not in ("self", "model", "optimizer", "trace_with")]
    for key in cfg:
        if key != "name" and key not in valid:
            raise ValueError(f"unknown key method.units.{key} for {name!r}; valid keys: name, {', '.join(valid)}")
    return cfg


def _switch_config(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    out = dict(SWITCH_DEFAULTS)
    for key, value in dict(cfg or {}).items():
        if key not in SWITCH_DEFAULTS:
            raise ValueError(f"unknown key method.on_switch.{key}; valid keys: {', '.join(SWITCH_DEFAULTS)}")
        out[key] = value
    if out["reset"] not in (None, *RESETS):
        raise ValueError(f"method.on_switch.reset={out['reset']!r}; valid choices: null, {', '.join(RESETS)}")
    return out


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
                  regularize_heads=bool(cfg.get("regularize_heads", False)), units=_unit_config(cfg.get("units")),
                  on_switch=_switch_config(cfg.get("on_switch")))
