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
parameter's shape, float32), and its update uses per-entry bias correction ``1 − β^{t_i}`` — a freshly reset
entry behaves exactly like a new Adam entry. All per-entry tensors share one foreach pass; once every entry of
a tensor is old enough that its correction is 1 in float32 (``β^t < 2⁻²⁴``: 16.6k steps for β₂ = 0.999), the
tensor goes back to one step count and torch's fused/foreach kernel.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim.adam import adam

from plasticity.optim.regularizing import RegularizerMixin, check_params
from plasticity.regularizers.base import Regularizer


class RegularizedAdam(RegularizerMixin, torch.optim.Adam):
    """``torch.optim.Adam`` plus regularizers (coupled or decoupled) and an optional per-step perturbation.

    :param regularizers: :class:`plasticity.regularizers.Regularizer` objects; keys must be distinct.
    :param noise_std: standard deviation of Gaussian noise added to every parameter of the regularized
        groups after each step (Dohare's shrink & perturb); the noise of step ``t`` is drawn from a generator seeded by
        ``(seed, t)``, so a resumed run draws the same noise.
    :param seed: seed of that noise.
    Other arguments are ``torch.optim.Adam``'s (``amsgrad``, ``maximize``, ``fused``, … all supported).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, regularizers: Sequence[Regularizer] = (), noise_std: float = 0.0,
                 seed: int = 0, foreach: bool | None = None, maximize: bool = False,
                 decoupled_weight_decay: bool = False, fused: bool | None = None):
        check_params(params, type(self).__name__)
        if not lr >= 0.0:
            raise ValueError(f"lr={lr!r} must be >= 0")
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         foreach=foreach, maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
                         fused=fused)
        self._setup_regularizers(regularizers, noise_std, seed)

    # -- state ----------------------------------------------------------------------------------------
    def regularizer_state(self, p: Tensor) -> dict[str, Any]:
        """Adam's own ``state[p]``: regularizer entries sit next to the moments, under their key prefix."""
        return self.state[p]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        if "regularizers" in self.__dict__:
            self._init_regularizers_of(self.param_groups[-1])
        else:
            self.param_groups[-1].setdefault("regularize", True)

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), **self._regularizer_getstate()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # torch's Adam.__setstate__ reads state["step"] of every non-empty state; ours may hold only regularizer
        # entries (a checkpoint saved before the first step, or a parameter that never had a gradient)
        steps = {}
        for p_state in state.get("state", {}).values():
            if len(p_state) and "step" not in p_state:
                steps[id(p_state)] = p_state
                p_state["step"] = torch.tensor(0.0)
        super().__setstate__(state)
        for p_state in steps.values():
            del p_state["step"]

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        sd["plasticity"] = {"steps": self._steps}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("plasticity", {"steps": 0})
        super().load_state_dict(state_dict)
        self._steps = int(extra["steps"])
        self._entry_ages = {}  # recounted from the loaded step counts, once (_ages_of)

    # -- per-entry step counts, tracked on the host -------------------------------------------------
    def note_entry_reset(self, p: Tensor, scalar: float | None) -> None:
        """Entries of ``p`` restarted at step 0 (:func:`plasticity.surgery.reset_optimizer_entries`); ``scalar``:
        the tensor's one step count when this reset made its counts per entry. With the youngest and oldest entry's
        counts kept on the host, the settle check reads nothing from the device (a GPU stall otherwise)."""
        ages = self.__dict__.setdefault("_entry_ages", {})
        if scalar is not None:
            ages[p] = [0, int(scalar)]
        elif p in ages:
            ages[p][0] = 0

    def _ages_of(self, p: Tensor, step: Tensor) -> list[int]:
        """[youngest, oldest] entry step counts of ``p`` (the oldest an upper bound when every entry was reset,
        which changes no update once settled); read from the device once after a load."""
        ages = self.__dict__.setdefault("_entry_ages", {})
        if p not in ages:
            ages[p] = [int(step.min()), int(step.max())]
        return ages[p]

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
        per_entry = _AdamBatch(None)
        for group in self.param_groups:
            self._collect_adam(group, batches.setdefault(_adam_key(group), _AdamBatch(group)), per_entry)
        for batch in batches.values():
            batch.run(getattr(self, "grad_scale", None), getattr(self, "found_inf", None))
        per_entry.run_per_entry()
        self._after_base_step()
        if per_entry.params and self._steps % SETTLE_CHECK_EVERY == 0:
            self._settle_entry_steps(per_entry.params)
        return loss

    def _settle_entry_steps(self, params: list[Tensor]) -> None:
        """Back to one step count (torch's fast path) for tensors whose entries are all so old that
        ``1 − β^{t_i}`` is 1 to float32 precision (``β^t < 2⁻²⁴``): the same update up to float32 rounding."""
        groups = {id(p): g for g in self.param_groups for p in g["params"]}
        for p in params:
            group, step = groups[id(p)], self.state[p]["step"]
            if p.dtype == torch.float64 or step.ndim == 0:
                continue  # float64 parameters keep their exact per-entry correction
            settled = 24 * math.log(2) / -math.log(max(group["betas"]))
            youngest, oldest = self._ages_of(p, step)
            if youngest > settled:
                scalar = torch.tensor(float(oldest), dtype=torch.float32)
                self.state[p]["step"] = scalar.to(p.device) if group["fused"] or group["capturable"] else scalar
                del self._entry_ages[p]

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

    def _collect_adam(self, group: dict[str, Any], batch: _AdamBatch, per_entry: _AdamBatch) -> None:
        """Adds ``group``'s tensors to ``batch`` (one torch ``adam`` call) or, for tensors with per-entry step
        counts, to ``per_entry`` (one foreach pass over all of them)."""
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("RegularizedAdam does not support sparse gradients")
            state = self._lazy_adam_state(group, p)
            grad = self._coupled_grad(group, p, p.grad)
            if state["step"].ndim > 0:
                per_entry.add(p, grad, state, group)
                ages = self._entry_ages.get(p) if "_entry_ages" in self.__dict__ else None
                if ages is not None:
                    ages[0] += 1
                    ages[1] += 1
            else:
                batch.add(p, grad, state)


def _per_entry_adam(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor], exp_avg_sqs: list[Tensor],
                    max_exp_avg_sqs: list[Tensor], steps: list[Tensor], group: dict[str, Any]) -> None:
    """Adam for parameters whose entries have their own step counts (after a unit-method reset), all tensors of
    one hyper-parameter group in one foreach pass: ``m̂ = m / (1 − β₁^{t_i})``, ``v̂ = v / (1 − β₂^{t_i})`` per
    entry (``max(v)`` with amsgrad), ``θ ← θ − lr·m̂ / (√v̂ + ε)``; step counts are float32 whatever the
    parameter's dtype (exact to 2²⁴ steps)."""
    beta1, beta2 = group["betas"]
    lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
    if group["maximize"]:
        grads = torch._foreach_neg(grads)
    if wd != 0:
        if group["decoupled_weight_decay"]:
            torch._foreach_mul_(params, 1 - lr * wd)
        else:
            grads = torch._foreach_add(grads, params, alpha=wd)
    torch._foreach_add_(steps, 1.0)
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    bias_correction1, bias_correction2_sqrt = _bias_corrections(steps, params, float(beta1), float(beta2))
    second = exp_avg_sqs
    if group["amsgrad"]:
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        second = max_exp_avg_sqs
    denom = torch._foreach_sqrt(second)
    torch._foreach_div_(denom, bias_correction2_sqrt)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, torch._foreach_div(exp_avgs, bias_correction1), denom, value=-lr)


SETTLE_CHECK_EVERY = 64  # steps between checks whether per-entry step counts can become one count again
_TABLE_LIMIT = 1 << 20  # entries of a cached bias-correction table (4 MB in float32)


@functools.lru_cache(maxsize=16)
def _bias_tables(beta1: float, beta2: float, device: torch.device) -> tuple[Tensor, Tensor] | None:
    """``1 − β₁^t`` and ``√(1 − β₂^t)`` for ``t = 0 … K`` in float32, computed in float64 (correctly rounded), with
    ``K`` the first step at which both are 1 in float32 (``β^K < 2⁻²⁴``); None when ``K`` is too large."""
    settled = math.ceil(24 * math.log(2) / -math.log(max(beta1, beta2, 1e-300))) + 1
    if settled > _TABLE_LIMIT:
        return None
    t = torch.arange(settled + 1, dtype=torch.float64)
    table1 = -torch.expm1(t * math.log(beta1)) if beta1 > 0 else (t > 0).double()
    table2 = (-torch.expm1(t * math.log(beta2)) if beta2 > 0 else (t > 0).double()).sqrt()
    return table1.float().to(device), table2.float().to(device)


def _bias_corrections(steps: list[Tensor], params: list[Tensor], beta1: float,
                      beta2: float) -> tuple[list[Tensor], list[Tensor]]:
    """Per-entry ``1 − β₁^t`` and ``√(1 − β₂^t)``: looked up in a cached table (exact in float32, and ≈ 3× cheaper
    than evaluating ``expm1`` per entry), or for float64 parameters computed in float64 like torch's Python float."""
    first, second = [], []
    for step, p in zip(steps, params, strict=True):
        tables = None if p.dtype == torch.float64 else _bias_tables(beta1, beta2, step.device)
        if tables is None:
            t = step.double()
            first.append(torch.expm1(t * math.log(beta1)).neg_())
            second.append(torch.expm1(t * math.log(beta2)).neg_().sqrt_())
        else:
            index = step.clamp_max(tables[0].numel() - 1).long()  # past K both corrections are 1
            first.append(tables[0].take(index))
            second.append(tables[1].take(index))
    return first, second


_ADAM_KEYS = ("lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable", "differentiable",
              "fused", "decoupled_weight_decay")


def _adam_key(group: dict[str, Any]) -> tuple:
    """The group's Adam hyper-parameters (a tensor ``lr`` by identity): groups with equal keys share a call."""
    return tuple(id(v) if isinstance(v, Tensor) else v for v in (group[k] for k in _ADAM_KEYS))


class _AdamBatch:
    """The argument lists of one call of torch's functional ``adam`` for groups with equal hyper-parameters,
    or (``group=None``) of the per-entry-step tensors of every group, run per hyper-parameter key."""

    def __init__(self, group: dict[str, Any] | None):
        self.group = group
        self.params: list[Tensor] = []
        self.grads: list[Tensor] = []
        self.exp_avgs: list[Tensor] = []
        self.exp_avg_sqs: list[Tensor] = []
        self.max_exp_avg_sqs: list[Tensor] = []
        self.steps: list[Tensor] = []
        self.groups: list[dict[str, Any]] = []

    def add(self, p: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any] | None = None) -> None:
        group = group if group is not None else self.group
        assert group is not None
        self.params.append(p)
        self.grads.append(grad)
        self.exp_avgs.append(state["exp_avg"])
        self.exp_avg_sqs.append(state["exp_avg_sq"])
        step = state["step"]
        if step.device != p.device or step.dtype != torch.float32:
            step = state["step"] = step.to(device=p.device, dtype=torch.float32)
        self.steps.append(step)
        self.groups.append(group)
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
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

    def run_per_entry(self) -> None:
        by_key: dict[tuple, list[int]] = {}
        for i, group in enumerate(self.groups):
            by_key.setdefault(_adam_key(group), []).append(i)
        ams = iter(self.max_exp_avg_sqs)
        max_sqs = [next(ams) if g["amsgrad"] else None for g in self.groups]
        for index in by_key.values():
            group = self.groups[index[0]]
            lists = [[xs[i] for i in index] for xs in (self.params, self.grads, self.exp_avgs, self.exp_avg_sqs,
                                                       max_sqs, self.steps)]
            if not group["amsgrad"]:
                lists[4] = []
            _per_entry_adam(*lists, group)
