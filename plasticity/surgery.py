"""In-place surgery on units and on the optimizer's state for them.

Parameters are never replaced, only written in place, so they stay the same objects in the optimizer's param
groups (rebuilding modules silently detaches them from the optimizer, a bug seen in public ports).

Optimizer state is reset for exactly the touched entries, so that each behaves like a new entry:

* :class:`~plasticity.optim.RegularizedAdam`, its presets and ``with_regularizers(torch.optim.Adam/AdamW)``:
  moments 0 and the entry's own step count 0 (per-entry bias correction ``1 − β^{t_i}``) — exact;
* ``torch.optim.SGD``: ``momentum_buffer`` 0 — exact with ``dampening=0`` (a new entry's buffer starts at its
  first gradient, which is what a zero buffer gives; with dampening a warning says it is not);
* ``torch.optim.RMSprop``: ``square_avg``, ``momentum_buffer``, ``grad_avg`` 0 — exact (no bias correction);
* ``torch.optim.Adagrad``: ``sum`` ← ``initial_accumulator_value`` — exact with ``lr_decay=0``;
* ``torch.optim.Adam``/``AdamW``: moments 0, and :mod:`plasticity.entry_steps` gives the entries their own
  bias correction after every step (torch keeps one step count per tensor) — exact up to float rounding;
* other optimizers with one step count per tensor (NAdam, RAdam, Adamax, …): moments 0, but the entry's
  bias correction stays the tensor's (≈ 1 late in training), so e.g. Adam's first update would be
  ``(1−β₁)/√(1−β₂) ≈ 3.2×`` a new entry's — a warning, once per type, names the exact alternatives.

Regularizer state (L2-Init's anchor, …) of the touched entries follows the new values. Normalization modules
between a layer and its consumers (LayerNorm, BatchNorm) get weight 1 and bias 0 for the replaced units
(BatchNorm's running statistics 0 and 1), as in Dohare's CBP layers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from plasticity import entry_steps
from plasticity.network import HiddenLayer

Index = tuple[slice | Tensor, ...] | Tensor  # an index, or a boolean mask of the tensor's shape
INITS = ("match", "default", "lecun", "kaiming")
EXACT = (torch.optim.SGD, torch.optim.RMSprop, torch.optim.Adagrad)
_warned: set[type] = set()


def _per_entry(optimizer: torch.optim.Optimizer) -> bool:
    from plasticity.optim.regularized_adam import RegularizedAdam

    return isinstance(optimizer, RegularizedAdam)


def check_optimizer_supported(optimizer: torch.optim.Optimizer, what: str) -> None:
    """Refuse, before any training, the optimizer settings a reset cannot handle."""
    for group in optimizer.param_groups:
        if isinstance(optimizer, torch.optim.SGD) and group.get("momentum", 0) and group.get("dampening", 0):
            warnings.warn(f"{what}: SGD with dampening={group['dampening']}: a reset entry's momentum restarts at "
                          "(1 − dampening)·grad, not at grad as a new entry's does", stacklevel=3)
            return


def reset_optimizer_entries(optimizer: torch.optim.Optimizer, param: Tensor, index: Index) -> None:
    """Reset ``optimizer``'s state of ``param[index]`` as for a new entry (the module docstring's table);
    ``index`` may be a boolean mask of ``param``'s shape (then nothing is read on the host)."""
    state = optimizer.state.get(param)
    if not state:
        return
    per_entry = _per_entry(optimizer)
    prefixes = _regularizer_prefixes(optimizer)
    for key, value in state.items():
        if not torch.is_tensor(value) or key.startswith(prefixes):
            continue
        if key == "step":
            if not per_entry:
                continue
            scalar = None
            if value.shape != param.shape:
                # float32 whatever the parameter's dtype: a bf16 count stops at 256 (exact to 2²⁴ here)
                scalar = float(value)  # torch keeps a tensor's one step count on the host (not capturable)
                value = state["step"] = torch.full(param.shape, scalar, dtype=torch.float32, device=param.device)
            fill_(value, index, 0)
            optimizer.note_entry_reset(param, scalar)
        elif key == "sum" and isinstance(optimizer, torch.optim.Adagrad):
            fill_(value, index, _group_of(optimizer, param).get("initial_accumulator_value", 0.0))
        elif value.shape == param.shape:
            fill_(value, index, 0)
    if hasattr(optimizer, "regularizer_state"):
        for reg in optimizer.regularizers:
            reg.reset_entries(param, optimizer.regularizer_state(param), index)
    if entry_steps.supports(optimizer):
        entry_steps.attach(optimizer).reset(param, index)
    elif not per_entry and not isinstance(optimizer, EXACT) and "step" in state and type(optimizer) not in _warned:
        _warned.add(type(optimizer))
        warnings.warn(f"{type(optimizer).__name__} keeps one step count per tensor: moments of reset units were "
                      "zeroed but their bias correction is not restarted; use torch.optim.Adam/AdamW or "
                      "plasticity.RegularizedAdam for an exact per-entry reset", stacklevel=3)


def _group_of(optimizer: torch.optim.Optimizer, param: Tensor) -> dict:
    return next(g for g in optimizer.param_groups if any(p is param for p in g["params"]))


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


def draw_incoming(layer: HiddenLayer, n: int, bound: float, generator: torch.Generator) -> Tensor:
    """``n`` rows of fresh incoming weights ``U(−bound, bound)`` for ``layer``, drawn on the CPU ``generator`` (the
    same numbers on every device), returned on the layer's device."""
    weight = layer.module.weight
    fresh = torch.empty((n, *weight.shape[1:]), dtype=weight.dtype, device="cpu")
    fresh.uniform_(-bound, bound, generator=generator)
    return fresh.to(weight.device)


@torch.no_grad()
def reinit_units(layer: HiddenLayer, units: Tensor, bound: float, generator: torch.Generator,
                 optimizer: torch.optim.Optimizer | None = None, *, fresh: Tensor | None = None,
                 ) -> list[tuple[Tensor, Index]]:
    """Give ``units`` fresh incoming weights ``U(−bound, bound)``, zero incoming bias and zero outgoing weights.

    With zero outgoing weights the network computes exactly what it computed before, minus the replaced units'
    old contribution. ``units``: indices, or a boolean per unit — then every write is a ``where`` or a
    ``masked_fill`` over a broadcast mask, so how many units are replaced is never read on the host (a GPU stall
    otherwise), and ``fresh`` holds a row for every unit (those of the other units are unused). ``fresh``: the new
    incoming weights when drawn by the caller. Returns the touched ``(param, index)`` pairs (full-shape boolean
    masks for a boolean ``units``); their optimizer state is reset when ``optimizer`` is given.
    """
    masked = units.dtype == torch.bool
    if not masked and units.numel() == 0:
        return []
    module = layer.module
    weight = module.weight
    if fresh is None:
        fresh = draw_incoming(layer, layer.n_units if masked else units.numel(), bound, generator)
    rows = _unit_index(units, weight)
    if masked:
        weight.copy_(torch.where(rows, fresh, weight))
    else:
        weight[rows] = fresh
    touched: list[tuple[Tensor, Index]] = [(weight, rows)]
    if module.bias is not None:
        index = _unit_index(units, module.bias)
        fill_(module.bias, index, 0.0)
        touched.append((module.bias, index))
    for _, norm in layer.norms:
        touched += _reset_norm(norm, units)
    for consumer in layer.consumers:
        index = consumer.outgoing_mask(units) if masked else consumer.outgoing(units)
        fill_(consumer.weight, index, 0.0)
        touched.append((consumer.weight, index))
    if optimizer is not None:
        for param, index in touched:
            reset_optimizer_entries(optimizer, param, index)
    return touched


def _unit_index(units: Tensor, tensor: Tensor) -> Index:
    """The entries of ``tensor`` (first dimension: the units) of ``units``: ``(units,)`` for indices, a broadcast
    boolean mask of ``tensor``'s shape for a boolean per unit."""
    if units.dtype != torch.bool:
        return (units,)
    return units.view(-1, *([1] * (tensor.dim() - 1))).expand_as(tensor)


def fill_(tensor: Tensor, index: Index, value: float) -> None:
    """``tensor[index] = value`` in place; a boolean-mask ``index`` (``tensor``'s shape) writes with
    ``masked_fill_``, which reads nothing on the host (a boolean index would)."""
    if isinstance(index, Tensor):
        tensor.masked_fill_(index, value)
    else:
        tensor[index] = value


def _reset_norm(norm: nn.Module, units: Tensor) -> list[tuple[Tensor, Index]]:
    """Weight 1, bias 0 (and BatchNorm's running mean 0, variance 1) for ``units`` (indices, or a boolean per unit):
    a new unit's normalization."""
    touched: list[tuple[Tensor, Index]] = []
    for name, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0)):
        tensor = getattr(norm, name, None)
        if tensor is not None:
            index = _unit_index(units, tensor)
            fill_(tensor, index, value)
            if isinstance(tensor, nn.Parameter):
                touched.append((tensor, index))
    return touched


def optimizer_params(optimizer: torch.optim.Optimizer) -> set[int]:
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


def check_in_optimizer(optimizer: torch.optim.Optimizer, params: Sequence[Tensor], what: str) -> None:
    known = optimizer_params(optimizer)
    missing = [tuple(p.shape) for p in params if id(p) not in known]
    if missing:
        raise ValueError(f"{what}: parameters of shapes {missing} are not in the optimizer's param groups")
