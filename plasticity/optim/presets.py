"""Named presets of :class:`RegularizedAdam`, one per method, each usable as SB3's ``optimizer_class``.

=====================  ==========================================================  ======================
preset                 what it adds to Adam                                        source
=====================  ==========================================================  ======================
``AdamO``              decoupled isometry step ``θ ← θ − lr·λ·∇||Gram−I||²``       Rosseau et al. 2026
``IsoAdam``            the same penalty, coupled (its gradient enters the moments)  AdamO's ablation;
                                                                                   Parseval (Chung 2024)
``L2Adam``             coupled L2, ``g ← g + λθ`` (= torch ``weight_decay=λ``)       Dohare et al. 2024
``L2InitAdam``         coupled ``λ||θ − θ₀||²``                                     Kumar et al. 2023
``SpectralAdam``       coupled ``λ(σ_max^k − 1)²``, persistent power iteration      Lewandowski et al. 2024
``WassersteinAdam``    coupled ``λ Σ(sort θ − sort θ₀)²``                           Lewandowski et al. 2023
``ShrinkPerturbAdam``  coupled L2 (shrink) + ``N(0, σ²)`` noise after every step    Dohare et al. 2024
``EqualBetasAdam``     Adam with β₁ = β₂ = 0.99                                    Dohare et al. 2024
``AdamW``              decoupled weight decay ``θ ← θ(1 − lr·wd)`` (torch's AdamW)  Loshchilov & Hutter
=====================  ==========================================================  ======================

Every preset keeps Adam's arguments (``lr``, ``betas``, ``eps``, ``weight_decay``, …) and regularizes only
param groups with ``regularize=True``. Defaults and their sources: docs/methods.md.
"""

from __future__ import annotations

from typing import Any

from plasticity.optim.regularized_adam import RegularizedAdam
from plasticity.regularizers import L2, Isometry, L2Init, Spectral, Wasserstein


class AdamO(RegularizedAdam):
    """Adam + decoupled isometry step (:class:`plasticity.regularizers.Isometry`, ``coupled=False``).

    :param coef: λ in our ``‖Gram − sI‖²`` convention. The authors' supervised λ = 1e-3 is in their code's
        ``½‖·‖²`` convention, i.e. 5e-4 here (the default); their MinAtar ``ortho_coeff = 0.1`` is 0.05 here.
    :param target_scale: ``s``, or ``"auto"`` (``out/in`` for tall layers, as the authors' RL code).

    The default λ is meant for the hidden layers only (the authors leave output layers unregularized): build the
    groups with ``plasticity.param_groups(model, exclude=[<heads>])``, or, in SB3, use
    ``agents.sb3.PlasticActorCriticPolicy`` / ``PlasticDQNPolicy`` with ``policy_kwargs=dict(optimizer_class=AdamO)``
    (SB3's stock policies pass one flat list, heads included; measured on CartPole in docs/methods.md).
    """

    def __init__(self, params, lr: float = 1e-3, *, coef: float = 5e-4, target_scale: float | str = 1.0,
                 normalize_by_dim: bool = False, **adam: Any):
        super().__init__(params, lr, regularizers=[Isometry(coef, coupled=False, target_scale=target_scale,
                                                            normalize_by_dim=normalize_by_dim)], **adam)


class IsoAdam(RegularizedAdam):
    """Adam + the isometry penalty *coupled* into the gradient (Adam rescales it per coordinate).

    :param coef: λ of ``λ·‖Gram − sI‖²`` added to the loss — the authors' coupled ("loss") mode has no ½, so
        their λ maps 1:1 here (unlike AdamO's decoupled step).
    """

    def __init__(self, params, lr: float = 1e-3, *, coef: float = 1e-3, target_scale: float | str = 1.0,
                 normalize_by_dim: bool = False, **adam: Any):
        super().__init__(params, lr, regularizers=[Isometry(coef, coupled=True, target_scale=target_scale,
                                                            normalize_by_dim=normalize_by_dim)], **adam)


class L2Adam(RegularizedAdam):
    """Adam + coupled L2 ``½λ||θ||²`` on the regularized groups (torch's ``weight_decay`` on them only)."""

    def __init__(self, params, lr: float = 1e-3, *, coef: float = 1e-4, **adam: Any):
        super().__init__(params, lr, regularizers=[L2(coef, coupled=True)], **adam)


class L2InitAdam(RegularizedAdam):
    """Adam + coupled ``λ||θ − θ₀||²`` toward the parameters at construction (kept through Adam resets).

    :param weights_only: pull weight matrices only (the AdamO authors); ``False``: every parameter (Kumar et al.).
    """

    def __init__(self, params, lr: float = 1e-3, *, coef: float = 1e-3, weights_only: bool = False, **adam: Any):
        super().__init__(params, lr, regularizers=[L2Init(coef, coupled=True, weights_only=weights_only)], **adam)


class SpectralAdam(RegularizedAdam):
    """Adam + coupled ``λ(σ_max^k − 1)²`` per weight matrix."""

    def __init__(self, params, lr: float = 1e-3, *, coef: float = 1e-4, exponent: float = 2.0,
                 power_iterations: int = 1, **adam: Any):
        super().__init__(params, lr, regularizers=[Spectral(coef, coupled=True, exponent=exponent,
                                                            power_iterations=power_iterations)], **adam)


class WassersteinAdam(RegularizedAdam):
    """Adam + coupled ``λ Σ_j (sort(θ)_j − sort(θ₀)_j)²`` per tensor."""

    def __init__(self, params, lr: float = 1e-3, *, coef: float = 1e-3, **adam: Any):
        super().__init__(params, lr, regularizers=[Wasserstein(coef, coupled=True)], **adam)


class ShrinkPerturbAdam(RegularizedAdam):
    """Dohare's per-step shrink & perturb: coupled L2 (``weight_decay``) plus ``N(0, σ²)`` noise every step."""

    def __init__(self, params, lr: float = 1e-3, *, weight_decay: float = 1e-4, noise_std: float = 1e-5,
                 **adam: Any):
        super().__init__(params, lr, regularizers=[L2(weight_decay, coupled=True)], noise_std=noise_std, **adam)


class EqualBetasAdam(RegularizedAdam):
    """Adam with β₁ = β₂ (0.99 by default): Dohare's fix for Adam's instability after a change."""

    def __init__(self, params, lr: float = 1e-3, *, betas: tuple[float, float] = (0.99, 0.99), **adam: Any):
        super().__init__(params, lr, betas=betas, **adam)


class AdamW(RegularizedAdam):
    """torch's AdamW (decoupled weight decay on every group, 1e-2 by default), with unit-reset support."""

    fixed_options = ("decoupled_weight_decay",)  # always True here: not an option

    def __init__(self, params, lr: float = 1e-3, *, weight_decay: float = 1e-2, **adam: Any):
        super().__init__(params, lr, weight_decay=weight_decay, decoupled_weight_decay=True, **adam)
