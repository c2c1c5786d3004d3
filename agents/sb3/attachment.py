"""A unit method (CBP, ReDo) on any Stable-Baselines3 model, carried by ``model.save()`` and SB3's ``load``.

SB3's zip holds the policy's and the optimizer's ``state_dict``; it knows nothing of a unit method, and SB3's
``load`` fills a new optimizer before any unit method can exist, so torch Adam's per-entry step records
(:mod:`plasticity.entry_steps`, key ``plasticity_entry_born``) are dropped. :func:`attach` keeps an
:class:`Attachment` on the model (``model.plasticity``): SB3 pickles every plain attribute of the model into its
zip, and the attachment pickles as the method's class, arguments, ``state_dict()`` and the optimizer's
per-entry records. After ``PPO.load``/``DQN.load``, ``attach(model)`` (or a :class:`PlasticityCallback` given to
``learn``, as every SB3 callback is given again) rebuilds the method with its saved arguments and restores both,
so training continues exactly as if it had not stopped (tested: PPO and DQN, torch Adam and AdamO, CBP and ReDo).

::

    model = PPO(PlasticActorCriticPolicy, env, policy_kwargs=dict(optimizer_class=plasticity.AdamO))
    cbp = attach(model, plasticity.CBP, replacement_rate=1e-4, maturity_threshold=1000)
    model.learn(50_000)
    model.save("ppo_cbp")
    model = PPO.load("ppo_cbp", env=env)
    cbp = attach(model)                       # the saved CBP, its state and the per-entry records
    model.learn(50_000, reset_num_timesteps=False)
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from plasticity import entry_steps
from plasticity.units import CBP, ReDo
from plasticity.units.base import UnitMethod

ATTRIBUTE = "plasticity"  # the model attribute SB3 pickles into its zip
METHODS: dict[str, type[UnitMethod]] = {"cbp": CBP, "redo": ReDo}


def trained_module(model: BaseAlgorithm) -> nn.Module:
    """What the policy's optimizer trains: DQN's online network (not its target), else the whole policy."""
    policy = model.policy
    if hasattr(policy, "trained_module"):
        return policy.trained_module()
    q_net = getattr(policy, "q_net", None)
    return q_net if isinstance(q_net, nn.Module) else policy


def _method_class(method: str | type[UnitMethod]) -> type[UnitMethod]:
    if isinstance(method, str):
        if method.lower() not in METHODS:
            raise ValueError(f"attach: method={method!r}; valid choices: {', '.join(METHODS)} (or a UnitMethod class)")
        return METHODS[method.lower()]
    if not (isinstance(method, type) and issubclass(method, UnitMethod)):
        raise TypeError(f"attach: method={method!r} is not a unit method; valid choices: plasticity.CBP, "
                        "plasticity.ReDo, or their names")
    return method


class Attachment:
    """A unit method attached to an SB3 model, and what of it a saved model carries (module docstring).

    ``method`` is the live unit method (``None`` on a loaded model until :func:`attach` rebuilds it)."""

    def __init__(self, cls: type[UnitMethod], kwargs: dict[str, Any], method: UnitMethod | None):
        self.cls, self.kwargs, self.method = cls, dict(kwargs), method
        self.saved: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        if self.method is None:  # loaded, never re-attached: pass the saved state on unchanged
            return {"cls": self.cls, "kwargs": self.kwargs, "saved": self.saved}
        return {"cls": self.cls, "kwargs": self.kwargs,
                "saved": {"method": self.method.state_dict(), "entry_born": entry_steps.records(self.method.optimizer)}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.cls, self.kwargs, self.saved, self.method = state["cls"], state["kwargs"], state["saved"], None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"Attachment({self.cls.__name__}({args}), {'live' if self.method else 'saved'})"


def attach(model: BaseAlgorithm, method: str | type[UnitMethod] | None = None, **kwargs: Any) -> UnitMethod:
    """Attach ``method(trained module, policy.optimizer, **kwargs)`` to ``model`` so that SB3's save/load carries it.

    :param model: any SB3 model whose policy has an ``optimizer`` (PPO, A2C, DQN, …).
    :param method: ``plasticity.CBP``, ``plasticity.ReDo`` or their names; ``None`` after a load: the saved one.
    :param kwargs: the method's arguments (``seed`` defaults to the model's seed). Callables (``trace_with``,
        ``score_with``) cannot be saved in SB3's zip and are refused.
    :return: the live unit method (``cbp.replaced``, ``redo.recycled``, …). Calling ``attach`` again on a model
        that has it returns the same object; another method or other arguments are refused in one line.
    """
    for key, value in kwargs.items():
        if callable(value):
            raise ValueError(f"attach: {key}={value!r} is a callable, which SB3's zip cannot carry; leave it out "
                             "(the structure is read from the first training step)")
    current = model.__dict__.get(ATTRIBUTE)
    if current is not None and not isinstance(current, Attachment):
        raise ValueError(f"attach: model.{ATTRIBUTE} is already a {type(current).__name__}, not an Attachment")
    if method is None:
        if current is None:
            raise ValueError("attach: this model carries no unit method; give one: attach(model, plasticity.CBP, ...)")
        cls, kwargs = current.cls, {**current.kwargs, **kwargs}
    else:
        cls = _method_class(method)
        kwargs.setdefault("seed", int(model.seed or 0))
    if current is not None:
        if (cls, kwargs) != (current.cls, current.kwargs):
            raise ValueError(f"attach: this model carries {current!r}; asked for {cls.__name__}({kwargs}): one unit "
                             "method per model (remove it with detach(model))")
        if current.method is not None:
            return current.method
    optimizer = model.policy.optimizer
    if issubclass(cls, UnitMethod) and entry_steps.supports(optimizer):
        entry_steps.attach(optimizer)  # before the method: its records are restored below, no warning
    unit = cls(trained_module(model), optimizer, **kwargs)
    if current is not None and current.saved is not None:
        unit.load_state_dict(current.saved["method"])
        if current.saved["entry_born"]:
            entry_steps.restore(optimizer, current.saved["entry_born"])
    attachment = current or Attachment(cls, kwargs, None)
    attachment.method, attachment.saved = unit, None
    model.__dict__[ATTRIBUTE] = attachment
    return unit


def detach(model: BaseAlgorithm) -> None:
    """Remove the unit method from ``model`` (its hooks and the saved record)."""
    current = model.__dict__.pop(ATTRIBUTE, None)
    if isinstance(current, Attachment) and current.method is not None:
        current.method.remove()


class PlasticityCallback(BaseCallback):
    """:func:`attach` as an SB3 callback: ``model.learn(n, callback=PlasticityCallback(plasticity.CBP, ...))``.

    At the start of ``learn`` it attaches the method, or, on a model that carries one (saved and loaded, or an
    earlier ``learn``), checks that it is the same and restores it. ``self.method`` is the live unit method."""

    def __init__(self, method: str | type[UnitMethod] | None = None, verbose: int = 0, **kwargs: Any):
        super().__init__(verbose)
        self.method_spec, self.method_kwargs = method, kwargs
        self.method: UnitMethod | None = None

    def _init_callback(self) -> None:
        self.method = attach(self.model, self.method_spec, **self.method_kwargs)

    def _on_step(self) -> bool:
        return True
