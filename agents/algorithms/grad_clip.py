"""Gradient-norm clipping with torch's arithmetic and less Python per call."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


@torch.no_grad()
def clip_grad_norm_(parameters: Iterable[Tensor], max_norm: float) -> Tensor:
    """``torch.nn.utils.clip_grad_norm_(parameters, max_norm)`` (L2) for gradients on one device.

    ``g ← g · min(max_norm / (‖(‖g_1‖, …, ‖g_n‖)‖ + 1e-6), 1)`` with torch's own foreach kernels, in torch's
    order, so the result is bit for bit torch's (tested); it skips torch's per-call grouping by device and
    dtype, which costs more than the arithmetic for small networks updated once per env step (DQN).
    Returns the total norm before clipping.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total
