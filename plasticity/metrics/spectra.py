"""Second-order and kernel spectra on a probe batch: eNTK, empirical Fisher, Hessian (Lewandowski et al.
2023, arXiv 2312.00246; C-CHAIN, Tang et al. 2025).

All three use the network's outputs ``f(x) ∈ R^k`` on a probe batch ``x_1..N`` and, where a loss is needed,
the **target-fitting objective** ``ℓ_n = ½‖f(x_n) − y_n‖²`` with fresh random targets ``y ~ N(0, I)`` — the
question a new task asks of the network (for an RL agent there is no single supervised loss).

* :func:`entk_spectrum` — eigenvalues of the empirical NTK ``K = J Jᵀ``, ``J = ∂f(x_{1..N})/∂θ ∈ R^{Nk×P}``.
  The isometry paper relates plasticity to the conditioning of ``K``; C-CHAIN tracks its rank.
* :func:`fisher_spectrum` — eigenvalues of the empirical Fisher ``F = (1/N) Σ g_n g_nᵀ`` from the per-example
  gradients ``G = [g_1 … g_N]ᵀ``, computed from the ``N×N`` matrix ``G Gᵀ`` (same non-zero eigenvalues).
* :func:`hessian_spectrum` — the Hessian of ``(1/N)Σℓ_n`` restricted to chosen parameters (Lewandowski et al.
  use the last two layers) from Hessian-vector products: Lanczos with full re-orthogonalization, whose Ritz
  values and weights give a spectral-density estimate (stochastic Lanczos quadrature, as PyHessian); with as
  many iterations as parameters it is the exact spectrum. :func:`density_srank` turns it into an srank.

Summaries: :func:`spectrum_stats` → condition number ``λ_max/λ_min`` over eigenvalues above ``1e-10·λ_max``,
effective rank and srank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from plasticity.metrics.rank import effective_rank, srank


def _batched_vjp(outputs: Tensor, params: Sequence[Tensor], cotangents: Tensor) -> Tensor:
    """Rows ``cᵀ ∂outputs/∂θ`` for every cotangent ``c`` in ``cotangents`` (shape ``(B, *outputs.shape)``).

    Plain autograd with ``is_grads_batched`` (no ``functional_call``, which does not restore parameters of
    modules reachable under several names, such as SB3's shared feature extractor).
    """
    grads = torch.autograd.grad(outputs, params, grad_outputs=cotangents, is_grads_batched=True,
                                allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros(len(cotangents), *p.shape, device=p.device))
                      .reshape(len(cotangents), -1) for g, p in zip(grads, params, strict=True)], dim=1)


def _trainable(model: nn.Module) -> list[Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def _per_sample_rows(model: nn.Module, x: Tensor, cotangent_for: object) -> Tensor:
    """Stack, sample by sample, the rows ``cᵀ ∂f(x_n)/∂θ`` for the cotangents ``cotangent_for(n, f(x_n))``.

    One forward/backward per sample: a cotangent that is non-zero in one row of a batched output would still
    push the whole batch through every backward pass.
    """
    params = _trainable(model)
    rows = []
    with torch.enable_grad():
        for n in range(x.shape[0]):
            out = model(x[n: n + 1])
            rows.append(_batched_vjp(out, params, cotangent_for(n, out)))
    return torch.cat(rows).double()


def entk_spectrum(model: nn.Module, x: Tensor) -> Tensor:
    """Eigenvalues (descending) of ``K = J Jᵀ`` for ``model``'s outputs on ``x``."""
    def one_hot(n: int, out: Tensor) -> Tensor:
        k = out.shape[1]
        return torch.eye(k, device=out.device, dtype=out.dtype).reshape(k, 1, k)

    j = _per_sample_rows(model, x, one_hot)
    return torch.linalg.eigvalsh(j @ j.T).flip(0).clamp_min(0.0).cpu()


def random_targets(model: nn.Module, x: Tensor, seed: int = 0) -> Tensor:
    with torch.no_grad():
        shape = model(x).shape
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(shape, generator=gen).to(x.device)


def fisher_spectrum(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Eigenvalues (descending, the N largest) of the empirical Fisher of ``½‖f(x_n) − y_n‖²``."""
    def residual(n: int, out: Tensor) -> Tensor:  # ∂ℓ_n/∂f(x_n)
        return (out - y[n: n + 1]).detach().unsqueeze(0)

    g = _per_sample_rows(model, x, residual)
    return (torch.linalg.eigvalsh(g @ g.T).flip(0).clamp_min(0.0) / x.shape[0]).cpu()


def hessian_spectrum(model: nn.Module, x: Tensor, y: Tensor, names: Sequence[str], iterations: int = 60,
                     seed: int = 0) -> tuple[Tensor, Tensor]:
    """Ritz values and weights of the Hessian of ``mean_n ½‖f(x_n) − y_n‖²`` w.r.t. the parameters ``names``.

    Returns ``(values, weights)``: the eigenvalue density is ``≈ P·Σ_j weights_j δ(λ − values_j)``.
    """
    named = dict(model.named_parameters())
    params = [named[n] for n in names]
    dim = sum(p.numel() for p in params)
    m = min(iterations, dim)
    loss = 0.5 * (model(x) - y).pow(2).sum(dim=-1).mean()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])

    def hvp(v: Tensor) -> Tensor:
        out = torch.autograd.grad(flat_grad, params, grad_outputs=v.to(flat_grad.dtype), retain_graph=True,
                                  allow_unused=True)  # structurally zero blocks (e.g. bias–bias) come back as None
        return torch.cat([(o if o is not None else torch.zeros_like(p)).reshape(-1)
                          for o, p in zip(out, params, strict=True)]).double()

    gen = torch.Generator(device="cpu").manual_seed(seed)
    v = torch.randn(dim, generator=gen, dtype=torch.float64).to(flat_grad.device)
    y = y[: x.shape[0]]
    v /= v.norm()
    basis, alphas, betas = [v], [], []
    for k in range(m):
        w = hvp(basis[k])
        alpha = torch.dot(w, basis[k])
        w = w - alpha * basis[k] - (betas[-1] * basis[k - 1] if k else 0.0)
        for b in basis:  # full re-orthogonalization
            w = w - torch.dot(w, b) * b
        alphas.append(alpha)
        beta = w.norm()
        if k == m - 1 or beta < 1e-10:
            break
        betas.append(beta)
        basis.append(w / beta)
    n = len(alphas)
    tri = torch.diag(torch.stack(alphas))
    if n > 1:
        off = torch.stack(betas[: n - 1])
        tri = tri + torch.diag(off, 1) + torch.diag(off, -1)
    values, vectors = torch.linalg.eigh(tri.cpu())
    return values, vectors[0] ** 2


def density_srank(values: Tensor, weights: Tensor, dim: int, delta: float = 0.01) -> float:
    """srank of ``|λ|`` from a density ``dim·Σ w_j δ(λ − v_j)``: eigenvalues needed for ``1 − δ`` of ``Σ|λ|``.

    Nodes are taken by decreasing ``|v_j|``; of the node where the cumulative mass crosses ``1 − δ`` only the
    needed fraction of its ``dim·w_j`` eigenvalues counts (a node standing for the near-zero bulk would
    otherwise count whole). With one eigenvalue per node (as many Lanczos steps as parameters) it is the exact
    srank.
    """
    mags = values.abs().double()
    order = torch.argsort(mags, descending=True)
    # the whole spectrum (Lanczos ran as many steps as there are parameters): one eigenvalue per node
    per_node = torch.ones_like(mags) if len(values) == dim else weights.double() * dim
    mass = (mags * per_node)[order]
    counts = per_node[order]
    total = mass.sum()
    if total <= 0:
        return 0.0
    target = (1.0 - delta) * total
    cum = torch.cumsum(mass, 0)
    k = min(int(torch.searchsorted(cum, target - 1e-12 * total)), len(mass) - 1)
    before = cum[k - 1] if k else torch.zeros((), dtype=cum.dtype)
    fraction = float((target - before) / mass[k]) if mass[k] > 0 else 1.0
    return float(math.ceil(float(counts[:k].sum()) + fraction * float(counts[k]) - 1e-9))


def spectrum_stats(eigenvalues: Tensor, prefix: str) -> dict[str, float]:
    ev = eigenvalues.double().abs().sort(descending=True).values
    positive = ev[ev > 1e-10 * ev[0]] if ev.numel() and ev[0] > 0 else ev[:0]
    return {f"{prefix}_condition": float(positive[0] / positive[-1]) if positive.numel() else float("nan"),
            f"{prefix}_erank": effective_rank(ev), f"{prefix}_srank": float(srank(ev))}
