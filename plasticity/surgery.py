"""In-place surgery on units and on the optimizer's state for them.

Parameters are never replaced, only written in place, so they stay the same objects in the optimizer's param
groups (rebuilding modules silently detaches them from the optimizer, a bug seen in public ports).

Optimizer state is reset for exactly the touched entries. With :class:`plasticity.optim.RegularizedAdam` the
parameter gets a per-entry step count (``state["step"]`` with the parameter's shape) and the touched entries
restart at step 0, so their bias correction restarts too — a reset entry behaves exactly like a fresh Adam
entry. With any other optimizer every state tensor shaped like the parameter (``exp_avg``, ``exp_avg_sq``,
``momentum_buffer``, …) is zeroed at those entries; a scalar step count cannot be reset per entry, so a
warning says that bias correction is not restarted.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from plasticity.network import HiddenLayer

Index = tuple[slice | Tensor, ...]
INITS = ("match", "default", "lecun", "kaiming")
_warned: set[type] = set()


def reset_optimizer_entries(optimizer: torch.optim.Optimizer, param: Tensor, index: Index) -> None:
    """Reset ``optimizer``'s state of ``param[index]`` (moments and, where possible, the step count)."""
    from plasticity.optim.regularized_adam import RegularizedAdam

    state = optimizer.state.get(param)
    if not state:
        return
    per_entry = isinstance(optimizer, RegularizedAdam)
    for key, value in state.items():
        if not torch.is_tensor(value):
            continue
        if key == "step":
            if not per_entry:
                continue
            if value.shape != param.shape:
                value = state["step"] = torch.full(param.shape, float(value), dtype=param.dtype,
                                                   device=param.device)
            value[index] = 0
        elif value.shape == param.shape and not key.startswith(_regularizer_prefixes(optimizer)):
            value[index] = 0
    if per_entry:
        for reg in optimizer.regularizers:
            reg.reset_entries(param, state, index)
    elif "step" in state and type(optimizer) not in _warned:
        _warned.add(type(optimizer))
        warnings.warn(f"{type(optimizer).__name__} keeps one step count per tensor: moments of reset units were "
                      "zeroed but their bias correction is not restarted; use plasticity.optim.RegularizedAdam "
                      "(or a preset) for an exact per-entry reset", stacklevel=3)


def _regularizer_prefixes(optimizer: torch.optim.Optimizer) -> tuple[str, ...]:
    return tuple(f"{r.key}_" for r in getattr(optimizer, "regularizers", ()))


def init_bound(layer: HiddenLayer, init: str | float) -> float:
    """Half-width ``b`` of the uniform ``U(−b, b)`` that new incoming weights are drawn from.

    ``match``: the std of the layer's weights now (call it at attach time: the init's std), i.e. ``√3·std``;
    ``default``: PyTorch's default init ``1/√fan_in``; ``lecun``: ``√(3/fan_in)``; ``kaiming``:
    ``√2·√(3/fan_in)`` (ReLU gain); a float is used as the bound itself.
    """
    if isinstance(init, int | float) and not isinstance(init, bool):
        return float(init)
    w = layer.module.weight.detach()
    fan_in = w[0].numel()
    if init == "match":
        return math.sqrt(3.0) * float(w.float().std(correction=0))
    if init == "default":
        return 1.0 / math.sqrt(fan_in)
    if init == "lecun":
        return math.sqrt(3.0 / fan_in)
    if init == "kaiming":
        return math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
    raise ValueError(f"init={init!r}; valid choices: {', '.join(INITS)} or a float bound")


@torch.no_grad()
def reinit_units(layer: HiddenLayer, units: Tensor, bound: float, generator: torch.Generator,
                 optimizer: torch.optim.Optimizer | None = None) -> list[tuple[Tensor, Index]]:
    """Give ``units`` fresh incoming weights ``U(−bound, bound)``, zero incoming bias and zero outgoing weights.

    With zero outgoing weights the network computes exactly what it computed before, minus the replaced units'
    old contribution. Returns the touched ``(param, index)`` pairs; their optimizer state is reset when
    ``optimizer`` is given.
    """
    if units.numel() == 0:
        return []
    module = layer.module
    weight = module.weight
    fresh = torch.empty((units.numel(), *weight.shape[1:]), dtype=weight.dtype, device="cpu")
    fresh.uniform_(-bound, bound, generator=generator)
    weight[units] = fresh.to(weight.device)
    touched: list[tuple[Tensor, Index]] = [(weight, (units,))]
    if module.bias is not None:
        module.bias[units] = 0.0
        touched.append((module.bias, (units,)))
    for consumer in layer.consumers:
        index = consumer.outgoing(units)
        consumer.weight[index] = 0.0
        touched.append((consumer.weight, index))
    if optimizer is not None:
        for param, index in touched:
            reset_optimizer_entries(optimizer, param, index)
    return touched


def optimizer_params(optimizer: torch.optim.Optimizer) -> set[int]:
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


def check_in_optimizer(optimizer: torch.optim.Optimizer, params: Sequence[Tensor], what: str) -> None:
    known = optimizer_params(optimizer)
    missing = [tuple(p.shape) for p in params if id(p) not in known]
    if missing:
        raise ValueError(f"{what}: parameters of shapes {missing} are not in the optimizer's param groups")
