"""Task-switch interventions, all in place: parameters stay the same tensors in the optimizer.

* :func:`reset_optimizer_state` — forget Adam's moments and step counts (the AdamO paper resets Adam at every
  task boundary, for every arm: Rosseau et al. 2026). Regularizer state is kept: L2-Init's anchor stays the
  very first initialization, as in the authors' code (their ``init_params`` are frozen for the whole run).
* :func:`reset_parameters` — copy a fresh initialization into parameters (a head, or the whole network) and
  forget their optimizer state; L2-Init re-anchors them to the new initialization (as for a CBP replacement).
* :func:`shrink_perturb` — Ash & Adams (2020): ``θ ← shrink·θ + perturb·θ_fresh``, with ``θ_fresh`` a new draw
  from the initialization distribution (their exact constants were not found — ours are
  documented defaults).

``fresh`` parameters come from :func:`fresh_like` (a deep copy re-initialized by each submodule's
``reset_parameters``, i.e. PyTorch's default init) or, better, from the code that built the model
(our SB3 agents build a fresh policy, so resets use SB3's orthogonal init).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from plasticity import entry_steps

ADAM_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer")


def fresh_like(module: nn.Module) -> nn.Module:
    """A copy of ``module`` re-initialized with each submodule's ``reset_parameters()``."""
    fresh = copy.deepcopy(module)
    for m in fresh.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return fresh


def forget_optimizer_state(optimizer: torch.optim.Optimizer, params: Iterable[Tensor], reanchor: bool = True) -> None:
    """Drop the moment/step state of ``params`` (it restarts from zero at their next step).

    :param reanchor: the parameters were rewritten (a reset, shrink & perturb): regularizers re-anchor them to
        their current values (L2-Init's ``θ₀``). ``False`` keeps every regularizer state (a moments-only reset).
    """
    tracker = entry_steps.attached(optimizer)  # torch Adam's per-entry steps restart too
    for p in params:
        if tracker is not None:
            tracker.born.pop(p, None)
        state = optimizer.state.get(p)
        if state:
            for key in ADAM_KEYS:
                state.pop(key, None)
            if reanchor and hasattr(optimizer, "regularizer_state"):
                for reg in optimizer.regularizers:
                    reg.reset_entries(p, optimizer.regularizer_state(p), (slice(None),))


def reset_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Forget the moments and step counts of every parameter of ``optimizer``; regularizer state is kept."""
    forget_optimizer_state(optimizer, [p for g in optimizer.param_groups for p in g["params"]], reanchor=False)


@torch.no_grad()
def reset_parameters(params: Sequence[Tensor], fresh: Sequence[Tensor],
                     optimizer: torch.optim.Optimizer | None = None) -> None:
    """``p ← fresh`` in place for each pair, then forget their optimizer state."""
    _check_pairs(params, fresh)
    for p, f in zip(params, fresh, strict=True):
        p.copy_(f)
    if optimizer is not None:
        forget_optimizer_state(optimizer, params)


@torch.no_grad()
def shrink_perturb(params: Sequence[Tensor], fresh: Sequence[Tensor], shrink: float = 0.8,
                   perturb: float = 0.2, optimizer: torch.optim.Optimizer | None = None) -> None:
    """``p ← shrink·p + perturb·fresh`` in place; with ``optimizer``, forget their optimizer state."""
    if not 0.0 <= shrink <= 1.0:
        raise ValueError(f"shrink={shrink!r} must be in [0, 1]")
    if not perturb >= 0.0:
        raise ValueError(f"perturb={perturb!r} must be >= 0")
    _check_pairs(params, fresh)
    for p, f in zip(params, fresh, strict=True):
        p.mul_(shrink).add_(f, alpha=perturb)
    if optimizer is not None:
        forget_optimizer_state(optimizer, params)


def _check_pairs(params: Sequence[Tensor], fresh: Sequence[Tensor]) -> None:
    if len(params) != len(fresh) or any(p.shape != f.shape for p, f in zip(params, fresh, strict=False)):
        raise ValueError("fresh parameters must match the parameters one to one in shape")
