"""Plasticity methods as agent plugins: what optimizer the policy gets, what runs at task switches.

A method config (``conf/method/*.yaml``, :class:`MethodConfig`) holds

* ``name`` — the method's name (for run directories and reports);
* ``optimizer`` — an optimizer of :mod:`plasticity.registry` (``adam``, ``adamo``, …), and its keyword arguments
  as top-level keys (``coef``, ``betas``, ``eps``, …), so ``method.coef=1e-2`` works from the command line: their
  names, types, defaults and ranges are the optimizer's constructor's (:func:`plasticity.registry.check_options`);
* ``regularize_heads`` — also regularize the output heads (default: no);
* ``units`` — a unit method of :mod:`plasticity.registry` run after every optimizer step
  (``{name: cbp | redo, <its arguments>}``) or null;
* ``on_switch`` — what happens at every task switch (:class:`SwitchConfig`), in this order: ``inject`` (plasticity
  injection on the heads), ``reset`` (``head`` | ``all``: re-initialize in place from a fresh draw of the agent's
  own init), ``shrink_perturb`` (``θ ← shrink·θ + perturb·θ_fresh`` on every parameter), ``reset_optimizer``
  (forget Adam's moments and step counts of every parameter — the AdamO paper does this for every arm). A reset
  or shrink & perturb also forgets the optimizer state of the parameters it rewrote. DQN's target network is
  then copied from the online network.

:func:`build_method` turns it into a :class:`Method` that the agent builder and the run loop consume; agents
never branch on a method's name. The library (torch) is imported when a method is checked or built, not with this
module, so the config schema stays light.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from agents.settings import Section
from agents.tasks import TaskInfo

if TYPE_CHECKING:
    import torch
    from stable_baselines3.common.base_class import BaseAlgorithm

    from plasticity.units import UnitMethod


class SwitchConfig(Section):
    """What happens at every task switch, in this order (see the module docstring)."""

    inject: bool = Field(False, description="plasticity injection on the heads (Nikishin et al. 2023)")
    freeze_old_head: bool = Field(True, description="... freezing the old head (the paper; Plasticine keeps "
                                                    "training it)")
    reset: Literal["head", "all"] | None = Field(None, description="re-initialize in place (a fresh draw of the "
                                                                   "agent's init)")
    shrink_perturb: bool = Field(False, description="θ ← shrink·θ + perturb·θ_fresh on every parameter (Ash & "
                                                    "Adams 2020)")
    shrink: float = Field(0.8, ge=0.0, le=1.0)
    perturb: float = Field(0.2, ge=0.0)
    reset_optimizer: bool = Field(False, description="forget Adam's moments and step counts (the AdamO paper's "
                                                     "protocol, all arms)")


class MethodConfig(Section):
    """The ``method`` section; the optimizer's options are the extra keys (checked by :mod:`plasticity.registry`:
    an unknown option, a value of the wrong type or out of range is refused in one line)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    optimizer: str = "adam"
    regularize_heads: bool = Field(False, description="regularizers also act on the output heads (action_net, "
                                                      "value_net; DQN's last Q layer)")
    units: dict[str, Any] | None = Field(None, description="a unit method after every optimizer step: {name: cbp "
                                                           "| redo, <its options>}")
    on_switch: SwitchConfig = Field(default_factory=SwitchConfig)

    @model_validator(mode="after")
    def _library(self) -> MethodConfig:
        _optimizer_options(self.optimizer, self.model_extra or {})
        _unit_options(self.units)
        return self

    def optimizer_options(self) -> dict[str, Any]:
        """The optimizer's keyword arguments (lists given for tuples made tuples)."""
        return _optimizer_options(self.optimizer, self.model_extra or {})

    def normalized(self) -> dict[str, Any]:
        """The config with every library default filled in (what the method really runs with): two configs that
        differ only by spelling a default out or not compare equal."""
        from plasticity import registry
        out = self.model_dump(mode="json")
        defaults = {k: o.default for k, o in registry.spec(self.optimizer).options().items()
                    if o.default is not inspect.Parameter.empty}
        out.update({k: _plain(v) for k, v in {**defaults, **self.optimizer_options()}.items()})
        if self.units:
            unit_defaults = {k: o.default for k, o in registry.spec(self.units["name"]).options().items()
                             if o.default is not inspect.Parameter.empty}
            out["units"] = {k: _plain(v) for k, v in {**unit_defaults, **self.units}.items()}
        return out


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _optimizer_options(optimizer: str, given: Mapping[str, Any]) -> dict[str, Any]:
    from plasticity import registry
    if optimizer not in registry.OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}: valid choices: {', '.join(registry.OPTIMIZERS)}")
    if "lr" in given:
        raise ValueError(f"lr={given['lr']!r}: the learning rate is the agent's: set agent.learning_rate")
    return registry.check_options(optimizer, dict(given), "optimizer")


def _unit_options(units: Mapping[str, Any] | None) -> dict[str, Any] | None:
    from plasticity import registry
    if not units:
        return None
    name = units.get("name")
    if name not in registry.UNIT_METHODS:
        raise ValueError(f"units.name={name!r}: valid choices: {', '.join(registry.UNIT_METHODS)}")
    options = registry.check_options(name, {k: v for k, v in units.items() if k != "name"}, "unit", "units.")
    return {"name": name, **options}


@dataclass
class Method:
    name: str
    optimizer_class: type[torch.optim.Optimizer]
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    regularize_heads: bool = False
    units: dict[str, Any] | None = None
    on_switch: SwitchConfig = field(default_factory=SwitchConfig)
    unit_method: UnitMethod | None = None

    def attach(self, model: BaseAlgorithm) -> None:
        """Install the unit method on a freshly built agent's optimizer (traced on an example forward pass)."""
        self.attach_to(model.policy, int(model.seed or 0))

    def attach_to(self, policy: Any, seed: int) -> None:
        """Install the unit method on ``policy``'s optimizer; a ``layers`` name the network does not have raises
        :class:`plasticity.units.base.UnknownLayerError` listing the hidden layers it has."""
        from plasticity import registry
        if self.units is None:
            return
        kwargs = {k: v for k, v in self.units.items() if k != "name"}
        kwargs.setdefault("seed", seed)
        self.unit_method = registry.spec(self.units["name"], "unit").cls(
            policy.trained_module(), policy.optimizer, trace_with=policy.example_forward, **kwargs)

    def on_task_switch(self, model: BaseAlgorithm, old: TaskInfo, new: TaskInfo, step: int) -> None:
        """Run the switch actions configured in ``on_switch`` (see the module docstring)."""
        from plasticity.resets import forget_optimizer_state, reset_optimizer_state, reset_parameters, shrink_perturb
        actions, policy = self.on_switch, model.policy
        opt = policy.optimizer
        changed = False
        if actions.inject:
            model.inject_heads()
            changed = True
        if actions.reset or actions.shrink_perturb:
            fresh = policy.fresh_policy()
            module, fresh_module = policy.trained_module(), fresh.trained_module()
            if actions.reset == "head":
                names = policy.head_names()
                params = [p for n in names for p in module.get_submodule(n).parameters()]
                fresh_params = [p for n in names for p in fresh_module.get_submodule(n).parameters()]
            else:
                params, fresh_params = list(module.parameters()), list(fresh_module.parameters())
            if actions.reset:
                reset_parameters(params, fresh_params, opt)
            if actions.shrink_perturb:
                everything = list(module.parameters())
                shrink_perturb(everything, list(fresh_module.parameters()), actions.shrink, actions.perturb)
                forget_optimizer_state(opt, everything)
            changed = True
        if actions.reset_optimizer:
            reset_optimizer_state(opt)
        if changed:
            model.sync_target()


def search_space(cfg: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """The coefficient search space of a method config: its unit method's (``method.units.<option>``) if it has one,
    else its optimizer's (``method.<option>``), from :data:`plasticity.registry.METHODS` (log-uniform ranges)."""
    from plasticity import registry
    units = cfg.get("units") or {}
    if units.get("name") in registry.UNIT_METHODS:
        return {f"method.units.{k}": v for k, v in registry.spec(units["name"]).search.items()}
    optimizer = cfg.get("optimizer", "adam")
    if optimizer in registry.OPTIMIZERS:
        return {f"method.{k}": v for k, v in registry.spec(optimizer).search.items()}
    return {}


def build_method(cfg: MethodConfig | Mapping[str, Any]) -> Method:
    """A :class:`Method` from a method config; an unknown preset or option, a value of the wrong type or out of
    range raises a one-line ``ValueError``."""
    from plasticity import registry
    if not isinstance(cfg, MethodConfig):
        cfg = parse_method(cfg)
    return Method(name=cfg.name, optimizer_class=registry.spec(cfg.optimizer).cls,
                  optimizer_kwargs=cfg.optimizer_options(), regularize_heads=cfg.regularize_heads,
                  units=_unit_options(cfg.units), on_switch=cfg.on_switch)


def parse_method(cfg: Mapping[str, Any]) -> MethodConfig:
    """The typed method config, or a one-line :class:`~agents.errors.ConfigError` (a ``ValueError``:
    ``method.<key>=<value>: <what is allowed>``)."""
    from pydantic import BaseModel, ValidationError

    from agents.errors import validation_line

    class Holder(BaseModel):
        method: MethodConfig

    try:
        return Holder.model_validate({"method": dict(cfg)}).method
    except ValidationError as err:
        raise validation_line(err, Holder) from None
