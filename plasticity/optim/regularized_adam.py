"""Adam with composable regularizers: the one optimizer every parameter-space method is a preset of.

One step, per parameter ``θ`` with task gradient ``g`` (Kingma & Ba 2015; Loshchilov & Hutter 2019)::

    g ← g + Σ_coupled coef·∇R(θ)                      coupled regularizers enter Adam's moments
    θ ← Adam(θ, g)                                    torch's own Adam/AdamW math (``torch.optim.adam.adam``)
    θ ← θ − lr·Σ_decoupled coef·∇R(θ)                 decoupled steps at the post-Adam weights, never rescaled
    θ ← θ + noise_std·ε,   ε ~ N(0, I)                optional perturbation (shrink & perturb)

Regularizers act only on param groups with ``regularize=True`` (the default for groups without the key; see
:func:`plasticity.param_groups` to exclude output heads) and only on the tensors they apply to (the
isometry and spectral penalties skip 1-D tensors such as biases). ``lr`` is read from each group at every
step, so schedules that rewrite ``group["lr"]`` (SB3 does on every update) apply to decoupled steps too.

With every coefficient 0 and no noise the step *is* ``torch.optim.Adam`` (or ``AdamW`` with
``decoupled_weight_decay=True``), bit for bit. Unit methods (CBP, ReDo) may reset Adam's state for single
rows or columns; they then give that parameter a per-entry step count (``state["step"]`` with the
parameter's shape), and its update uses per-entry bias correction ``1 − β^{t_i}`` — a freshly reset entry
behaves exactly like a new Adam entry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim.adam import adam

from plasticity.regularizers.base import Regularizer


class RegularizedAdam(torch.optim.Adam):
    """``torch.optim.Adam`` plus regularizers (coupled or decoupled) and an optional per-step perturbation.

    :param regularizers: :class:`plasticity.regularizers.Regularizer` objects; keys must be distinct.
    :param noise_std: standard deviation of Gaussian noise added to every parameter of the regularized
        groups after each step (Dohare's shrink & perturb); the noise of step ``t`` is drawn from a generator seeded by
        ``(seed, t)``, so a resumed run draws the same noise.
    :param seed: seed of that noise.
    Other arguments are ``torch.optim.Adam``'s.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, regularizers: Sequence[Regularizer] = (), noise_std: float = 0.0,
                 seed: int = 0, foreach: bool | None = None, maximize: bool = False,
                 decoupled_weight_decay: bool = False, fused: bool | None = None):
        if not lr >= 0.0:
            raise ValueError(f"lr={lr!r} must be >= 0")
        if not noise_std >= 0.0:
            raise ValueError(f"noise_std={noise_std!r} must be >= 0")
        keys = [r.key for r in regularizers]
        if len(set(keys)) != len(keys):
            raise ValueError(f"regularizers must be of distinct kinds, got {keys}")
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
                         fused=fused)
        self.regularizers = tuple(regularizers)
        self.noise_std = float(noise_std)
        self.seed = int(seed)
        self._steps = 0
        for group in self.param_groups:
            group.setdefault("regularize", True)
            for p in group["params"]:
                self._init_regularizer_state(group, p)

    # -- state ----------------------------------------------------------------------------------------
    def _active(self, group: dict[str, Any], p: Tensor) -> list[Regularizer]:
        if not group.get("regularize", True):
            return []
        return [r for r in self.regularizers if r.coef > 0.0 and r.applies_to(p)]

    def _init_regularizer_state(self, group: dict[str, Any], p: Tensor) -> None:
        state = self.state[p]
        for reg in self._active(group, p):
            for key, value in reg.init_state(p).items():
                state.setdefault(key, value)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.setdefault("regularize", True)
        if hasattr(self, "regularizers"):
            for p in group["params"]:
                self._init_regularizer_state(group, p)

    def __getstate__(self) -> dict[str, Any]:
        # torch's Optimizer copies and pickles only defaults, state and param groups; the regularizers and the
        # perturbation's step count are this optimizer's too (copy.deepcopy of an agent, pickle)
        return {**super().__getstate__(), "regularizers": self.regularizers, "noise_std": self.noise_std,
                "seed": self.seed, "_steps": self._steps}

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        sd["plasticity"] = {"steps": self._steps}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("plasticity", {"steps": 0})
        super().load_state_dict(state_dict)
        self._steps = int(extra["steps"])

    def penalty(self) -> Tensor:
        """``Σ coef·R(θ)`` over every regularized parameter (no gradient), for logging."""
        total = torch.zeros(())
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    for reg in self._active(group, p):
                        total += reg.coef * reg.penalty(p, self.state[p]).float().cpu()
        return total

    # -- step -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # Groups that differ only in what they regularize (e.g. hidden layers vs heads) share one Adam call:
        # the kernels are per tensor, so this is the same arithmetic with one dispatch instead of several.
        batches: dict[tuple, _AdamBatch] = {}
        for group in self.param_groups:
            self._collect_adam(group, batches.setdefault(_adam_key(group), _AdamBatch(group)))
        for batch in batches.values():
            batch.run(getattr(self, "grad_scale", None), getattr(self, "found_inf", None))
        for group in self.param_groups:
            self._decoupled_group(group)
        self._steps += 1
        if self.noise_std > 0.0:
            self._perturb()
        return loss

    def _lazy_adam_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        state = self.state[p]
        if "step" not in state:
            state["step"] = torch.tensor(0.0, dtype=torch.float32)
            if group["fused"] or group["capturable"]:
                state["step"] = state["step"].to(p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    def _collect_adam(self, group: dict[str, Any], batch: _AdamBatch) -> None:
        """Adds ``group``'s tensors to ``batch`` (one torch ``adam`` call); per-entry-step tensors update here."""
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("RegularizedAdam does not support sparse gradients")
            state = self._lazy_adam_state(group, p)
            grad = p.grad
            for reg in self._active(group, p):
                if reg.coupled:
                    grad = reg.coupled_grad(p, state, grad)
            if state["step"].ndim > 0:
                _per_entry_adam(p, grad, state, group)
            else:
                batch.add(p, grad, state)

    def _decoupled_group(self, group: dict[str, Any]) -> None:
        lr = group["lr"]
        for p in group["params"]:
            if p.grad is None:
                continue
            for reg in self._active(group, p):
                if not reg.coupled:
                    reg.decoupled_step(p, self.state[p], lr * reg.coef)

    def _perturb(self) -> None:
        gen = torch.Generator(device="cpu").manual_seed(hash((self.seed, self._steps)) & 0x7FFF_FFFF_FFFF_FFFF)
        for group in self.param_groups:
            if not group.get("regularize", True):
                continue
            for p in group["params"]:
                noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
                p.add_(noise.to(p.device), alpha=self.noise_std)


def _per_entry_adam(p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
    """Adam for a parameter whose entries have their own step counts (after a unit-method reset)."""
    if group["amsgrad"]:
        raise NotImplementedError("per-entry Adam state (after a unit reset) does not support amsgrad")
    step = state["step"]
    if step.device != p.device:
        step = state["step"] = step.to(p.device)
    beta1, beta2 = group["betas"]
    lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
    if group["maximize"]:
        grad = -grad
    if wd != 0:
        if group["decoupled_weight_decay"]:
            p.mul_(1 - lr * wd)
        else:
            grad = grad.add(p, alpha=wd)
    step.add_(1)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    # 1 − β^t per entry as −expm1(t·ln β): accurate for small t, and cheap (no float64 pow over the tensor)
    bias_correction1 = torch.expm1(step * math.log(beta1)).neg_()
    bias_correction2_sqrt = torch.expm1(step * math.log(beta2)).neg_().sqrt_()
    denom = exp_avg_sq.sqrt().div_(bias_correction2_sqrt).add_(eps)
    p.addcdiv_(exp_avg.div(bias_correction1), denom, value=-lr)


_ADAM_KEYS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable", "differentiable",
              "fused", "decoupled_weight_decay")


def _adam_key(group: dict[str, Any]) -> tuple:
    """The group's Adam hyper-parameters (a tensor ``lr`` by identity): groups with equal keys share a call."""
    return tuple(id(v) if isinstance(v, Tensor) else v for v in (group[k] for k in _ADAM_KEYS))


class _AdamBatch:
    """The argument lists of one call of torch's functional ``adam`` for groups with equal hyper-parameters."""

    def __init__(self, group: dict[str, Any]):
        self.group = group
        self.params: list[Tensor] = []
        self.grads: list[Tensor] = []
        self.exp_avgs: list[Tensor] = []
        self.exp_avg_sqs: list[Tensor] = []
        self.max_exp_avg_sqs: list[Tensor] = []
        self.steps: list[Tensor] = []

    def add(self, p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        self.params.append(p)
        self.grads.append(grad)
        self.exp_avgs.append(state["exp_avg"])
        self.exp_avg_sqs.append(state["exp_avg_sq"])
        self.steps.append(state["step"])
        if self.group["amsgrad"]:
            self.max_exp_avg_sqs.append(state["max_exp_avg_sq"])

    def run(self, grad_scale: Tensor | None, found_inf: Tensor | None) -> None:
        if not self.params:
            return
        g = self.group
        beta1, beta2 = g["betas"]
        adam(self.params, self.grads, self.exp_avgs, self.exp_avg_sqs, self.max_exp_avg_sqs, self.steps,
             amsgrad=g["amsgrad"], has_complex=any(torch.is_complex(p) for p in self.params), beta1=beta1,
             beta2=beta2, lr=g["lr"], weight_decay=g["weight_decay"], eps=g["eps"], maximize=g["maximize"],
             foreach=g["foreach"], capturable=g["capturable"], differentiable=g["differentiable"], fused=g["fused"],
             grad_scale=grad_scale, found_inf=found_inf, decoupled_weight_decay=g["decoupled_weight_decay"])
