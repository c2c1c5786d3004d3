"""Network introspection: hidden layers, the layers that consume their units, and their activations.

Unit methods (CBP, ReDo) and metrics need, for each hidden layer, its *units* (Linear outputs or Conv2d
channels), the layers those units feed (their outgoing weights), and the units' activations on the current
forward pass. Module order cannot give this for branching models (an SB3 actor-critic feeds one feature
layer to both ``action_net`` and ``value_net``), so :func:`trace` reads the data flow from one real forward
pass: it hooks every ``nn.Linear``/``nn.Conv2d``, runs the forward with autograd on, and walks the autograd
graph back from each layer's input to the layers that produced it.

Between a producer and its consumer only unit-preserving ops are allowed — element-wise activations
(ReLU, tanh, …), dropout, casts, flatten/view/reshape and channel-wise pooling — so that unit ``i`` of the
producer owns a fixed block of the consumer's inputs: one input feature (Linear → Linear), one input channel
(Conv → Conv), or ``H·W`` consecutive input features (Conv → flatten → Linear, NCHW order). Anything else
(a permute before the flatten, a concatenation, a residual add, normalization, GroupSort) raises a
``ValueError`` naming the op, since the unit correspondence would be ambiguous.

A layer that feeds no other layer is an **output** layer and is never a hidden layer (so unit methods never
touch it). Activations are captured with forward pre-hooks on each hidden layer's first consumer (the value
the consumer sees, i.e. after the activation function), only on forward passes with autograd enabled (the
training forward), with no model rewrite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

LAYER_TYPES = (nn.Linear, nn.Conv2d)

# Autograd nodes that keep unit i of the producer in a fixed block of the consumer's inputs.
_PASS_THROUGH = (
    "Relu", "Threshold", "LeakyRelu", "Elu", "Selu", "Celu", "Gelu", "Silu", "Mish", "Hardswish", "Hardtanh",
    "Softplus", "Tanh", "Sigmoid", "Hardsigmoid", "LogSigmoid", "Clamp", "NativeDropout", "Dropout", "Mul",
    "ToCopy", "Clone", "Alias", "Contiguous", "MaxPool2DWithIndices", "AvgPool2D", "AdaptiveAvgPool2D",
    "AdaptiveMaxPool2D",
)
_VIEWS = ("View", "Reshape", "UnsafeView", "ReshapeAlias", "Flatten", "Squeeze", "Unsqueeze")
_REORDERS = ("Permute", "Transpose")  # walked through, then rejected with a precise message


def _node_kind(node: Any) -> str:
    name = type(node).__name__
    return name[: -len("Backward0")] if name.endswith("Backward0") else name.rstrip("0123456789")


@dataclass(frozen=True)
class Consumer:
    """A layer fed by a hidden layer's units; unit ``i`` owns its inputs ``[i·group, (i+1)·group)``."""

    name: str
    module: nn.Module
    group: int  # inputs per unit: 1 (Linear → Linear, Conv → Conv) or H·W (Conv → flatten → Linear)

    @property
    def weight(self) -> Tensor:
        return self.module.weight

    def outgoing(self, units: Tensor | slice) -> tuple[slice | Tensor, ...]:
        """Index of ``weight`` selecting the outgoing weights of ``units``."""
        if isinstance(self.module, nn.Conv2d) or self.group == 1:
            return (slice(None), units)
        cols = (units.view(-1, 1) * self.group + torch.arange(self.group, device=units.device)).flatten()
        return (slice(None), cols)

    def outgoing_magnitude(self) -> Tensor:
        """``mean |w|`` over each unit's outgoing weights in this consumer, shape ``(units,)``."""
        w = self.weight.detach().abs()
        if isinstance(self.module, nn.Conv2d):
            return w.mean(dim=(0, 2, 3))
        return w.view(w.shape[0], -1, self.group).mean(dim=(0, 2))


@dataclass
class HiddenLayer:
    name: str
    module: nn.Module
    consumers: list[Consumer] = field(default_factory=list)

    @property
    def n_units(self) -> int:
        m = self.module
        return m.out_features if isinstance(m, nn.Linear) else m.out_channels

    @property
    def is_conv(self) -> bool:
        return isinstance(self.module, nn.Conv2d)

    def outgoing_magnitude(self) -> Tensor:
        """``mean |w_out|`` per unit over all its outgoing weights (every consumer pooled)."""
        total = torch.zeros(self.n_units, device=self.module.weight.device)
        count = 0
        for c in self.consumers:
            per_unit_weights = c.weight.numel() // self.n_units
            total += c.outgoing_magnitude() * per_unit_weights
            count += per_unit_weights
        return total / count

    def incoming_magnitude(self) -> Tensor:
        """``mean |w_in|`` per unit (a row of a Linear weight, a filter of a Conv2d)."""
        return self.module.weight.detach().abs().reshape(self.n_units, -1).mean(dim=1)


@dataclass
class LayerGraph:
    """Hidden layers in forward order, each with its consumers; ``outputs`` are the layers with none."""

    hidden: list[HiddenLayer]
    outputs: list[str]

    def __getitem__(self, name: str) -> HiddenLayer:
        for layer in self.hidden:
            if layer.name == name:
                return layer
        raise KeyError(name)


def _producers(start: Any, outputs: dict[Any, str], consumer: str) -> list[tuple[str, list[str]]]:
    """Walk back from ``start`` to the nearest layer outputs; return (producer, ops on the path) pairs."""
    found: list[tuple[str, list[str]]] = []
    stack = [(start, [])]
    seen = set()
    while stack:
        node, path = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node in outputs:
            found.append((outputs[node], path))
            continue
        kind = _node_kind(node)
        if kind == "AccumulateGrad":
            continue  # a leaf: e.g. a learnable scale; no producer through this branch
        if kind not in _PASS_THROUGH and kind not in _VIEWS and kind not in _REORDERS:
            raise ValueError(f"unsupported op {type(node).__name__} between layers before {consumer!r}: unit "
                             f"methods need element-wise ops, flatten/view and pooling only")
        for parent, _ in node.next_functions:
            stack.append((parent, [*path, kind]))
    return found


class ForwardRecorder:
    """Records, for every Linear/Conv2d of ``model``, the input and output of its last forward call made
    with autograd on (what :func:`trace` needs to read the data flow)."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.names = {m: n for n, m in model.named_modules() if isinstance(m, LAYER_TYPES)}
        if not self.names:
            raise ValueError(f"{type(model).__name__} has no Linear or Conv2d layer")
        self.seen: dict[str, tuple[Tensor, Tensor]] = {}
        self._handles = [m.register_forward_hook(self._hook) for m in self.names]

    def _hook(self, module: nn.Module, inputs: tuple, output: Tensor) -> None:
        if torch.is_grad_enabled():
            if module is next(iter(self.names)):
                self.seen = {}  # a new forward pass starts at the first layer
            self.seen[self.names[module]] = (inputs[0], output)

    def graph(self) -> LayerGraph:
        if not self.seen:
            raise ValueError("no forward pass with autograd on was recorded yet")
        return _graph_from_capture(self.model, self.names, self.seen)

    def activations(self, graph: LayerGraph) -> dict[str, Tensor]:
        """Hidden-layer activations ``(N, units, positions)`` from the recorded pass (see ActivationCapture)."""
        out = {}
        for layer in graph.hidden:
            x = self.seen[layer.consumers[0].name][0].detach()
            out[layer.name] = x.reshape(x.shape[0], layer.n_units, -1)
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def trace(model: nn.Module, run: Callable[[], Any]) -> LayerGraph:
    """The :class:`LayerGraph` of ``model`` from one forward pass ``run()`` (run with autograd on)."""
    recorder = ForwardRecorder(model)
    try:
        with torch.enable_grad():
            run()
    finally:
        recorder.remove()
    return recorder.graph()


def _graph_from_capture(model: nn.Module, names: dict[nn.Module, str],
                        seen: dict[str, tuple[Tensor, Tensor]]) -> LayerGraph:
    modules = {n: m for m, n in names.items()}
    outputs = {out.grad_fn: name for name, (_, out) in seen.items() if out.grad_fn is not None}
    if not outputs:
        raise ValueError("the traced forward built no autograd graph: run it with parameters that require grad")
    consumers: dict[str, list[Consumer]] = {}
    for name, (inp, _) in seen.items():
        if inp.grad_fn is None:
            continue
        for producer, path in _producers(inp.grad_fn, outputs, name):
            if any(kind in path for kind in _REORDERS):
                raise ValueError(f"a permute between {producer!r} and {name!r} breaks the unit order")
            prod, cons = modules[producer], modules[name]
            units = prod.out_features if isinstance(prod, nn.Linear) else prod.out_channels
            fan_in = cons.in_features if isinstance(cons, nn.Linear) else cons.in_channels
            if fan_in % units:
                raise ValueError(f"{name!r} has {fan_in} inputs, not a multiple of {producer!r}'s {units} units")
            group = fan_in // units
            if group > 1 and not isinstance(prod, nn.Conv2d):
                raise ValueError(f"{name!r} has {fan_in} inputs for {producer!r}'s {units} units")
            consumers.setdefault(producer, []).append(Consumer(name, cons, group))
    order = [n for n in seen]  # forward order of first call
    hidden = [HiddenLayer(n, modules[n], consumers[n]) for n in order if n in consumers]
    if not hidden:
        raise ValueError(f"{type(model).__name__} has no hidden layer (no layer feeds another)")
    return LayerGraph(hidden=hidden, outputs=[n for n in order if n not in consumers])


class ActivationCapture:
    """Keeps, per hidden layer, the activation its first consumer received on the last training forward.

    ``activations[name]`` has shape ``(N, units, positions)`` (positions = 1 for a Linear layer, H·W for a
    conv layer), detached. Forward passes under ``torch.no_grad()`` are ignored, so rollouts and target
    computations do not overwrite the batch that produced the gradient.
    """

    def __init__(self, graph: LayerGraph, only_with_grad: bool = True):
        self.activations: dict[str, Tensor] = {}
        self.only_with_grad = only_with_grad
        self._handles = []
        for layer in graph.hidden:
            first = layer.consumers[0].module
            self._handles.append(first.register_forward_pre_hook(self._hook(layer)))

    def _hook(self, layer: HiddenLayer):
        def capture(module: nn.Module, inputs: tuple) -> None:
            if self.only_with_grad and not torch.is_grad_enabled():
                return
            x = inputs[0].detach()
            self.activations[layer.name] = x.reshape(x.shape[0], layer.n_units, -1)
        return capture

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
