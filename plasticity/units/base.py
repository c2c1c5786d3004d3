"""The machinery every unit method shares: find the hidden layers, capture activations, run after each step.

A :class:`UnitMethod` registers ``optimizer.register_step_post_hook``, so it runs after every
``optimizer.step()`` with no change to the training loop (SB3's ``train()`` included). The network's
structure is read from the first training forward pass (or eagerly from ``trace_with``, a callable running
one forward pass), see :mod:`plasticity.network`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from plasticity.network import ActivationCapture, ForwardRecorder, LayerGraph, trace
from plasticity.surgery import check_in_optimizer, init_bound, reinit_units


class UnitMethod:
    """Base class: subclasses implement :meth:`update` (called after every optimizer step)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *, init: str | float = "match",
                 seed: int = 0, trace_with: Callable[[], Any] | None = None):
        self.model = model
        self.optimizer = optimizer
        self.init = init
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.num_steps = 0
        self.graph: LayerGraph | None = None
        self._bounds: dict[str, float] = {}
        self._capture: ActivationCapture | None = None
        self._recorder: ForwardRecorder | None = None
        if trace_with is not None:
            self._set_graph(trace(model, trace_with))
        else:
            self._recorder = ForwardRecorder(model)
        self._handle = optimizer.register_step_post_hook(self._after_step)

    def _set_graph(self, graph: LayerGraph) -> None:
        for layer in graph.hidden:
            check_in_optimizer(self.optimizer, [layer.module.weight, *(c.weight for c in layer.consumers)],
                               f"{type(self).__name__} layer {layer.name!r}")
            self._bounds.setdefault(layer.name, init_bound(layer, self.init))
        self.graph = graph
        self._capture = ActivationCapture(graph)
        self._init_layer_state(graph)

    def _init_layer_state(self, graph: LayerGraph) -> None:
        """Create per-layer state (subclasses)."""

    def _after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.graph is None:
            assert self._recorder is not None
            graph = self._recorder.graph()
            activations = self._recorder.activations(graph)
            self._recorder.remove()
            self._recorder = None
            self._set_graph(graph)
        else:
            activations = self._capture.activations
        self.num_steps += 1
        with torch.no_grad():
            self.update(activations)

    def update(self, activations: dict[str, Tensor]) -> None:
        raise NotImplementedError

    def reinit(self, layer_name: str, units: Tensor) -> None:
        """Fresh incoming weights, zero incoming bias and outgoing weights, reset optimizer state of those."""
        assert self.graph is not None
        reinit_units(self.graph[layer_name], units, self._bounds[layer_name], self.generator, self.optimizer)

    # -- state ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"num_steps": self.num_steps, "generator": self.generator.get_state(), "bounds": dict(self._bounds)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.num_steps = int(state["num_steps"])
        self.generator.set_state(state["generator"])
        self._bounds.update(state["bounds"])

    def remove(self) -> None:
        """Detach from the optimizer and the model."""
        self._handle.remove()
        for hooks in (self._capture, self._recorder):
            if hooks is not None:
                hooks.remove()
