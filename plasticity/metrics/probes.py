"""Functional probes: policy churn and trainability.

* :func:`churn` — C-CHAIN (Tang et al. 2025): the change of outputs on out-of-batch states caused by an update,
  ``E_x ‖f_{θ'}(x) − f_θ(x)‖²``; **policy churn** is the fraction of states whose greedy action (argmax of the
  policy logits or Q-values) changed.
* :func:`trainability` — how well the network fits fresh random targets ``y ~ N(0, I)`` on the probe batch in
  ``steps`` full-batch Adam steps (lr 1e-3): the ratio final / initial MSE (lower = more trainable; Lyle et
  al.'s target-fitting probe). It trains the parameters in place with its own optimizer and restores their
  values and gradients afterwards (copying a module can drag optimizers and hooks along); the training
  optimizer's state is not touched.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def churn(before: Tensor, after: Tensor, actions: slice | None = None) -> dict[str, float]:
    """``before``/``after``: outputs ``(N, k)`` on the same states; ``actions`` selects the action columns."""
    cols = actions or slice(None)
    greedy_changed = before[:, cols].argmax(dim=1) != after[:, cols].argmax(dim=1)
    return {"churn": float((after - before).pow(2).sum(dim=1).mean()),
            "policy_churn": float(greedy_changed.float().mean())}


def trainability(model: nn.Module, x: Tensor, steps: int = 25, lr: float = 1e-3, seed: int = 0) -> dict[str, float]:
    """Final / initial MSE of fitting random targets ``y ~ N(0, I)`` on ``x`` in ``steps`` Adam steps (in place, then
    restored): ``trainability_ratio`` and ``trainability_loss``."""
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    saved_grads = [None if p.grad is None else p.grad.detach().clone() for p in params]
    with torch.no_grad():
        shape = model(x).shape
    gen = torch.Generator(device="cpu").manual_seed(seed)
    y = torch.randn(shape, generator=gen).to(x.device)
    opt = torch.optim.Adam(params, lr=lr)
    try:
        with torch.enable_grad():
            first = None
            for _ in range(steps):
                opt.zero_grad()
                loss = (model(x) - y).pow(2).mean()
                loss.backward()
                opt.step()
                first = float(loss.detach()) if first is None else first
        with torch.no_grad():
            last = float((model(x) - y).pow(2).mean())
    finally:
        with torch.no_grad():
            for p, value, g in zip(params, saved, saved_grads, strict=True):
                p.copy_(value)
                p.grad = g
    return {"trainability_loss": last, "trainability_ratio": last / first if first else float("nan")}
