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
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from torch import nn

from plasticity.sync import sync_free


class NonFiniteError(RuntimeError):
    pass


class NonFiniteGuard:
    """:param step: a callable giving the current env step, for the message.
    :param deferred: keep the per-update check on the device and read it only in :meth:`check` (a CUDA run must
        not wait for the host after every optimizer step). The first bad update is recorded on the device as it
        happens — its number, its env step and which gradients and parameters were non-finite then — so the
        message names the tensor that went bad and when, however far the NaN spread before the read. The runner
        reads it before every checkpoint, at every PPO rollout start and every log row (:class:`GuardCheck`), so
        neither a checkpoint nor a rollout consumes a bad state. Default: on for CUDA.
    """

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, step: Any, deferred: bool | None = None):
        self.names = {id(p): n for n, p in module.named_parameters()}
        self.optimizer = optimizer
        self.step = step
        self.updates = 0
        params = self._params()
        device = params[0].device if params else torch.device("cpu")
        self.deferred = sync_free(device) if deferred is None else deferred
        # deferred: the first bad update's number and env step (-1: none yet), and its bad gradients / parameters
        self._first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self._first_step = torch.full((), -1, dtype=torch.long, device=device)
        self._bad_grads = torch.zeros(len(params), dtype=torch.bool, device=device)
        self._bad_params = torch.zeros(len(params), dtype=torch.bool, device=device)
        self._handles = [optimizer.register_step_post_hook(self._check_step)]

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def _check_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.updates += 1
        params = self._params()
        if not params:
            return
        detached = [p.detach() for p in params]
        if self.deferred:
            # The max-abs (∞-) norm is non-finite exactly when an entry is (a NaN propagates through the max; it
            # cannot overflow on large finite values), so each tensor's record is exact without a host read. On
            # the CPU it costs ≈ 5× the 2-norm, hence the immediate check below keeps the 2-norm.
            self._record(params, torch.stack(torch._foreach_norm(detached, float("inf"))))
            return
        # A NaN or inf entry makes the sum of the 2-norms non-finite. A finite tensor whose norm overflows only
        # sends us to the exact per-tensor search, which then finds nothing.
        if torch.isfinite(torch.stack(torch._foreach_norm(detached)).float().sum()):
            return
        self._raise(params, self.updates, self.step())

    def _record(self, params: list[torch.Tensor], norms: torch.Tensor) -> None:
        """On the device, no host read: remember the first update whose parameters went non-finite."""
        bad_params = ~torch.isfinite(norms)
        grads = [p.grad if p.grad is not None else torch.zeros((), device=p.device) for p in params]
        bad_grads = ~torch.isfinite(torch.stack(torch._foreach_norm([g.detach() for g in grads], float("inf"))))
        first = bad_params.any() & (self._first_bad < 0)
        self._first_bad = torch.where(first, self.updates, self._first_bad)
        self._first_step = torch.where(first, int(self.step()), self._first_step)
        self._bad_grads = torch.where(first, bad_grads, self._bad_grads)
        self._bad_params = torch.where(first, bad_params, self._bad_params)

    def check(self) -> None:
        """Raise :class:`NonFiniteError` if a deferred check found a non-finite value (one read from the device),
        naming the gradient (else the parameter) that was non-finite at the first bad update, and its step."""
        if not self.deferred or int(self._first_bad) < 0:
            return
        params = self._params()
        for what, mask in (("gradient", self._bad_grads.tolist()), ("parameter", self._bad_params.tolist())):
            for p, bad in zip(params, mask, strict=True):
                if bad:
                    raise NonFiniteError(self._message(what, p, int(self._first_bad), int(self._first_step)))

    def _raise(self, params: list[torch.Tensor], update: int, step: int) -> None:
        for what, tensors in (("gradient", [p.grad for p in params]), ("parameter", params)):
            for p, t in zip(params, tensors, strict=True):
                if t is not None and not torch.isfinite(t).all():
                    raise NonFiniteError(self._message(what, p, update, step))

    def _message(self, what: str, p: torch.Tensor, update: int, step: int) -> str:
        name = self.names.get(id(p), f"tensor of shape {tuple(p.shape)}")
        return (f"non-finite {what} of {name} at env step {step:,} (update {update}): the run stopped; the last "
                f"good checkpoint is kept")

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


class GuardCheck(BaseCallback):
    """Reads a deferred guard where a bad state would otherwise be consumed: at every PPO rollout start (before
    the rollout acts with the parameters) and every ``log_every`` env steps (the log rows' cadence)."""

    def __init__(self, guard: NonFiniteGuard, log_every: int):
        super().__init__()
        self.guard, self.log_every, self.next_row = guard, log_every, 0

    def _on_rollout_start(self) -> None:
        if isinstance(self.model, OnPolicyAlgorithm):
            self.guard.check()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_row:
            self.guard.check()
            self.next_row = (self.num_timesteps // self.log_every + 1) * self.log_every
        return True
