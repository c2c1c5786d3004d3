"""Continual backprop / generate-and-test (Dohare et al., Nature 2024; shibhansh/loss-of-plasticity,
``lop/algos/gnt.py``, ``cbp_linear.py``, ``cbp_conv.py``).

After every optimizer step, for each hidden layer with activations ``h`` (as its consumers see them):

1. ``age_i += 1``; running mean activation ``f ← η f + (1 − η)·mean(h)``, ``f̂ = f / (1 − η^age)``;
2. instantaneous utility (``utility=``)

   * ``contribution`` (Nature Eq. 1, Dohare's PPO): ``mean_k |w_out| · mean_batch |h|``;
   * ``zero_contribution`` (mean-corrected): ``mean_k |w_out| · mean_batch |h − f̂|``;
   * ``adaptable_contribution``: ``mean_k |w_out| · mean_batch |h − f̂| / mean_j |w_in|``;

   with ``u ← η u + (1 − η)·new``, bias-corrected ``û = u / (1 − η^age)``. We take means over outgoing
   weights (Dohare's code) rather than the Nature text's sum: the same ranking within a layer. For a conv
   channel feeding a conv, the batch mean also runs over positions and its outgoing weights are its kernel
   slice; feeding a linear layer after a flatten, each position ``p`` has its own column, and the products
   ``mean_k |w_{k,(c,p)}| · mean_batch |h_{c,p}|`` are averaged over ``p`` (:func:`contribution`, as
   Dohare's ``cbp_conv``);
   Every layer is scored first, then replacements are made (two passes, as the reference's ``test_features``
   / ``gen_new_features``): a replacement zeroes the next layer's incoming weights, which its
   ``adaptable_contribution`` divides by;
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

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from plasticity.network import HiddenLayer, LayerGraph
from plasticity.units.base import UnitMethod

UTILITIES = ("contribution", "zero_contribution", "adaptable_contribution")


def contribution(layer: HiddenLayer, spread: Tensor) -> Tensor:
    """``mean |w_out| · mean |h|`` per unit, pooled over the consumers like ``outgoing_magnitude`` (each weighted by
    its outgoing weights per unit). ``spread`` is ``mean_batch |h|`` (or ``|h − f̂|``) per unit and position,
    ``(units, positions)``. Where a conv channel feeds a linear layer after a flatten, its ``H·W`` columns are
    position by position: the products ``mean_k |w_{k,(c,p)}| · spread_{c,p}`` are averaged over ``p`` (Dohare's
    ``cbp_conv``), not the two averages multiplied; a conv or linear consumer multiplies the averages."""
    total = torch.zeros(layer.n_units, device=spread.device)
    count = 0
    for consumer in layer.consumers:
        per_unit_weights = consumer.weight.numel() // layer.n_units
        if consumer.group > 1 and spread.shape[1] == consumer.group:
            w = consumer.weight.detach().abs().view(consumer.weight.shape[0], layer.n_units, consumer.group)
            value = (w.mean(dim=0) * spread).mean(dim=1)
        else:
            value = consumer.outgoing_magnitude() * spread.mean(dim=1)
        total += value * per_unit_weights
        count += per_unit_weights
    return total / count


class CBP(UnitMethod):
    """Continual backprop: ``CBP(model, optimizer)`` after building both — nothing else in the loop.

    It hooks ``optimizer.step()`` (the algorithm is in the module docstring; Dohare et al., Nature 2024, and
    ``lop/algos/gnt.py``). Defaults are Dohare's continual-PPO values except where noted.

    :param model: the network ``optimizer`` trains; its hidden layers are read from its first training forward
        pass (or from ``trace_with``). An SB3 policy works as is (``agents.sb3.attach`` also saves CBP's state in
        SB3's zip).
    :param optimizer: the optimizer of ``model``; one unit method per optimizer.
    :param replacement_rate: ρ, the fraction of eligible units replaced per step, in [0, 1] (default 1e-4,
        Dohare's PPO; their supervised runs use 1e-5 to 1e-4).
    :param maturity_threshold: steps a unit must live before it may be replaced, >= 0 (default 10 000; their
        PPO uses 10 000).
    :param decay_rate: η of the running utility and mean activation, in [0, 1) (default 0.99, as the reference).
    :param utility: ``contribution`` (Nature Eq. 1, default), ``zero_contribution`` or ``adaptable_contribution``
        (module docstring).
    :param accumulate: ``True`` (default): fractional due counts accumulate across steps (``floor`` of the total
        is replaced); ``False``: the reference's draw (below one unit, one unit with probability ρ·#eligible).
    :param mean_correction: move a replaced unit's mean contribution into its consumers' biases (default
        ``False``, as Dohare's PPO; their supervised code does it).
    :param init: incoming-weight draw of new units: ``"match"`` (default: the layer's own init bound, read at the
        first step), ``"kaiming"``, ``"lecun"`` or a number (the bound) — :func:`plasticity.surgery.init_bound`.
    :param seed: seed of CBP's own generator (new weights, and the draw when ``accumulate=False``); it never
        touches torch's global generator.
    :param trace_with: a callable running one forward pass, to read the structure at construction.
    :param layers: names of the hidden layers to act on (default: all); a wrong name is refused with the valid ones.
    :param reset_optimizer: reset the optimizer state of the touched entries (default ``True``; ``False`` is
        Dohare's PPO code, which kept stock Adam's state).

    State (``state_dict()``/``load_state_dict``): utilities, mean activations, ages, pending fractions, counts of
    replaced units (``replaced``, per layer) and the generator — a round trip continues identically.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, replacement_rate: float = 1e-4,
                 maturity_threshold: int = 10_000, decay_rate: float = 0.99, utility: str = "contribution",
                 accumulate: bool = True, mean_correction: bool = False, *, init: str | float = "match",
                 seed: int = 0, trace_with: Callable[[], Any] | None = None, layers: Sequence[str] | None = None,
                 reset_optimizer: bool = True):
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
        # Host-side count of the units past maturity, so that choosing units never reads the device (a GPU stall
        # per layer and step otherwise): every unit ages by one per update and a replaced one restarts at 0, so
        # units replaced at the same update (a cohort, [birth update, count]) mature together. Built from the
        # ages once, at the first update after construction or a load.
        self._cohorts: dict[str, deque[list[int]]] = {}
        self._mature: dict[str, int] = {}
        super().__init__(model, optimizer, init=init, seed=seed, trace_with=trace_with, layers=layers,
                         reset_optimizer=reset_optimizer)

    def _init_layer_state(self, graph: LayerGraph) -> None:
        for layer in graph.hidden:
            n, device = layer.n_units, layer.module.weight.device
            # loaded state (resume) wins over fresh zeros; either way it lives on the layer's device
            self.util[layer.name] = self.util.get(layer.name, torch.zeros(n)).to(device)
            self.mean_act[layer.name] = self.mean_act.get(layer.name, torch.zeros(n)).to(device)
            self.age[layer.name] = self.age.get(layer.name, torch.zeros(n, dtype=torch.long)).to(device)
            self.pending.setdefault(layer.name, 0.0)
            self.replaced.setdefault(layer.name, 0)
            self._cohorts.pop(layer.name, None)

    def utilities(self, name: str) -> Tensor:
        """Bias-corrected utilities ``û`` of a layer's units."""
        return self.util[name] / (1.0 - self.decay_rate ** self.age[name].clamp_min(1).double()).float()

    def update(self, activations: dict[str, Tensor]) -> None:
        assert self.graph is not None
        # two passes, as the reference (gnt.py: test_features, then gen_new_features): every layer is scored
        # before any is changed, since a replacement zeroes the next layer's incoming weights, which its
        # adaptable utility divides by
        f_hats = {layer.name: self._score(layer, activations[layer.name]) for layer in self.graph.hidden}
        for layer in self.graph.hidden:
            name = layer.name
            units = self.last_replaced[name] = self._due_units(name, self.age[name])
            if units.numel():
                if self.mean_correction:
                    self._absorb_mean(layer, units, f_hats[name])
                self.reinit(name, units)
                self.util[name][units] = 0.0
                self.mean_act[name][units] = 0.0
                self.age[name][units] = 0
                self.replaced[name] += units.numel()

    def _score(self, layer: HiddenLayer, h: Tensor) -> Tensor:
        """Ages, running mean activation and utility of ``layer``'s units from activations ``(N, units, pos)``;
        returns the bias-corrected mean activation ``f̂``."""
        eta, name = self.decay_rate, layer.name
        age = self.age[name]
        age += 1
        correction = (1.0 - eta ** age.double()).float()
        self.mean_act[name].mul_(eta).add_(h.mean(dim=(0, 2)), alpha=1 - eta)
        f_hat = self.mean_act[name] / correction
        deviation = h if self.utility == "contribution" else h - f_hat.view(1, -1, 1)
        new = contribution(layer, deviation.abs().mean(dim=0))
        if self.utility == "adaptable_contribution":
            new = new / layer.incoming_magnitude().clamp_min(1e-12)
        self.util[name].mul_(eta).add_(new, alpha=1 - eta)
        return f_hat

    def _mature_count(self, name: str, age: Tensor) -> int:
        """``#{i : age_i > maturity_threshold}`` of layer ``name`` at this update, counted on the host."""
        clock, cohorts = self.num_steps, self._cohorts.get(name)
        if cohorts is None:  # after construction or a load: read the ages once
            ages, counts = (t.tolist()[::-1] for t in torch.unique(age, return_counts=True))  # oldest first
            cohorts = self._cohorts[name] = deque([clock - a, k] for a, k in zip(ages, counts, strict=True))
            self._mature[name] = 0
        while cohorts and clock - cohorts[0][0] > self.maturity_threshold:
            self._mature[name] += cohorts.popleft()[1]
        return self._mature[name]

    def _due_units(self, name: str, age: Tensor) -> Tensor:
        """The ``n`` mature units with the lowest ``û``, chosen on the device with ``n`` known on the host (no
        ``nonzero``): immature units are masked to ``+∞`` and never chosen, since ``n ≤ #mature``."""
        eligible = self._mature_count(name, age)
        if eligible == 0 or self.replacement_rate == 0.0:
            return age.new_empty(0)
        due = self.replacement_rate * eligible
        if self.accumulate:
            self.pending[name] += due
            n = int(self.pending[name])
            self.pending[name] -= n
        elif due < 1:
            n = int(torch.rand((), generator=self.generator).item() <= due)  # a CPU generator: no device read
        else:
            n = int(due)
        if n == 0:
            return age.new_empty(0)
        scores = self.utilities(name).masked_fill(age <= self.maturity_threshold, float("inf"))
        units = torch.topk(scores, n, largest=False).indices
        self._mature[name] -= n
        self._cohorts[name].append([self.num_steps, n])  # age 0 now, 1 at the next update
        return units

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
        self._cohorts.clear()  # recounted from the loaded ages
