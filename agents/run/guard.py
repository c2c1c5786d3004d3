"""Stop training at the first non-finite gradient or parameter, naming the step and the tensor.

Hooks the optimizer's step: after each step every parameter is checked with one fused norm kernel over all of
them. A non-finite gradient (also what a non-finite loss gives) always leaves a non-finite parameter behind —
Adam, SGD and the regularizers all add a multiple of it, and ``0 · nan`` is ``nan`` — so checking parameters
alone catches both at the cost of one reduction per update (DQN updates once per env step); the message then
names the first non-finite gradient if there is one, else the first non-finite parameter. The run fails
before any checkpoint of the bad state is written: the last good checkpoint stays the latest.
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
        self._handles = [optimizer.register_step_post_hook(self._check_step)]

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def _check_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.updates += 1
        params = self._params()
        if not params:
            return
        # A NaN or inf entry makes its tensor's norm non-finite. A finite tensor whose norm overflows only sends
        # us to the exact per-tensor search below, which then finds nothing.
        total = torch.stack(torch._foreach_norm([p.detach() for p in params])).float().sum()
        if torch.isfinite(total):
            return
        for what, tensors in (("gradient", [p.grad for p in params]), ("parameter", params)):
            for p, t in zip(params, tensors, strict=True):
                if t is not None and not torch.isfinite(t).all():
                    name = self.names.get(id(p), f"tensor of shape {tuple(p.shape)}")
                    raise NonFiniteError(f"non-finite {what} of {name} at env step {self.step():,} (update "
                                         f"{self.updates}): the run stopped; the last good checkpoint is kept")

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
