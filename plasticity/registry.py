"""Every method of the library under one name: its class, its options, the search space of its coefficient and
its source. The agents (``method.optimizer``, ``method.units.name``), the continual supervised suite and the
coefficient search all read this table; no other list of methods or options exists.

A method's options and their defaults are its constructor's keyword arguments (with an optimizer preset, also
those of :class:`~plasticity.optim.RegularizedAdam` it forwards): :func:`options` reads them from the signature,
so they are declared once, in the class. :func:`check_options` refuses an unknown option, a value of the wrong
type (from the annotation) and — by building the method on a dummy parameter, so that its own checks run — a
value out of range, each in one line, before anything is trained.

=================  ==========  ===========================================================  ====================
name               kind        what                                                         source
=================  ==========  ===========================================================  ====================
``adam``           optimizer   torch Adam (``RegularizedAdam`` with no regularizer)         Kingma & Ba 2015
``adamw``          optimizer   decoupled weight decay                                       Loshchilov & Hutter
``adamo``          optimizer   Adam + decoupled isometry step                               Rosseau et al. 2026
``iso_adam``       optimizer   Adam + coupled isometry penalty                              Rosseau et al. 2026
``l2``             optimizer   Adam + coupled L2                                            Dohare et al. 2024
``l2_init``        optimizer   Adam + coupled L2 toward the initialization                  Kumar et al. 2023
``spectral``       optimizer   Adam + spectral-norm penalty                                 Lewandowski et al.
``wasserstein``    optimizer   Adam + Wasserstein-to-init penalty                           Lewandowski et al.
``shrink_perturb`` optimizer   Adam + L2 + Gaussian noise after every step                  Dohare et al. 2024
``adam_equal_betas`` optimizer Adam with β₁ = β₂ = 0.99                                     Dohare et al. 2024
``cbp``            unit        continual backprop (generate and test)                       Dohare et al. 2024
``redo``           unit        recycling dormant neurons                                    Sokar et al. 2023
=================  ==========  ===========================================================  ====================
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from plasticity import optim
from plasticity.units import CBP, ReDo

# Set by the training loop or built by the caller, never a method option.
RESERVED = frozenset({"self", "params", "lr", "regularizers", "model", "optimizer", "trace_with", "score_with"})


@dataclass(frozen=True)
class Option:
    """One keyword argument of a method: its name, annotation (a type) and default."""

    name: str
    annotation: Any
    default: Any

    @property
    def type_name(self) -> str:
        return _type_name(self.annotation)


@dataclass(frozen=True)
class MethodSpec:
    """A method of the library: ``cls(params_or_model, …, **options)``."""

    name: str
    kind: Literal["optimizer", "unit"]
    cls: type
    summary: str
    source: str
    search: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # option → log-uniform (low, high)

    def options(self) -> dict[str, Option]:
        """The method's options with their defaults, read from the constructor signature(s)."""
        return options(self.cls)


METHODS: dict[str, MethodSpec] = {s.name: s for s in (
    MethodSpec("adam", "optimizer", optim.RegularizedAdam, "torch Adam, bit for bit", "Kingma & Ba 2015"),
    MethodSpec("adamw", "optimizer", optim.AdamW, "Adam with decoupled weight decay", "Loshchilov & Hutter 2019",
               {"weight_decay": (1e-5, 1e-1)}),
    MethodSpec("adamo", "optimizer", optim.AdamO, "Adam + decoupled isometry step θ ← θ − lr·λ·∇‖Gram − sI‖²",
               "Rosseau et al. 2026 (AdamO); bordeauxred/rejax", {"coef": (1e-4, 1e-1)}),
    MethodSpec("iso_adam", "optimizer", optim.IsoAdam, "Adam + coupled isometry penalty λ‖Gram − sI‖²",
               "Rosseau et al. 2026 (ablation); Chung et al. 2024 (Parseval)", {"coef": (1e-5, 1e-2)}),
    MethodSpec("l2", "optimizer", optim.L2Adam, "Adam + coupled L2 ½λ‖θ‖²", "Dohare et al. 2024",
               {"coef": (1e-6, 1e-2)}),
    MethodSpec("l2_init", "optimizer", optim.L2InitAdam, "Adam + coupled λ‖θ − θ₀‖²", "Kumar et al. 2023",
               {"coef": (1e-5, 1e-1)}),
    MethodSpec("spectral", "optimizer", optim.SpectralAdam, "Adam + coupled λ(σ_max^k − 1)²",
               "Lewandowski et al. 2024", {"coef": (1e-6, 1e-2)}),
    MethodSpec("wasserstein", "optimizer", optim.WassersteinAdam, "Adam + coupled λΣ(sort θ − sort θ₀)²",
               "Lewandowski et al. 2023", {"coef": (1e-5, 1e-1)}),
    MethodSpec("shrink_perturb", "optimizer", optim.ShrinkPerturbAdam,
               "Adam + L2 + N(0, σ²) noise after every step", "Dohare et al. 2024; Ash & Adams 2020",
               {"noise_std": (1e-7, 1e-3)}),
    MethodSpec("adam_equal_betas", "optimizer", optim.EqualBetasAdam, "Adam with β₁ = β₂ = 0.99",
               "Dohare et al. 2024"),
    MethodSpec("cbp", "unit", CBP, "continual backprop: replace low-utility units after every step",
               "Dohare et al. 2024; shibhansh/loss-of-plasticity", {"replacement_rate": (1e-6, 1e-3)}),
    MethodSpec("redo", "unit", ReDo, "recycle τ-dormant units every interval steps", "Sokar et al. 2023",
               {"threshold": (1e-3, 0.5)}),
)}
OPTIMIZERS = tuple(name for name, s in METHODS.items() if s.kind == "optimizer")
UNIT_METHODS = tuple(name for name, s in METHODS.items() if s.kind == "unit")


def spec(name: str, kind: str | None = None) -> MethodSpec:
    """The method called ``name`` (of ``kind``, if given); an unknown name is a one-line ``ValueError``."""
    valid = [n for n, s in METHODS.items() if kind is None or s.kind == kind]
    if name not in valid:
        raise ValueError(f"unknown {kind or 'method'} {name!r}; valid choices: {', '.join(valid)}")
    return METHODS[name]


def options(cls: type) -> dict[str, Option]:
    """Keyword arguments of ``cls`` (and of :class:`RegularizedAdam` for its presets, which forward ``**adam``), less
    those the class sets itself (its ``fixed_options``)."""
    chain = [cls, optim.RegularizedAdam] if issubclass(cls, optim.RegularizedAdam) else [cls]
    fixed = set(getattr(cls, "fixed_options", ()))  # arguments a preset sets itself
    out: dict[str, Option] = {}
    for klass in chain:
        hints = typing.get_type_hints(klass.__init__)
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name in RESERVED or p.name in out or p.name in fixed:
                continue
            out[p.name] = Option(p.name, hints.get(p.name, Any), p.default)
    return out


def check_options(name: str, values: Mapping[str, Any], kind: str | None = None,
                  where: str = "") -> dict[str, Any]:
    """``values`` checked against method ``name``'s options: unknown keys, types and ranges (by building the method
    on a dummy parameter, so that its own checks run). Returns them ready for the constructor (lists given for
    tuples become tuples). Raises a one-line ``ValueError`` naming ``<where><key>=<value>``."""
    method = spec(name, kind)
    valid = method.options()
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in valid:
            raise ValueError(f"{where}{key}={value!r}: unknown option of {name!r}; valid options: {', '.join(valid)}")
        option = valid[key]
        if not _matches(value, option.annotation):
            raise ValueError(f"{where}{key}={value!r}: must be {option.type_name}")
        out[key] = tuple(value) if isinstance(value, list) and _is_tuple(option.annotation) else value
    _dry_run(method, out, values, where)
    return out


def _dry_run(method: MethodSpec, values: dict[str, Any], given: Mapping[str, Any], where: str) -> None:
    import torch
    from torch import nn
    kwargs = {k: v for k, v in values.items() if k != "layers"}  # layer names need the real network
    try:
        if method.kind == "optimizer":
            method.cls([nn.Parameter(torch.zeros(2, 2))], lr=1e-3, **kwargs)
        else:
            net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
            unit = method.cls(net, torch.optim.SGD(net.parameters(), lr=0.0), **kwargs,
                              trace_with=lambda: net(torch.zeros(1, 2)))
            unit.remove()
    except (ValueError, TypeError) as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        lowered = message.lower()
        key = next((k for k in values if f"{k}=" in message), None) or next(
            (k for k in values if k.rstrip("s") in lowered), None)  # torch's "Invalid beta parameter …"
        if key is None:
            raise ValueError(f"{where.rstrip('.') or method.name}: {message}") from None
        restated = re.match(rf"^(?:(\w+): )?{re.escape(key)}(?: \(\w+\))?=\S+?[;:]?\s+(.*)$", message)
        if restated:  # "CBP: replacement_rate=2 must be in [0, 1]" → "must be in [0, 1] (CBP)"
            message = restated.group(2) + (f" ({restated.group(1)})" if restated.group(1) else "")
        raise ValueError(f"{where}{key}={given[key]!r}: {message}") from None


def _is_tuple(annotation: Any) -> bool:
    return typing.get_origin(annotation) is tuple or annotation is tuple


def _args(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation) if _is_union(annotation) else (annotation,)


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _matches(value: Any, annotation: Any) -> bool:
    """``value`` (from a config file) fits ``annotation`` (bools are not numbers, NaN and ±inf not floats)."""
    for ann in _args(annotation):
        origin = typing.get_origin(ann)
        if ann is Any:
            return True
        if ann is type(None):
            if value is None:
                return True
        elif ann is bool:
            if isinstance(value, bool):
                return True
        elif ann is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return True
        elif ann is float:
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                return True
        elif ann is str:
            if isinstance(value, str):
                return True
        elif origin is tuple:
            items = typing.get_args(ann)
            if isinstance(value, list | tuple) and len(value) == len(items) and all(
                    _matches(v, a) for v, a in zip(value, items, strict=True)):
                return True
        elif origin in (collections.abc.Sequence, list):
            (item,) = typing.get_args(ann) or (Any,)
            if isinstance(value, list | tuple) and all(_matches(v, item) for v in value):
                return True
    return False


def _type_name(annotation: Any) -> str:
    names = []
    for ann in _args(annotation):
        origin = typing.get_origin(ann)
        if ann is type(None):
            names.append("null")
        elif ann in (bool, int, float, str):
            names.append({bool: "true or false", int: "an integer", float: "a finite number", str: "a text"}[ann])
        elif origin is tuple:
            names.append(f"a list of {len(typing.get_args(ann))} numbers")
        elif origin in (collections.abc.Sequence, list):
            names.append("a list of names")
        else:
            names.append(str(ann))
    return " or ".join(names)
