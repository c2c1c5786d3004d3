"""ReDo: recycling dormant neurons (Sokar, Agarwal, Castro & Evci, ICML 2023; methods.md §6.3).

Every ``interval`` optimizer steps, on the activations of the batch that produced the step's gradient, every
hidden layer's τ-dormant units (score ``s_i = mean|h_i| / mean_k mean|h_k| ≤ τ``, see
:mod:`plasticity.metrics.dormant`) get fresh incoming weights, zero incoming bias and zero outgoing weights,
and the optimizer state of exactly those entries is reset (moments, and with RegularizedAdam the per-entry
step count too — the ReDo reimplementations stress that the step count matters). The output layer is never
recycled. Defaults: τ = 0.1 and every 1000 steps (Dohare's PPO uses every 100 updates).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from plasticity.metrics.dormant import dormant_mask
from plasticity.units.base import UnitMethod


class ReDo(UnitMethod):
    """``ReDo(model, optimizer, threshold=0.1, interval=1000)`` — nothing else needed in the loop."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, threshold: float = 0.1,
                 interval: int = 1000, *, init: str | float = "match", seed: int = 0,
                 trace_with: Callable[[], Any] | None = None, layers: Sequence[str] | None = None):
        if not threshold >= 0:
            raise ValueError(f"ReDo: threshold (tau)={threshold!r} must be >= 0")
        if interval < 1:
            raise ValueError(f"ReDo: interval={interval!r} must be >= 1")
        self.threshold = float(threshold)
        self.interval = int(interval)
        self.recycled: dict[str, int] = {}
        self.last_recycled: dict[str, Tensor] = {}
        super().__init__(model, optimizer, init=init, seed=seed, trace_with=trace_with, layers=layers)

    def update(self, activations: dict[str, Tensor]) -> None:
        if self.num_steps % self.interval:
            return
        assert self.graph is not None
        for layer in self.graph.hidden:
            units = torch.nonzero(dormant_mask(activations[layer.name], self.threshold)).flatten()
            self.last_recycled[layer.name] = units
            self.recycled[layer.name] = self.recycled.get(layer.name, 0) + units.numel()
            self.reinit(layer.name, units)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "recycled": dict(self.recycled)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.recycled.update(state["recycled"])
