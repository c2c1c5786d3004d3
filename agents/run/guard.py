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
    """:param step: a callable giving the current env step, for the message.
    :param deferred: keep the per-update check on the device and read it only in :meth:`check` (a CUDA run must
        not wait for the host after every optimizer step); the first bad update is remembered there, and
        :meth:`check` runs before every checkpoint, so a bad state is never saved. Default: on for CUDA.
    """

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, step: Any, deferred: bool | None = None):
        self.names = {id(p): n for n, p in module.named_parameters()}
        self.optimizer = optimizer
        self.step = step
        self.updates = 0
        params = self._params()
        device = params[0].device if params else torch.device("cpu")
        self.deferred = device.type == "cuda" if deferred is None else deferred
        self._first_bad = torch.full((), -1, dtype=torch.long, device=device)  # the first bad update (deferred)
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
        if self.deferred:
            bad = ~torch.isfinite(total) & (self._first_bad < 0)
            self._first_bad = torch.where(bad, self.updates, self._first_bad)
            return
        if torch.isfinite(total):
            return
        self._raise(params, self.updates)

    def check(self) -> None:
        """Raise :class:`NonFiniteError` if a deferred check found a non-finite value (one read from the device)."""
        if self.deferred and int(self._first_bad) >= 0:
            params = self._params()
            total = torch.stack(torch._foreach_norm([p.detach() for p in params])).float().sum()
            if not torch.isfinite(total):
                self._raise(params, int(self._first_bad))
            self._first_bad.fill_(-1)  # an overflowing finite norm only: nothing to report

    def _raise(self, params: list[torch.Tensor], update: int) -> None:
        for what, tensors in (("gradient", [p.grad for p in params]), ("parameter", params)):
            for p, t in zip(params, tensors, strict=True):
                if t is not None and not torch.isfinite(t).all():
                    name = self.names.get(id(p), f"tensor of shape {tuple(p.shape)}")
                    raise NonFiniteError(f"non-finite {what} of {name} at env step {self.step():,} (update "
                                         f"{update}): the run stopped; the last good checkpoint is kept")

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
