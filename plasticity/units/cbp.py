"""Continual backprop / generate-and-test (Dohare et al., Nature 2024; methods.md §2.1–2.3).

After every optimizer step, for each hidden layer with activations ``h`` (as its consumers see them):

1. ``age_i += 1``; running mean activation ``f ← η f + (1 − η)·mean(h)``, ``f̂ = f / (1 − η^age)``;
2. instantaneous utility (``utility=``)

   * ``contribution`` (Nature Eq. 1, Dohare's PPO): ``mean_k |w_out| · mean_batch |h|``;
   * ``zero_contribution`` (mean-corrected): ``mean_k |w_out| · mean_batch |h − f̂|``;
   * ``adaptable_contribution``: ``mean_k |w_out| · mean_batch |h − f̂| / mean_j |w_in|``;

   with ``u ← η u + (1 − η)·new``, bias-corrected ``û = u / (1 − η^age)``. We take means over outgoing
   weights (Dohare's code) rather than the Nature text's sum: the same ranking within a layer. For a conv
   channel the batch mean also runs over positions, and its outgoing weights are its whole kernel slice or its
   ``H·W`` columns after a flatten;
3. units with ``age > maturity_threshold`` are eligible; ``ρ·#eligible`` units are due (``accumulate=True``:
   fractions accumulate and ``floor`` units are replaced when the total reaches 1; ``False``: below 1, one unit
   with that probability);
4. the due eligible units with the lowest ``û`` get fresh incoming weights (``init``), zero incoming bias and
   zero outgoing weights — the network's function is unchanged except for the removed units' contribution,
   which ``mean_correction=True`` moves into the consumers' biases (``b += W_out·f̂``, exact in expectation);
   their ``u``, ``f``, ``age`` restart at 0 and the optimizer state of exactly the touched entries is reset.

The output layer is never replaced (it has no consumer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from plasticity.network import LayerGraph
from plasticity.units.base import UnitMethod

UTILITIES = ("contribution", "zero_contribution", "adaptable_contribution")


class CBP(UnitMethod):
    """``CBP(model, optimizer, replacement_rate=1e-4, maturity_threshold=10_000)`` — nothing else needed."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, replacement_rate: float = 1e-4,
                 maturity_threshold: int = 10_000, decay_rate: float = 0.99, utility: str = "contribution",
                 accumulate: bool = True, mean_correction: bool = False, *, init: str | float = "match",
                 seed: int = 0, trace_with: Callable[[], Any] | None = None, layers: Sequence[str] | None = None):
        if not 0.0 <= replacement_rate <= 1.0:
            raise ValueError(f"CBP: replacement_rate={replacement_rate!r} must be in [0, 1]")
        if maturity_threshold < 0:
            raise ValueError(f"CBP: maturity_threshold={maturity_threshold!r} must be >= 0")
        if not 0.0 <= decay_rate < 1.0:
            raise ValueError(f"CBP: decay_rate={decay_rate!r} must be in [0, 1)")
        if utility not in UTILITIES:
            raise ValueError(f"CBP: utility={utility!r}; valid choices: {', '.join(UTILITIES)}")
        self.replacement_rate = float(replacement_rate)
        self.maturity_threshold = int(maturity_threshold)
        self.decay_rate = float(decay_rate)
        self.utility = utility
        self.accumulate = bool(accumulate)
        self.mean_correction = bool(mean_correction)
        self.util: dict[str, Tensor] = {}
        self.mean_act: dict[str, Tensor] = {}
        self.age: dict[str, Tensor] = {}
        self.pending: dict[str, float] = {}
        self.replaced: dict[str, int] = {}
        self.last_replaced: dict[str, Tensor] = {}
        super().__init__(model, optimizer, init=init, seed=seed, trace_with=trace_with, layers=layers)

    def _init_layer_state(self, graph: LayerGraph) -> None:
        for layer in graph.hidden:
            n, device = layer.n_units, layer.module.weight.device
            # loaded state (resume) wins over fresh zeros; either way it lives on the layer's device
            self.util[layer.name] = self.util.get(layer.name, torch.zeros(n)).to(device)
            self.mean_act[layer.name] = self.mean_act.get(layer.name, torch.zeros(n)).to(device)
            self.age[layer.name] = self.age.get(layer.name, torch.zeros(n, dtype=torch.long)).to(device)
            self.pending.setdefault(layer.name, 0.0)
            self.replaced.setdefault(layer.name, 0)

    def utilities(self, name: str) -> Tensor:
        """Bias-corrected utilities ``û`` of a layer's units."""
        return self.util[name] / (1.0 - self.decay_rate ** self.age[name].clamp_min(1).double()).float()

    def update(self, activations: dict[str, Tensor]) -> None:
        assert self.graph is not None
        eta = self.decay_rate
        for layer in self.graph.hidden:
            name = layer.name
            h = activations[name]
            age = self.age[name]
            age += 1
            correction = (1.0 - eta ** age.double()).float()
            self.mean_act[name].mul_(eta).add_(h.mean(dim=(0, 2)), alpha=1 - eta)
            f_hat = self.mean_act[name] / correction
            if self.utility == "contribution":
                spread = h.abs().mean(dim=(0, 2))
            else:
                spread = (h - f_hat.view(1, -1, 1)).abs().mean(dim=(0, 2))
            new = layer.outgoing_magnitude() * spread
            if self.utility == "adaptable_contribution":
                new = new / layer.incoming_magnitude().clamp_min(1e-12)
            self.util[name].mul_(eta).add_(new, alpha=1 - eta)
            units = self.last_replaced[name] = self._due_units(name, age)
            if units.numel():
                if self.mean_correction:
                    self._absorb_mean(layer, units, f_hat)
                self.reinit(name, units)
                self.util[name][units] = 0.0
                self.mean_act[name][units] = 0.0
                age[units] = 0
                self.replaced[name] += units.numel()

    def _due_units(self, name: str, age: Tensor) -> Tensor:
        eligible = torch.nonzero(age > self.maturity_threshold).flatten()
        if eligible.numel() == 0 or self.replacement_rate == 0.0:
            return eligible[:0]
        due = self.replacement_rate * eligible.numel()
        if self.accumulate:
            self.pending[name] += due
            n = int(self.pending[name])
            self.pending[name] -= n
        elif due < 1:
            n = int(torch.rand((), generator=self.generator).item() <= due)
        else:
            n = int(due)
        if n == 0:
            return eligible[:0]
        lowest = torch.topk(-self.utilities(name)[eligible], n).indices
        return eligible[lowest]

    def _absorb_mean(self, layer, units: Tensor, f_hat: Tensor) -> None:
        for consumer in layer.consumers:
            if consumer.module.bias is None:
                continue
            w = consumer.weight[consumer.outgoing(units)]
            if w.ndim == 4:  # conv consumer: the channel mean times the kernel's sum
                w = w.sum(dim=(2, 3))
            else:
                w = w.view(w.shape[0], units.numel(), consumer.group).sum(dim=2)
            consumer.module.bias += w @ f_hat[units]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "util": dict(self.util), "mean_act": dict(self.mean_act),
                "age": dict(self.age), "pending": dict(self.pending), "replaced": dict(self.replaced)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for key in ("util", "mean_act", "age"):
            getattr(self, key).update({k: v.clone() for k, v in state[key].items()})
        self.pending.update(state["pending"])
        self.replaced.update(state["replaced"])
