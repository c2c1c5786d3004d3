"""Regularizers on top of any ``torch.optim`` optimizer, in one line (as TRAC wraps any optimizer).

``with_regularizers(base, *regularizers, noise_std=0, seed=0)`` returns a subclass of ``base`` whose step is::

    g ← g ± Σ_coupled coef·∇R(θ);   θ ← base.step(θ, g);   θ ← θ − lr·Σ_decoupled coef·∇R(θ);   θ ← θ + σε

(:mod:`plasticity.optim.regularizing`), built with ``base``'s own arguments plus ``regularizers=``,
``noise_std=`` and ``seed=`` to override the defaults given here. It is a class, so it also serves as SB3's
``optimizer_class``::

    SGDO = plasticity.with_regularizers(torch.optim.SGD, plasticity.Isometry(1e-3, coupled=False))
    opt = SGDO(model.parameters(), lr=1e-2, momentum=0.9)

The user's gradients are left as they were after the step (coupled terms are added to a copy). Regularizer
state lives next to the base optimizer's state, not inside it (stock optimizers initialize their state when
``state[p]`` is empty), and ``state_dict()`` carries it under the ``"plasticity"`` key by parameter index, so a
checkpoint round-trips. For ``torch.optim.Adam`` and ``AdamW`` the class is built on
:class:`~plasticity.optim.RegularizedAdam` (the same math, plus per-entry step counts for exact unit resets).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor

from plasticity.optim.presets import AdamW
from plasticity.optim.regularized_adam import RegularizedAdam
from plasticity.optim.regularizing import RegularizerMixin, check_params, check_regularizers
from plasticity.regularizers.base import Regularizer


class _Recipe:
    """What :func:`with_regularizers` was given: the defaults of the class it made, and how pickle rebuilds it."""

    _default_regularizers: tuple[Regularizer, ...] = ()
    _default_noise_std: float = 0.0
    _default_seed: int = 0
    _recipe_base: type[torch.optim.Optimizer]

    def _regularizer_args(self, regularizers: Any, noise_std: float | None, seed: int | None) -> dict[str, Any]:
        return {"regularizers": self._default_regularizers if regularizers is None else tuple(regularizers),
                "noise_std": self._default_noise_std if noise_std is None else noise_std,
                "seed": self._default_seed if seed is None else seed}

    def __reduce__(self) -> tuple:
        # the class is made at run time: pickle (deepcopy, multiprocessing) rebuilds it from its recipe
        cls = type(self)
        return (_rebuild, (cls._recipe_base, cls._default_regularizers, cls._default_noise_std, cls._default_seed,
                           self.__getstate__()))  # type: ignore[attr-defined]


class RegularizedOptimizer(_Recipe, RegularizerMixin):
    """Mixin placed before a stock optimizer class by :func:`with_regularizers` (see the module docstring)."""

    _base: type[torch.optim.Optimizer]

    def __init__(self, params: Any, *args: Any, regularizers: Any = None, noise_std: float | None = None,
                 seed: int | None = None, **kwargs: Any):
        check_params(params, type(self).__name__)
        self.regularizer_states: dict[Tensor, dict[str, Any]] = {}
        super().__init__(params, *args, **kwargs)
        args = self._regularizer_args(regularizers, noise_std, seed)
        self._setup_regularizers(args["regularizers"], args["noise_std"], args["seed"])

    def regularizer_state(self, p: Tensor) -> dict[str, Any]:
        """The regularizers' state of ``p`` (kept out of the base optimizer's ``state[p]``)."""
        return self.regularizer_states.setdefault(p, {})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        if "regularizers" in self.__dict__:
            self._init_regularizers_of(self.param_groups[-1])

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        user_grads = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and any(r.coupled for r in self._active(group, p)):
                    user_grads.append((p, p.grad))
                    p.grad = self._coupled_grad(group, p, p.grad)
        base_step = self._base.step
        if getattr(base_step, "hooked", False):  # torch wraps a class's step with its hooks: ours already ran them
            base_step = base_step.__wrapped__
        try:
            base_step(self)
        finally:
            for p, grad in user_grads:
                p.grad = grad
        self._after_base_step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        sd = self._base.state_dict(self)
        params = [p for group in self.param_groups for p in group["params"]]
        sd["plasticity"] = {"steps": self._steps,
                            "regularizer_state": {i: dict(self.regularizer_states[p]) for i, p in enumerate(params)
                                                  if self.regularizer_states.get(p)}}
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop("plasticity", {"steps": 0, "regularizer_state": {}})
        self._base.load_state_dict(self, state_dict)
        self._steps = int(extra["steps"])
        params = [p for group in self.param_groups for p in group["params"]]
        for i, entries in extra["regularizer_state"].items():
            p = params[int(i)]
            self.regularizer_states[p] = {k: v.to(device=p.device, dtype=p.dtype if v.is_floating_point() else v.dtype)
                                          if torch.is_tensor(v) else v for k, v in entries.items()}

    def __getstate__(self) -> dict[str, Any]:
        return {**self._base.__getstate__(self), **self._regularizer_getstate(),
                "regularizer_states": self.regularizer_states}


def _rebuild(base: type, regularizers: tuple, noise_std: float, seed: int, state: dict[str, Any]) -> Any:
    cls = with_regularizers(base, *regularizers, noise_std=noise_std, seed=seed)
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


@functools.cache
def _stock_class(base: type[torch.optim.Optimizer]) -> type:
    return type(f"Regularized{base.__name__}", (RegularizedOptimizer, base), {"_base": base,
                                                                             "__module__": __name__})


def with_regularizers(base: type[torch.optim.Optimizer], *regularizers: Regularizer, noise_std: float = 0.0,
                      seed: int = 0) -> type[torch.optim.Optimizer]:
    """A subclass of ``base`` that applies ``regularizers`` (and optional per-step noise) around its step.

    :param base: any ``torch.optim.Optimizer`` subclass (SGD, RMSprop, Adam, AdamW, Adam(fused=True), …).
    :param regularizers: :class:`plasticity.regularizers.Regularizer` objects (coupled or decoupled).
    :param noise_std: shrink & perturb's per-step Gaussian noise on the regularized groups.
    :param seed: that noise's seed.
    """
    if not (isinstance(base, type) and issubclass(base, torch.optim.Optimizer)):
        raise TypeError(f"with_regularizers: base={base!r} must be a torch.optim.Optimizer class")
    if issubclass(base, torch.optim.LBFGS):
        raise TypeError("with_regularizers: LBFGS re-evaluates the loss inside its step, so a penalty cannot be added "
                        "around it; add λ·R(θ) to your loss (Regularizer.penalty is differentiable)")
    check_regularizers(regularizers, noise_std)  # now, not when the optimizer is first built
    attrs = {"_default_regularizers": tuple(regularizers), "_default_noise_std": float(noise_std),
             "_default_seed": int(seed), "_recipe_base": base, "__module__": __name__}
    if base in (torch.optim.Adam, torch.optim.AdamW) or issubclass(base, RegularizedAdam):
        adam = AdamW if base is torch.optim.AdamW else RegularizedAdam if base is torch.optim.Adam else base
        return type(f"Regularized{base.__name__}", (_AdamDefaults, adam), attrs)
    return type(f"Regularized{base.__name__}", (_stock_class(base),), attrs)


class _AdamDefaults(_Recipe):
    """Passes the made class's ``regularizers``/``noise_std``/``seed`` to :class:`RegularizedAdam` (or a preset)."""

    def __init__(self, params: Any, *args: Any, regularizers: Any = None, noise_std: float | None = None,
                 seed: int | None = None, **kwargs: Any):
        super().__init__(params, *args, **self._regularizer_args(regularizers, noise_std, seed), **kwargs)
