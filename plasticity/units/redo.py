"""ReDo: recycling dormant neurons (Sokar, Agarwal, Castro & Evci, ICML 2023, arXiv 2302.12902).

Every ``interval`` optimizer steps, every hidden layer's τ-dormant units (score ``s_i = mean|h_i| / mean_k
mean|h_k| ≤ τ``, see :mod:`plasticity.metrics.dormant`) get fresh incoming weights, zero incoming bias and zero
outgoing weights, and the optimizer state of exactly those entries is reset. The output layer is never recycled.
Defaults: τ = 0.1 and every 1000 steps (Dohare's PPO uses every 100 updates).

**Scoring batch.** The authors score on a separate batch of 256 samples, not the training minibatch (32 for DQN:
a unit silent on 32 samples is often active on others, ≈ 3.6× more false positives in a toy check). Here the
scores use at least ``score_batch`` samples: the activations of the last training minibatches before the
scoring step (for DQN, 8 minibatches of 32 = 256 uniform replay samples, the same distribution as one fresh
batch of 256), or, with ``score_with``, one forward pass you supply (e.g. ``lambda: q_net(replay.sample(256))``).

**No host read on a GPU.** How many units are dormant is data: choosing them with ``nonzero`` would make the CPU wait
for the device at every scoring step. On a GPU (or with ``PLASTICITY_SYNC_FREE=1``, :mod:`plasticity.sync`) the
dormant units are written with masks over fixed shapes (:func:`plasticity.surgery.reinit_units` given a boolean
per unit) and the counts stay on the device until read (``recycled``). Both paths draw a fresh row for *every* unit
of the layer at each scoring step and use the dormant units' rows, so they give the same network from one seed.

**Differences from the authors' code**, by choice: the recycled units' bias moments are reset with their
weights', and the touched entries' Adam step counts restart (with RegularizedAdam, or torch's Adam/AdamW through
:mod:`plasticity.entry_steps`) — their code zeroes the moments of the weights only and keeps one step count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from plasticity import sync
from plasticity.metrics.dormant import dormant_mask, mean_magnitude, scores_from_magnitudes
from plasticity.network import ActivationCapture
from plasticity.surgery import draw_incoming, reinit_units
from plasticity.units.base import UnitMethod


class ReDo(UnitMethod):
    """Recycling dormant neurons: ``ReDo(model, optimizer)`` after building both — nothing else in the loop.

    It hooks ``optimizer.step()``; every ``interval`` steps the τ-dormant units of every hidden layer are recycled
    (module docstring; Sokar et al., ICML 2023, and their ``google/dopamine`` ``labs/redo``).

    :param model: the network ``optimizer`` trains; its hidden layers are read from its first training forward
        pass (or from ``trace_with``). An SB3 policy works as is (``agents.sb3.attach`` also saves ReDo's state
        in SB3's zip).
    :param optimizer: the optimizer of ``model``; one unit method per optimizer.
    :param threshold: τ in [0, 1) (default 0.1, the paper's value for its RL agents; 0 recycles only silent
        units). A unit's score is its mean ``|h|`` over the layer's mean (the layer averages 1), so τ ≥ 1 would
        recycle about half of every layer or more at each interval; it is refused.
    :param interval: optimizer steps between recycling passes, >= 1 (default 1000, the paper's DQN value).
    :param score_batch: samples the scores use at least (default 256, the paper's separate scoring batch): the
        last training minibatches before a scoring step are pooled until they hold that many.
    :param score_with: a callable running one forward pass on a batch you choose, scored instead.
    :param init: incoming-weight draw of recycled units (``"match"`` default: the layer's own init bound;
        ``"kaiming"``, ``"lecun"`` or a number) — :func:`plasticity.surgery.init_bound`.
    :param seed: seed of ReDo's own generator (new weights); torch's global generator is never touched.
    :param trace_with: a callable running one forward pass, to read the structure at construction.
    :param layers: names of the hidden layers to act on (default: all); a wrong name is refused with the valid ones.
    :param reset_optimizer: reset the optimizer state of the recycled entries (default ``True``).

    State (``state_dict()``/``load_state_dict``): step count, generator, recycled counts (``recycled``, per layer)
    and the activations pooled so far for the next scoring step — a round trip continues identically.
    ``last_mask`` holds the last scoring step's dormant units per layer (a boolean per unit), ``last_recycled``
    their indices.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, threshold: float = 0.1,
                 interval: int = 1000, *, score_batch: int = 256, score_with: Callable[[], Any] | None = None,
                 init: str | float = "match", seed: int = 0,
                 trace_with: Callable[[], Any] | None = None, layers: Sequence[str] | None = None,
                 reset_optimizer: bool = True):
        if not 0 <= threshold < 1:
            raise ValueError(f"ReDo: threshold (tau)={threshold!r} must be in [0, 1)")
        if interval < 1:
            raise ValueError(f"ReDo: interval={interval!r} must be >= 1")
        if score_batch < 1:
            raise ValueError(f"ReDo: score_batch={score_batch!r} must be >= 1")
        self.threshold = float(threshold)
        self.interval = int(interval)
        self.score_batch = int(score_batch)
        self.score_with = score_with
        self._sums: dict[str, list[tuple[int, Tensor]]] = {}
        self._counts: dict[str, int | Tensor] = {}  # a device tensor on the sync-free path, read when asked
        self.last_mask: dict[str, Tensor] = {}
        super().__init__(model, optimizer, init=init, seed=seed, trace_with=trace_with, layers=layers,
                         reset_optimizer=reset_optimizer)
        self.sync_free = sync.sync_free(next(self.model.parameters()).device)

    @property
    def recycled(self) -> dict[str, int]:
        """Units recycled so far, per layer (on a GPU, reading it waits for the device: read it when logging)."""
        return {name: int(count) for name, count in self._counts.items()}

    @property
    def last_recycled(self) -> dict[str, Tensor]:
        """Indices of the units recycled at the last scoring step, per layer (a host read on a GPU)."""
        return {name: torch.nonzero(mask).flatten() for name, mask in self.last_mask.items()}

    def update(self, activations: dict[str, Tensor]) -> None:
        assert self.graph is not None
        if self.score_with is None:
            self._accumulate(activations)
        if self.num_steps % self.interval:
            return
        scores = self._scores()
        self._sums = {}
        optimizer = self.optimizer if self.reset_optimizer else None
        for layer in self.graph.hidden:
            mask = dormant_mask(None, self.threshold, scores[layer.name])
            fresh = draw_incoming(layer, layer.n_units, self._bounds[layer.name], self.generator)
            self.last_mask[layer.name] = mask
            # sync-free: masked writes over fixed shapes and the count kept on the device; else cheap host indices
            units = mask if self.sync_free else torch.nonzero(mask).flatten()
            reinit_units(layer, units, self._bounds[layer.name], self.generator, optimizer,
                         fresh=fresh if self.sync_free else fresh[units])
            count = mask.sum() if self.sync_free else units.numel()
            self._counts[layer.name] = self._counts.get(layer.name, 0) + count

    def _accumulate(self, activations: dict[str, Tensor]) -> None:
        """Per-unit ``Σ_n mean_pos |h|`` of the training minibatches of the last steps before a scoring step, as
        many as make ``score_batch`` samples (nothing is kept in between)."""
        rows = next(iter(activations.values())).shape[0]
        needed = -(-self.score_batch // max(rows, 1))
        if (-self.num_steps) % self.interval >= needed:
            return
        for name, h in activations.items():
            self._sums.setdefault(name, []).append((rows, mean_magnitude(h) * rows))

    def _scores(self) -> dict[str, Tensor]:
        if self.score_with is not None:
            capture = ActivationCapture(self.graph, only_with_grad=False)
            try:
                with torch.no_grad():
                    self.score_with()
            finally:
                capture.remove()
            return {name: scores_from_magnitudes(mean_magnitude(h)) for name, h in capture.activations.items()}
        return {name: scores_from_magnitudes(sum(s for _, s in parts) / sum(n for n, _ in parts))
                for name, parts in self._sums.items()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "recycled": dict(self.recycled),
                "pooled": {name: [(rows, s.clone()) for rows, s in parts] for name, parts in self._sums.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._counts.update(state["recycled"])
        self._sums = {name: [(rows, s.clone()) for rows, s in parts] for name, parts in state.get("pooled", {}).items()}
