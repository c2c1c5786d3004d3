"""Per-entry bias correction for torch's own ``Adam``/``AdamW`` after unit resets.

torch's Adam keeps one step count ``T`` per tensor, so an entry whose moments were reset at step ``T₀`` is
bias-corrected with ``1 − β^T`` instead of a new entry's ``1 − β^{t}``, ``t = T − T₀``. :class:`EntrySteps`
records ``T₀`` per entry and, after every optimizer step, replaces torch's update of those entries by the
per-entry one::

    θ ← θ + lr·[ m/(1−β₁^T) / (√(v/(1−β₂^T)) + ε)  −  m/(1−β₁^t) / (√(v/(1−β₂^t)) + ε) ]

(``v`` is ``max_exp_avg_sq`` with amsgrad; decoupled weight decay does not depend on ``t``), which leaves the
entry exactly where a new Adam entry would be, up to float rounding. Entries reset in the current step
(``t = 0``) are skipped. Once every entry of a tensor has ``t`` so large that both corrections equal the
tensor's to float32 precision (``β^t < 2⁻²⁴``), the tensor is dropped from tracking and costs nothing more.
``optimizer.state_dict()`` carries the ``T₀`` tensors (key ``"plasticity_entry_born"``) and
``load_state_dict`` restores them, once an :class:`EntrySteps` is attached (CBP and ReDo attach one when they
are built, i.e. before a checkpoint is loaded into the optimizer).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

KEY = "plasticity_entry_born"
_FLOAT32_EXACT = 24  # β^t < 2^-24: the correction is 1 in float32


def supports(optimizer: torch.optim.Optimizer) -> bool:
    """True for torch's ``Adam`` and ``AdamW`` (and subclasses that keep their scalar-step math)."""
    from plasticity.optim.regularized_adam import RegularizedAdam

    return isinstance(optimizer, torch.optim.Adam) and not isinstance(optimizer, RegularizedAdam)


def attached(optimizer: torch.optim.Optimizer) -> EntrySteps | None:
    """The optimizer's :class:`EntrySteps` if one was attached, else ``None``."""
    return optimizer.__dict__.get("_plasticity_entry_steps")


def attach(optimizer: torch.optim.Optimizer) -> EntrySteps:
    """The optimizer's :class:`EntrySteps`, created and hooked on first use."""
    tracker = attached(optimizer)
    if tracker is None:
        tracker = optimizer.__dict__["_plasticity_entry_steps"] = EntrySteps(optimizer)
    return tracker


def records(optimizer: torch.optim.Optimizer) -> dict[int, Tensor]:
    """The ``T₀`` records by parameter index (what ``state_dict()`` saves under ``"plasticity_entry_born"``), for
    checkpoints that hold the optimizer's state without this key (SB3's zip is loaded before a unit method exists)."""
    tracker = attached(optimizer)
    return {} if tracker is None else tracker._save(optimizer, {})[KEY]


def restore(optimizer: torch.optim.Optimizer, saved: dict[int, Tensor]) -> None:
    """Put records from :func:`records` back (attaching the tracker if needed)."""
    attach(optimizer)._load(optimizer, {KEY: saved})


class EntrySteps:
    """``T₀`` per entry of the tensors with reset entries, and the post-step correction (module docstring)."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer
        self.born: dict[Tensor, Tensor] = {}
        # the newest T₀ of each tensor, on the host: min_i t_i = T − max_i T₀_i without reading ``born`` back
        self.newest: dict[Tensor, float] = {}
        optimizer.register_step_post_hook(lambda opt, args, kwargs: self.correct())
        optimizer.register_state_dict_post_hook(self._save)
        optimizer.register_load_state_dict_pre_hook(self._load)

    def reset(self, param: Tensor, index: tuple | Tensor) -> None:
        """Entries ``param[index]`` restart now (their moments were zeroed by the caller); ``index`` may be a boolean
        mask of ``param``'s shape."""
        step = float(self.optimizer.state[param]["step"])
        born = self.born.get(param)
        if born is None:
            born = self.born[param] = torch.zeros(param.shape, dtype=torch.float32, device=param.device)
        if isinstance(index, torch.Tensor):  # a boolean mask of param's shape: no host read
            born.masked_fill_(index, step)
        else:
            born[index] = step
        self.newest[param] = step

    @torch.no_grad()
    def correct(self) -> None:
        done = []
        for group in self.optimizer.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps = float(group["lr"]), group["eps"]
            for p in group["params"]:
                born = self.born.get(p)
                if born is None or p.grad is None:
                    continue
                state = self.optimizer.state[p]
                total = float(state["step"])
                age = total - born  # t per entry
                live = age > 0
                m = state["exp_avg"]
                v = state["max_exp_avg_sq"] if group["amsgrad"] else state["exp_avg_sq"]
                compute = torch.promote_types(p.dtype, torch.float32)
                t = age.to(compute).clamp_min(1.0)
                ours = m.to(compute) / (-torch.expm1(t * math.log(beta1))) / (
                    v.to(compute).sqrt() / (-torch.expm1(t * math.log(beta2))).sqrt() + eps)
                torch_update = m.to(compute) / (1 - beta1**total) / (
                    v.to(compute).sqrt() / math.sqrt(1 - beta2**total) + eps)
                p.add_(torch.where(live, torch_update - ours, 0.0).to(p.dtype), alpha=lr)
                oldest_needed = _FLOAT32_EXACT * math.log(2) / -math.log(max(beta1, beta2))
                if total - self.newest[p] > oldest_needed and total > oldest_needed:
                    done.append(p)
        for p in done:
            del self.born[p], self.newest[p]

    def _save(self, optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
        index = {id(p): i for i, p in enumerate(p for g in optimizer.param_groups for p in g["params"])}
        state_dict[KEY] = {index[id(p)]: born.clone() for p, born in self.born.items()}
        return state_dict

    def _load(self, optimizer: torch.optim.Optimizer, state_dict: dict[str, Any]) -> dict[str, Any]:
        state_dict = dict(state_dict)
        saved = state_dict.pop(KEY, {})
        params = [p for g in optimizer.param_groups for p in g["params"]]
        self.born = {params[int(i)]: born.to(device=params[int(i)].device, dtype=torch.float32)
                     for i, born in saved.items()}
        self.newest = {p: float(born.max()) for p, born in self.born.items()}  # read once, at a load
        return state_dict
