"""The machinery every unit method shares: find the hidden layers, capture activations, run after each step.

A :class:`UnitMethod` registers ``optimizer.register_step_post_hook``, so it runs after every
``optimizer.step()`` with no change to the training loop (SB3's ``train()`` included). The network's
structure is read from the first training forward pass (or eagerly from ``trace_with``, a callable running
one forward pass), see :mod:`plasticity.network`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from plasticity import entry_steps
from plasticity.network import LAYER_TYPES, ActivationCapture, ForwardRecorder, LayerGraph, original_module, trace
from plasticity.surgery import check_in_optimizer, check_optimizer_supported, init_bound, reinit_units


class UnknownLayerError(ValueError):
    """``layers=`` names a layer that is not a hidden layer of the model; ``valid`` lists those that are."""

    def __init__(self, method: str, layers: Sequence[str], unknown: str, valid: Sequence[str]):
        self.layers, self.unknown, self.valid = list(layers), unknown, list(valid)
        super().__init__(f"{method}: layers={self.layers}: {unknown!r} is not a hidden layer; valid choices: "
                         f"{', '.join(valid)}")


class UnitMethod:
    """Base class: subclasses implement :meth:`update` (called after every optimizer step).

    :param model: the network (or a ``torch.compile``d wrapper of it: its original module is the one traced and
        edited; build the unit method before the compiled model's first call, since torch.compile ignores
        hooks added afterwards).
    :param optimizer: the optimizer that trains ``model`` (its state of replaced entries is reset).
    :param layers: names of the hidden layers to act on (default: every hidden layer found).
    :param init: how new incoming weights are drawn (:func:`plasticity.surgery.init_bound`).
    :param seed: seed of the draws.
    :param trace_with: a callable running one forward pass, to read the structure now instead of at the first
        training step.
    :param reset_optimizer: reset the optimizer state of the touched entries (default). ``False`` is Dohare's PPO
        code, which used stock Adam and never touched its state.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *, init: str | float = "match",
                 seed: int = 0, trace_with: Callable[[], Any] | None = None, layers: Sequence[str] | None = None,
                 reset_optimizer: bool = True):
        self.reset_optimizer = bool(reset_optimizer)
        self.compiled = model is not original_module(model)
        self.model = original_module(model)
        self.optimizer = optimizer
        self.init = init
        self.layers = None if layers is None else tuple(layers)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.num_steps = 0
        self.graph: LayerGraph | None = None
        self._bounds: dict[str, float] = {}
        self._capture: ActivationCapture | None = None
        self._recorder: ForwardRecorder | None = None
        self._call: tuple[tuple, dict] | None = None
        self._handles: list[Any] = []
        self._call_hook: Any = None
        if trace_with is not None:
            self._set_graph(trace(self.model, trace_with))
        elif self.compiled:
            # the structure comes from an eager re-run of the last training call; activations from hooks on every
            # layer, registered now, before torch.compile traces the forward
            self._call_hook = model.register_forward_pre_hook(self._remember_call, with_kwargs=True)
            self._capture = ActivationCapture(None, modules={n: m for n, m in self.model.named_modules()
                                                             if isinstance(m, LAYER_TYPES)})
        else:
            self._recorder = ForwardRecorder(self.model)
        other = optimizer.__dict__.get("_plasticity_unit_method")
        if other is not None and other is not self and other._handles:
            raise ValueError(f"{type(self).__name__}: this optimizer already runs {type(other).__name__} after each "
                             "step; one unit method per optimizer (call .remove() on the other first)")
        if entry_steps.supports(optimizer) and self.reset_optimizer:
            if entry_steps.attached(optimizer) is None and optimizer.state:
                warnings.warn(f"{type(self).__name__}: the optimizer already has state but no per-entry step record: "
                              "if that state came from a checkpoint (SB3's load), reset units will be bias-corrected "
                              "with the tensor's step count; build the method before loading, or use "
                              "agents.sb3.attach", stacklevel=3)
            entry_steps.attach(optimizer)  # now, so that a checkpoint loaded into the optimizer restores it
        self._handles.append(optimizer.register_step_post_hook(self._after_step))
        optimizer.__dict__["_plasticity_unit_method"] = self

    def _remember_call(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if torch.is_grad_enabled():
            self._call = (args, kwargs)

    def _set_graph(self, graph: LayerGraph) -> None:
        mixed = {ly.name: ly.mixing for ly in graph.hidden if ly.mixing}
        if mixed:
            kept = [ly for ly in graph.hidden if not ly.mixing]
            why = "; ".join(f"{n!r} feeds its consumers through GroupSort {m[0]!r}" for n, m in mixed.items())
            if not kept or (self.layers is not None and set(self.layers) & set(mixed)):
                raise ValueError(f"{type(self).__name__}: {why}, which mixes the units of each group: there is no "
                                 "unit to replace one by one (unit methods need ReLU-like element-wise activations)")
            warnings.warn(f"{type(self).__name__} leaves out {why}", stacklevel=3)
            graph = LayerGraph(hidden=kept, outputs=graph.outputs)
        if self.layers is not None:
            names = [layer.name for layer in graph.hidden]
            unknown = [n for n in self.layers if n not in names]
            if unknown:
                raise UnknownLayerError(type(self).__name__, self.layers, unknown[0], names)
            graph = LayerGraph(hidden=[ly for ly in graph.hidden if ly.name in self.layers], outputs=graph.outputs)
        for layer in graph.hidden:
            check_in_optimizer(self.optimizer, [layer.module.weight, *(c.weight for c in layer.consumers)],
                               f"{type(self).__name__} layer {layer.name!r}")
            self._bounds.setdefault(layer.name, init_bound(layer, self.init))
        check_optimizer_supported(self.optimizer, type(self).__name__)
        self.graph = graph
        if self._capture is None:
            self._capture = ActivationCapture(graph)
        else:
            self._capture.graph = graph
        self._init_layer_state(graph)

    def _init_layer_state(self, graph: LayerGraph) -> None:
        """Create per-layer state (subclasses)."""

    def _after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self.graph is None:
            if self._recorder is not None:
                graph = self._recorder.graph()
                activations = self._recorder.activations(graph)
                self._recorder.remove()
                self._recorder = None
                self._set_graph(graph)
            else:
                if self._call is None:
                    raise ValueError(f"{type(self).__name__}: the compiled model was not called with autograd on "
                                     "before this optimizer step; pass trace_with=lambda: model(example_input)")
                call_args, call_kwargs = self._call
                self._call = None
                self._call_hook.remove()
                trained = dict(self._capture.inputs)  # from the compiled training forward, if its hooks ran
                self._set_graph(trace(self.model, lambda: self.model(*call_args, **call_kwargs)))
                activations = self._capture.activations if trained else {}
        else:
            activations = self._capture.activations
        if self.compiled:
            self._capture.inputs.clear()  # a compiled forward that stopped running our hooks must not go unnoticed
        missing = [layer.name for layer in self.graph.hidden if layer.name not in activations]
        if missing:
            raise RuntimeError(
                f"{type(self).__name__}: no activation of {missing[0]!r} was captured on the training forward"
                + (": the model was compiled and called before this method was built, and torch.compile ignores "
                   "hooks added later; build it before the compiled model's first call" if self.compiled else
                   ": run the training forward with autograd on before optimizer.step()"))
        self.num_steps += 1
        with torch.no_grad():
            self.update(activations)

    def update(self, activations: dict[str, Tensor]) -> None:
        raise NotImplementedError

    def reinit(self, layer_name: str, units: Tensor) -> None:
        """Fresh incoming weights, zero incoming bias and outgoing weights, reset optimizer state of those."""
        assert self.graph is not None
        reinit_units(self.graph[layer_name], units, self._bounds[layer_name], self.generator,
                     self.optimizer if self.reset_optimizer else None)

    # -- state ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"num_steps": self.num_steps, "generator": self.generator.get_state(), "bounds": dict(self._bounds)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.num_steps = int(state["num_steps"])
        self.generator.set_state(state["generator"])
        self._bounds.update(state["bounds"])

    def remove(self) -> None:
        """Detach from the optimizer and the model."""
        for handle in [*self._handles, *([self._call_hook] if self._call_hook else [])]:
            handle.remove()
        self._handles = []
        if self.optimizer.__dict__.get("_plasticity_unit_method") is self:
            del self.optimizer.__dict__["_plasticity_unit_method"]
        for hooks in (self._capture, self._recorder):
            if hooks is not None:
                hooks.remove()
