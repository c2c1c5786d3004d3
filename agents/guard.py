"""Stop training at the first non-finite gradient or parameter, naming the step and the tensor.

Hooks the optimizer: before each step every gradient, after it every parameter is checked (one fused norm
kernel over all tensors, so the cost is a few reductions per update). A non-finite loss shows up as
non-finite gradients. The run then fails before any checkpoint of the bad state is written: the last good
checkpoint stays the latest.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class NonFiniteError(RuntimeError):
    pass


class NonFiniteGuard:
    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, step: Any):
        """:param step: a callable giving the current env step, for the message."""
        self.names = {id(p): n for n, p in module.named_parameters()}
        self.optimizer = optimizer
        self.step = step
        self.updates = 0
        self._handles = [optimizer.register_step_pre_hook(self._check_grads),
                         optimizer.register_step_post_hook(self._check_params)]

    def _tensors(self, grads: bool) -> list[torch.Tensor]:
        out = []
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                t = p.grad if grads else p
                if t is not None:
                    out.append(t)
        return out

    def _check(self, tensors: list[torch.Tensor], what: str) -> None:
        if not tensors:
            return
        # One fused kernel for all norms: a NaN or inf entry makes its tensor's norm non-finite. A finite tensor
        # whose norm overflows only sends us to the exact per-tensor check below, which then finds nothing.
        total = torch.stack(torch._foreach_norm([t.detach() for t in tensors])).float().sum()
        if torch.isfinite(total):
            return
        for t in tensors:
            if not torch.isfinite(t).all():
                param = next((p for g in self.optimizer.param_groups for p in g["params"]
                              if p is t or p.grad is t), None)
                name = self.names.get(id(param), f"tensor of shape {tuple(t.shape)}")
                raise NonFiniteError(f"non-finite {what} of {name} at env step {self.step():,} (update "
                                     f"{self.updates + (what == 'gradient')}): the run stopped; the last good "
                                     "checkpoint is kept")

    def _check_grads(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._check(self._tensors(grads=True), "gradient")

    def _check_params(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.updates += 1
        self._check(self._tensors(grads=False), "parameter")

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
