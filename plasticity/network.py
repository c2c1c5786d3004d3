"""Network introspection: hidden layers, the layers that consume their units, and their activations.

Unit methods (CBP, ReDo) and metrics need, for each hidden layer, its *units* (Linear outputs or Conv2d
channels), the layers those units feed (their outgoing weights), and the units' activations on the current
forward pass. Module order cannot give this for branching models (an SB3 actor-critic feeds one feature
layer to both ``action_net`` and ``value_net``), so :func:`trace` reads the data flow from one real forward
pass: it hooks every ``nn.Linear``/``nn.Conv2d``, runs the forward with autograd on, and walks the autograd
graph back from each layer's input to the layers that produced it.

Between a producer and its consumer only unit-preserving ops are allowed — element-wise activations
(ReLU, tanh, …), dropout, casts, flatten/view/reshape, channel-wise pooling, and ``nn.LayerNorm`` /
``nn.BatchNorm1d/2d`` modules whose first normalized dimension is the producer's units (as in Dohare's CBP
layers) — so that unit ``i`` of the producer owns a fixed block of the consumer's inputs: one input feature
(Linear → Linear), one input channel (Conv → Conv), or ``H·W`` consecutive input features (Conv → flatten →
Linear, NCHW order). A layer whose units reach a consumer through anything else (a permute before the flatten,
a concatenation, a residual add, a functional normalization, GroupSort) is left out of unit methods and
metrics, with a warning naming the op, since the unit correspondence would be ambiguous; a model with no layer
left raises a ``ValueError`` with those reasons.

Every forward call made with autograd on is recorded (not only the last "pass"), so models whose branches are
defined in one order and called in another (CleanRL's ``Agent`` defines ``critic`` before ``actor``) or that
call a shared trunk and then each head are traced whole. Linear/Conv layers the forward never reached are
named in a warning. A ``torch.compile``d module is traced through its original module (``_orig_mod``).

A layer that feeds no other layer is an **output** layer and is never a hidden layer (so unit methods never
touch it). Activations are captured with forward pre-hooks on each hidden layer's first consumer (the value
the consumer sees, i.e. after the activation function), only on forward passes with autograd enabled (the
training forward), with no model rewrite.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from plasticity.activations import GroupSort

LAYER_TYPES = (nn.Linear, nn.Conv2d)
NORM_TYPES = (nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d)
_CALLS_KEPT = 4  # recorded calls per layer before the structure is read: a few passes, never a growing list

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

    def outgoing_mask(self, units: Tensor) -> Tensor:
        """Boolean mask of ``weight``'s shape marking the outgoing weights of the units where ``units`` (a boolean
        per unit) is true; built by broadcasting, so nothing is read on the host."""
        w = self.weight
        per_input = units if isinstance(self.module, nn.Conv2d) or self.group == 1 else \
            units.repeat_interleave(self.group)
        return per_input.view(1, -1, *([1] * (w.dim() - 2))).expand_as(w)

    def outgoing_magnitude(self) -> Tensor:
        """``mean |w|`` over each unit's outgoing weights in this consumer, shape ``(units,)``."""
        w = self.weight.detach().abs()
        if isinstance(self.module, nn.Conv2d):
            return w.mean(dim=(0, 2, 3))
        return w.view(w.shape[0], -1, self.group).mean(dim=(0, 2))


@dataclass
class HiddenLayer:
    """A layer whose units feed other layers: its consumers, the LayerNorm/BatchNorm modules in between, and the
    GroupSort modules in between (``mixing``: metrics measure such a layer, unit methods leave it out)."""

    name: str
    module: nn.Module
    consumers: list[Consumer] = field(default_factory=list)
    norms: list[tuple[str, nn.Module]] = field(default_factory=list)
    mixing: list[str] = field(default_factory=list)  # GroupSort modules on the way: units are mixed in groups

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


Found = tuple[str, list[str], list[str], "str | None"]


def _producers(start: Any, outputs: dict[Any, str], consumer: str, norm_outputs: dict[Any, str],
               mixer_outputs: dict[Any, tuple[str, Any]] | None = None) -> list[Found]:
    """Walk back from ``start`` to the nearest layer outputs; return (producer, ops on the path, normalization and
    GroupSort modules on the path, the first op that mixes units or None) for each producer found."""
    found: list[tuple[str, list[str], list[str], str | None]] = []
    stack: list[tuple[Any, list[str], list[str], str | None]] = [(start, [], [], None)]
    seen = set()
    while stack:
        node, path, norms, blocked = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node in outputs:
            found.append((outputs[node], path, norms, blocked))
            continue
        kind = _node_kind(node)
        if kind == "AccumulateGrad":
            continue  # a leaf: e.g. a learnable scale; no producer through this branch
        if mixer_outputs and node in mixer_outputs:  # a GroupSort: on to its input, remembering it
            name, inner = mixer_outputs[node]
            stack.append((inner, [*path, "GroupSort"], [*norms, name], blocked))
            continue
        if node in norm_outputs:
            norms = [*norms, norm_outputs[node]]
        elif "Compiled" in kind:
            raise ValueError(f"the forward before {consumer!r} ran under torch.compile ({type(node).__name__}): "
                             "trace the original module eagerly, e.g. pass trace_with=lambda: model(example_input) "
                             "with the uncompiled model")
        elif kind not in _PASS_THROUGH and kind not in _VIEWS and kind not in _REORDERS and blocked is None:
            blocked = type(node).__name__  # keep walking: the layers behind it are named, then left out
        for parent, _ in node.next_functions:
            stack.append((parent, [*path, kind], norms, blocked))
    return found


def original_module(model: nn.Module) -> nn.Module:
    """``model`` itself, or the module a ``torch.compile``d wrapper runs (hooks and traces need the original)."""
    return getattr(model, "_orig_mod", model) if type(model).__name__ == "OptimizedModule" else model


class ForwardRecorder:
    """Records, for every Linear/Conv2d of ``model``, the inputs and outputs of its recent forward calls made
    with autograd on, and the outputs of its normalization modules (what :func:`trace` needs to read the data
    flow). Calls are kept per layer in call order (the last few), whatever order the layers were defined in."""

    def __init__(self, model: nn.Module):
        self.model = original_module(model)
        self.names = {m: n for n, m in self.model.named_modules() if isinstance(m, LAYER_TYPES)}
        if not self.names:
            raise ValueError(f"{type(self.model).__name__} has no Linear or Conv2d layer")
        self.norms = {m: n for n, m in self.model.named_modules() if isinstance(m, NORM_TYPES)}
        self.mixers = {m: n for n, m in self.model.named_modules() if isinstance(m, GroupSort)}
        self.seen: dict[str, list[tuple[Tensor, Tensor]]] = {}
        self.norm_outputs: dict[Any, str] = {}
        self.mixer_outputs: dict[Any, tuple[str, Any]] = {}
        self._handles = [m.register_forward_hook(self._hook) for m in self.names]
        self._handles += [m.register_forward_hook(self._norm_hook) for m in self.norms]
        self._handles += [m.register_forward_hook(self._mixer_hook) for m in self.mixers]

    def _hook(self, module: nn.Module, inputs: tuple, output: Tensor) -> None:
        if torch.is_grad_enabled():
            calls = self.seen.setdefault(self.names[module], [])
            calls.append((inputs[0], output))
            del calls[:-_CALLS_KEPT]

    def _norm_hook(self, module: nn.Module, inputs: tuple, output: Tensor) -> None:
        if torch.is_grad_enabled() and output.grad_fn is not None:
            if len(self.norm_outputs) > 8 * _CALLS_KEPT * len(self.norms):
                self.norm_outputs.clear()
            self.norm_outputs[output.grad_fn] = self.norms[module]

    def _mixer_hook(self, module: nn.Module, inputs: tuple, output: Tensor) -> None:
        if torch.is_grad_enabled() and output.grad_fn is not None:
            if len(self.mixer_outputs) > 8 * _CALLS_KEPT * len(self.mixers):
                self.mixer_outputs.clear()
            self.mixer_outputs[output.grad_fn] = (self.mixers[module], inputs[0].grad_fn)

    def graph(self) -> LayerGraph:
        if not self.seen:
            raise ValueError("no forward pass with autograd on was recorded yet")
        return _graph_from_capture(self.model, self.names, self.seen, self.norm_outputs, self.mixer_outputs)

    def activations(self, graph: LayerGraph) -> dict[str, Tensor]:
        """Hidden-layer activations ``(N, units, positions)`` from the last recorded call of each layer's first
        consumer (see ActivationCapture)."""
        out = {}
        for layer in graph.hidden:
            x = self.seen[layer.consumers[0].name][-1][0].detach()
            out[layer.name] = x.reshape(x.shape[0], layer.n_units, -1)
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def trace(model: nn.Module, run: Callable[[], Any]) -> LayerGraph:
    """The :class:`LayerGraph` of ``model`` from one forward pass ``run()`` (run with autograd on).

    ``run`` may call any methods of the model (``agent.get_action_and_value(x)``), in any order. A
    ``torch.compile``d model or function runs eagerly for the trace (``torch.compiler.set_stance``), so its
    autograd graph can be read.
    """
    recorder = ForwardRecorder(model)
    try:
        with torch.enable_grad(), torch.compiler.set_stance("force_eager"):
            run()
    finally:
        recorder.remove()
    return recorder.graph()


def _units(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def _fan_in(module: nn.Module) -> int:
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels


def _check_norm(norm: nn.Module, norm_name: str, producer: str, prod: nn.Module) -> None:
    units = _units(prod)
    if isinstance(norm, nn.LayerNorm):
        shape = tuple(norm.normalized_shape)
        ok = shape[0] == units and (len(shape) == 1 or isinstance(prod, nn.Conv2d))
    else:
        ok = norm.num_features == units
    if not ok:
        raise ValueError(f"{norm_name!r} ({norm}) does not normalize {producer!r}'s {units} units one by one: "
                         "unit methods need LayerNorm(units) or BatchNorm(units) after a layer")


def _graph_from_capture(model: nn.Module, names: dict[nn.Module, str], seen: dict[str, list[tuple[Tensor, Tensor]]],
                        norm_outputs: dict[Any, str] | None = None,
                        mixer_outputs: dict[Any, tuple[str, Any]] | None = None) -> LayerGraph:
    modules = {n: m for m, n in names.items()}
    norm_modules = dict(model.named_modules())
    outputs = {out.grad_fn: name for name, calls in seen.items() for _, out in calls if out.grad_fn is not None}
    if not outputs:
        raise ValueError("the traced forward built no autograd graph: run it with parameters that require grad")
    consumers: dict[str, list[Consumer]] = {}
    norms: dict[str, list[tuple[str, nn.Module]]] = {}
    unplaceable: dict[str, str] = {}
    mixing: dict[str, list[str]] = {}
    for name, calls in seen.items():
        for inp, _ in calls:
            if inp.grad_fn is None:
                continue
            for producer, path, path_norms, blocked in _producers(inp.grad_fn, outputs, name, norm_outputs or {},
                                                                        mixer_outputs):
                path_mixers = [n for n in path_norms if isinstance(norm_modules[n], GroupSort)]
                path_norms = [n for n in path_norms if n not in path_mixers]
                reason = _unplaceable(modules[producer], producer, modules[name], name, path, blocked)
                if reason is None:
                    try:
                        for norm_name in path_norms:
                            _check_norm(norm_modules[norm_name], norm_name, producer, modules[producer])
                    except ValueError as error:
                        reason = str(error)
                if reason is not None:
                    unplaceable.setdefault(producer, reason)
                    continue
                units = _units(modules[producer])
                fan_in = _fan_in(modules[name])
                if all(c.name != name for c in consumers.get(producer, [])):
                    consumers.setdefault(producer, []).append(Consumer(name, modules[name], fan_in // units))
                for norm_name in path_norms:
                    if all(n != norm_name for n, _ in norms.get(producer, [])):
                        norms.setdefault(producer, []).append((norm_name, norm_modules[norm_name]))
                for mixer in path_mixers:
                    if mixer not in mixing.get(producer, []):
                        mixing.setdefault(producer, []).append(mixer)
    order = list(seen)  # order of first call
    hidden = [HiddenLayer(n, modules[n], consumers[n], norms.get(n, []), mixing.get(n, [])) for n in order
              if n in consumers and n not in unplaceable]
    reasons = "; ".join(f"{n!r}: {why}" for n, why in unplaceable.items())
    if not hidden:
        raise ValueError(f"{type(model).__name__} has no hidden layer unit methods can act on"
                         + (f" ({reasons})" if reasons else " (no layer feeds another)"))
    if unplaceable:
        warnings.warn(f"layers left out of unit methods and metrics: {reasons}", stacklevel=3)
    unreached = [n for n in modules if n not in seen]
    if unreached:
        warnings.warn(f"layers not reached by the traced forward pass: {', '.join(unreached)} (unit methods and "
                      "metrics leave them out; trace a forward that calls every branch)", stacklevel=3)
    return LayerGraph(hidden=hidden, outputs=[n for n in order if n not in consumers and n not in unplaceable])


def _unplaceable(prod: nn.Module, producer: str, cons: nn.Module, name: str, path: list[str],
                 blocked: str | None) -> str | None:
    """Why ``producer``'s units do not map one to one onto ``name``'s inputs, or None when they do."""
    if blocked is not None:
        return f"unsupported op {blocked} between {producer!r} and {name!r} (it mixes units)"
    if any(kind in path for kind in _REORDERS):
        return f"a permute between {producer!r} and {name!r} breaks the unit order"
    units, fan_in = _units(prod), _fan_in(cons)
    if fan_in % units or (fan_in > units and not isinstance(prod, nn.Conv2d)):
        return f"{name!r} has {fan_in} inputs for {producer!r}'s {units} units"
    return None


class ActivationCapture:
    """Keeps, per hidden layer, the activation its first consumer received on the last training forward.

    ``activations[name]`` has shape ``(N, units, positions)`` (positions = 1 for a Linear layer, H·W for a
    conv layer), detached. Forward passes under ``torch.no_grad()`` are ignored, so rollouts and target
    computations do not overwrite the batch that produced the gradient. ``modules`` (name → module) hooks
    those modules instead of the graph's first consumers (every layer of a model about to be compiled,
    before its structure is known); ``graph`` may then be set later.
    """

    def __init__(self, graph: LayerGraph | None, only_with_grad: bool = True,
                 modules: dict[str, nn.Module] | None = None):
        self.graph = graph
        self.only_with_grad = only_with_grad
        self.inputs: dict[str, Tensor] = {}
        if modules is None:
            assert graph is not None
            modules = {layer.consumers[0].name: layer.consumers[0].module for layer in graph.hidden}
        self._handles = [m.register_forward_pre_hook(self._hook(n)) for n, m in modules.items()]

    def _hook(self, name: str):
        def capture(module: nn.Module, inputs: tuple) -> None:
            if self.only_with_grad and not torch.is_grad_enabled():
                return
            self.inputs[name] = inputs[0].detach()
        return capture

    @property
    def activations(self) -> dict[str, Tensor]:
        assert self.graph is not None
        out = {}
        for layer in self.graph.hidden:
            x = self.inputs.get(layer.consumers[0].name)
            if x is not None:
                out[layer.name] = x.reshape(x.shape[0], layer.n_units, -1)
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
