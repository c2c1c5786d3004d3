"""What every regularized optimizer does around its base step, whatever the base (Adam, SGD, RMSprop, …).

For a parameter ``θ`` with task gradient ``g`` in a param group with ``regularize=True``::

    g ← g + Σ_coupled coef·∇R(θ)          (g − Σ coef·∇R(θ) when the group has ``maximize=True``: the optimizer
                                          ascends −g there, so the penalty is still descended, as torch's own
                                          ``weight_decay`` is)
    θ ← base_step(θ, g)
    θ ← θ − lr·Σ_decoupled coef·∇R(θ)     decoupled steps at the post-step weights, never rescaled
    θ ← θ + noise_std·ε,   ε ~ N(0, I)    optional perturbation (shrink & perturb), seeded by (seed, step)

:class:`RegularizerMixin` holds the regularizers and implements those pieces; where a regularizer keeps state
(initial weights, power-iteration vectors) is up to the optimizer (:meth:`RegularizerMixin.regularizer_state`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from plasticity.regularizers.base import Regularizer


def check_params(params: Any, optimizer: str) -> None:
    """A module given where parameters belong is refused in one line (torch's own TypeError names no fix)."""
    if isinstance(params, torch.nn.Module):
        raise TypeError(f"{optimizer}: params={type(params).__name__}(...) is a module; pass its parameters: "
                        "model.parameters(), or plasticity.param_groups(model, exclude=[<output heads>]) to leave "
                        "the heads unregularized")


def check_regularizers(regularizers: Sequence[Regularizer], noise_std: float) -> None:
    """Refuse anything but distinct :class:`Regularizer` kinds and a negative noise level."""
    bad = [r for r in regularizers if not isinstance(r, Regularizer)]
    if bad:
        raise TypeError(f"regularizers must be plasticity.regularizers.Regularizer objects, got {bad[0]!r}")
    keys = [r.key for r in regularizers]
    if len(set(keys)) != len(keys):
        raise ValueError(f"regularizers must be of distinct kinds, got {keys}")
    if not noise_std >= 0.0:
        raise ValueError(f"noise_std={noise_std!r} must be >= 0")


class RegularizerMixin:
    """Regularizers and perturbation for a ``torch.optim.Optimizer`` subclass (see the module docstring)."""

    param_groups: list[dict[str, Any]]
    regularizers: tuple[Regularizer, ...] = ()
    noise_std: float = 0.0
    seed: int = 0
    _steps: int = 0

    def _setup_regularizers(self, regularizers: Sequence[Regularizer], noise_std: float, seed: int) -> None:
        check_regularizers(regularizers, noise_std)
        self.regularizers = tuple(regularizers)
        self.noise_std = float(noise_std)
        self.seed = int(seed)
        self._steps = 0
        for group in self.param_groups:
            self._init_regularizers_of(group)

    def _init_regularizers_of(self, group: dict[str, Any]) -> None:
        group.setdefault("regularize", True)
        for p in group["params"]:
            state = self.regularizer_state(p)
            for reg in self._active(group, p):
                for key, value in reg.init_state(p).items():
                    state.setdefault(key, value)

    def regularizer_state(self, p: Tensor) -> dict[str, Any]:
        """The dict that holds the regularizers' state of ``p`` (subclasses)."""
        raise NotImplementedError

    def _active(self, group: dict[str, Any], p: Tensor) -> list[Regularizer]:
        if not group.get("regularize", True):
            return []
        return [r for r in self.regularizers if r.coef > 0.0 and r.applies_to(p)]

    def _coupled_grad(self, group: dict[str, Any], p: Tensor, grad: Tensor) -> Tensor:
        """``grad ± Σ coef·∇R(p)`` over the coupled regularizers (− when the group maximizes)."""
        for reg in self._active(group, p):
            if reg.coupled:
                if group.get("maximize", False):
                    grad = reg.coupled_grad(p, self.regularizer_state(p), grad.neg()).neg_()
                else:
                    grad = reg.coupled_grad(p, self.regularizer_state(p), grad)
        return grad

    def _decoupled_steps(self) -> None:
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                for reg in self._active(group, p):
                    if not reg.coupled:
                        reg.decoupled_step(p, self.regularizer_state(p), lr * reg.coef)

    def _after_base_step(self) -> None:
        self._decoupled_steps()
        self._steps += 1
        if self.noise_std > 0.0:
            self._perturb()

    def _perturb(self) -> None:
        gen = torch.Generator(device="cpu").manual_seed(hash((self.seed, self._steps)) & 0x7FFF_FFFF_FFFF_FFFF)
        for group in self.param_groups:
            if not group.get("regularize", True):
                continue
            for p in group["params"]:
                noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
                p.add_(noise.to(p.device), alpha=self.noise_std)

    def penalty(self) -> Tensor:
        """``Σ coef·R(θ)`` over every regularized parameter (no gradient), for logging."""
        total = torch.zeros(())
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    for reg in self._active(group, p):
                        total += reg.coef * reg.penalty(p, self.regularizer_state(p)).float().cpu()
        return total

    def _regularizer_getstate(self) -> dict[str, Any]:
        # torch's Optimizer copies and pickles only defaults, state and param groups; the regularizers and the
        # perturbation's step count are this optimizer's too (copy.deepcopy of an agent, pickle)
        return {"regularizers": self.regularizers, "noise_std": self.noise_std, "seed": self.seed,
                "_steps": self._steps}
