"""All plasticity metrics of a network on a probe batch, by name (what the training-time logger records).

:class:`MetricSuite` wraps a module ``f`` (its forward gives the network's outputs ``(N, k)``, e.g. the logits
and value of a policy) and finds its hidden layers with :func:`plasticity.network.trace` (one implementation,
shared with CBP and ReDo). Metric names (``/<layer>`` for per-layer values):

=================================  ===================================================================
``dormant_tau{0,0.025,0.1}``       fraction of τ-dormant hidden units, pooled over layers (+ per layer)
``fau``, ``dead_fraction``         fraction of active units; units silent on the whole probe (+ per layer)
``feature_norm``                   ``mean_n ‖h_n‖`` of the feature layer
``feature_erank/srank/``           effective rank, srank (δ = 0.01), approximate rank, stable rank of the
``approx_rank/stable_rank``        feature layer's features ``(N, units·positions)``
``weight_magnitude``               mean ``|w|`` over all parameters
``distance_from_init``             ``√(Σ(θ − θ₀)²/P)`` (θ₀: the parameters when the suite was created;
                                   heads added later by plasticity injection are left out)
``sigma_max/sigma_min/``           weight spectrum of each layer (hidden and output), ``‖Gram − I‖_F``;
``condition/gram_deviation``       ``gram_deviation`` alone is the mean over layers
``isometry_gap``                   RMS distance of the hidden layers' Jacobian singular values from 1 (a
                                   GroupSort layer's Jacobian is ``P(x)·W``: its singular values are W's)
``jacobian_sigma_mean``            their mean
expensive (``expensive=True``):
``entk_condition/erank/srank``     empirical NTK on ``ntk_samples`` inputs (fewer for big networks: every
                                   matrix stays under ``MATRIX_BUDGET`` entries; likewise Fisher samples
                                   and Lanczos steps)
``fisher_erank/srank``             empirical Fisher of the target-fitting loss
``hessian_srank``                  Hessian srank (SLQ) of the last hidden layer and the output layers
``trainability_ratio/loss``        fitting fresh random targets with a copy
``io_jacobian_gap``                isometry gap of the end-to-end ``∂f/∂x``
=================================  ===================================================================

**The feature layer** is ``feature_layer=`` (a hidden layer's name), by default the last hidden layer in the
order the forward pass reaches them. For a network with separate actor and critic branches that is the branch
the forward computes last: for an SB3 actor-critic policy (probed as ``[action_net(…), value_net(…)]``, see
:mod:`plasticity.metrics.outputs`) the critic's last layer; pass ``feature_layer="mlp_extractor.policy_net.2"``
for the actor's.

**Randomness.** ``compute`` and ``expensive`` run with torch's global generators forked (CPU, and the CUDA
device of the parameters): measuring never changes what training draws next, even for a module whose forward
samples (SB3's). Random targets and probes use their own seeded generators.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from plasticity.metrics import jacobian, rank, spectra, units, weights
from plasticity.metrics.outputs import TupleOutputs, measured_module
from plasticity.metrics.probes import trainability
from plasticity.network import LAYER_TYPES, ActivationCapture, LayerGraph, original_module, trace

TAUS = (0.0, 0.025, 0.1)
MATRIX_BUDGET = 20_000_000  # entries of the largest matrix an expensive metric may build (≈ 160 MB in float64)
EIG_BUDGET = 200_000_000  # flops of the per-sample Jacobian eigenproblems of one layer


def stable_name(name: str) -> str:
    """A parameter's name with plasticity injection's wrappers removed (``head.old.weight`` → ``head.weight``);
    the injected heads' own parameters (``.new``) have no initialization to compare with and keep their name."""
    parts = [p for p in name.split(".") if p != "old"]
    return ".".join(parts)


def _rng_untouched(method: Callable) -> Callable:
    """Run ``method`` with torch's global generators forked (the CPU one and the parameters' CUDA device)."""
    @functools.wraps(method)
    def wrapper(self: MetricSuite, *args, **kwargs):
        devices = sorted({p.device.index or 0 for p in self.outputs.parameters() if p.device.type == "cuda"})
        with torch.random.fork_rng(devices=devices):
            return method(self, *args, **kwargs)
    return wrapper


class MetricSuite:
    """Every plasticity metric of a network on a probe batch, by name — the way to log them in your own loop::

        suite = MetricSuite(model)           # model(x) gives the outputs (N, k); hidden layers are traced
        row = suite.compute(probe_x)         # cheap metrics (dormant ratios, ranks, isometry gap, …)
        row |= suite.expensive(probe_x)      # eNTK, Fisher, Hessian srank, trainability (at task switches)

    The table of names and formulas is in the module docstring; ``θ₀`` is taken when the suite is created.

    :param outputs: the network: a module returning ``(N, k)`` outputs, an SB3 policy (``model.policy``), or a
        module returning a tuple (:mod:`plasticity.metrics.outputs`).
    :param graph: its :class:`~plasticity.network.LayerGraph`, if already traced (default: traced at first use).
    :param feature_layer: the hidden layer whose features the ``feature_*`` metrics use (module docstring).
    :param taus: dormancy thresholds τ of the ``dormant_tau*`` metrics.
    :param jacobian_samples, ntk_samples, fisher_samples, hessian_iterations, trainability_steps: sizes of the
        Jacobian, eNTK, Fisher, Hessian and trainability probes (capped for big networks).
    """
    def __init__(self, outputs: nn.Module, graph: LayerGraph | None = None, *, feature_layer: str | None = None,
                 taus: Sequence[float] = TAUS, jacobian_samples: int = 32, ntk_samples: int = 16,
                 fisher_samples: int = 64, hessian_iterations: int = 40, trainability_steps: int = 25):
        if not isinstance(outputs, nn.Module):
            raise TypeError(f"MetricSuite: outputs={type(outputs).__name__} is not an nn.Module; pass the network "
                            "(or plasticity.metrics.jacobian.output_module(fn, network) for a function of it)")
        # a compiled model is measured through its eager original; an SB3 policy through its deterministic outputs
        self.outputs = measured_module(original_module(outputs))
        self.feature_layer = feature_layer
        self._checked_outputs = False
        self.graph = graph
        self.taus = tuple(taus)
        self.jacobian_samples, self.ntk_samples, self.fisher_samples = jacobian_samples, ntk_samples, fisher_samples
        self.hessian_iterations, self.trainability_steps = hessian_iterations, trainability_steps
        self.initial = {stable_name(n): p.detach().clone() for n, p in self.outputs.named_parameters()}

    def _graph(self, x: Tensor) -> LayerGraph:
        if not self._checked_outputs:  # a forward returning a tuple is measured through its float tensors
            with torch.no_grad():
                if not isinstance(self.outputs(x[:2]), Tensor):
                    self.outputs = TupleOutputs(self.outputs)
            self._checked_outputs = True
        modules = dict(self.outputs.named_modules())
        if self.graph is not None:  # re-trace if the structure changed (e.g. plasticity injection wrapped a head)
            names = [ly.name for ly in self.graph.hidden] + list(self.graph.outputs)
            if any(not isinstance(modules.get(n), LAYER_TYPES) for n in names):
                self.graph = None
        if self.graph is None:
            self.graph = trace(self.outputs, lambda: self.outputs(x[:4]))
            names = [ly.name for ly in self.graph.hidden]
            if self.feature_layer is not None and self.feature_layer not in names:
                raise ValueError(f"MetricSuite: feature_layer={self.feature_layer!r} is not a hidden layer; valid "
                                 f"choices: {', '.join(names)}")
        return self.graph

    def _features(self, graph: LayerGraph, acts: dict[str, Tensor]) -> Tensor:
        return acts[self.feature_layer if self.feature_layer is not None else graph.hidden[-1].name]

    @torch.no_grad()
    def activations(self, x: Tensor) -> dict[str, Tensor]:
        capture = ActivationCapture(self._graph(x), only_with_grad=False)
        try:
            self.outputs(x)
        finally:
            capture.remove()
        return capture.activations

    @_rng_untouched
    @torch.no_grad()
    def compute(self, x: Tensor, expensive: bool = False) -> dict[str, float]:
        graph = self._graph(x)
        acts = self.activations(x)
        out: dict[str, float] = {}
        hidden = graph.hidden
        for tau in self.taus:
            per = {layer.name: units.dormant_ratio(acts[layer.name], tau) for layer in hidden}
            n_units = sum(layer.n_units for layer in hidden)
            out[f"dormant_tau{tau:g}"] = sum(per[ly.name] * ly.n_units for ly in hidden) / n_units
            out.update({f"dormant_tau{tau:g}/{name}": v for name, v in per.items()})
        for layer in hidden:
            out[f"fau/{layer.name}"] = units.fraction_active(acts[layer.name])
            out[f"dead_fraction/{layer.name}"] = units.dead_fraction(acts[layer.name])
        out["fau"] = sum(out[f"fau/{ly.name}"] for ly in hidden) / len(hidden)
        out["dead_fraction"] = sum(out[f"dead_fraction/{ly.name}"] * ly.n_units for ly in hidden) / sum(
            ly.n_units for ly in hidden)
        last = self._features(graph, acts)
        out["feature_norm"] = units.feature_norm(last)
        sv = rank.singular_values(last.flatten(1))
        out.update(feature_erank=rank.effective_rank(sv), feature_srank=float(rank.srank(sv)),
                   feature_approx_rank=float(rank.approximate_rank(sv)), feature_stable_rank=rank.stable_rank(sv))
        params = list(self.outputs.parameters())
        out["weight_magnitude"] = weights.weight_magnitude(params)
        tracked = [(p, self.initial[stable_name(n)]) for n, p in self.outputs.named_parameters()
                   if stable_name(n) in self.initial]
        out["distance_from_init"] = weights.distance_from_init([p for p, _ in tracked], [q for _, q in tracked])
        grams = []
        layers = [(ly.name, ly.module) for ly in hidden] + [(n, dict(self.outputs.named_modules())[n])
                                                              for n in graph.outputs]
        for name, module in layers:
            spec = weights.weight_spectrum(module.weight)
            out.update({f"{k}/{name}": v for k, v in spec.items()})
            grams.append(spec["gram_deviation"])
        out["gram_deviation"] = sum(grams) / len(grams)
        svs = []
        for layer in hidden:
            # one (units × units) eigenproblem per sample: cap the work at ≈ EIG_BUDGET flops per layer
            samples = max(2, min(self.jacobian_samples, EIG_BUDGET // layer.n_units**3))
            if layer.mixing:  # GroupSort: the Jacobian is P(x)·W, a permutation of W: its singular values are W's
                s = rank.singular_values(layer.module.weight.reshape(layer.n_units, -1))
            else:
                s = jacobian.layer_jacobian_singular_values(layer.module.weight, acts[layer.name][:samples])
            out[f"isometry_gap/{layer.name}"] = jacobian.isometry_gap(s)
            svs.append(s)
        all_sv = torch.cat(svs)
        out["isometry_gap"] = jacobian.isometry_gap(all_sv)
        out["jacobian_sigma_mean"] = float(all_sv.mean())
        if expensive:
            out.update(self.expensive(x))
        return out

    @_rng_untouched
    def expensive(self, x: Tensor) -> dict[str, float]:
        graph = self._graph(x)
        out: dict[str, float] = {}
        n_params = sum(p.numel() for p in self.outputs.parameters() if p.requires_grad)
        with torch.no_grad():
            k = self.outputs(x[:1]).shape[1]
        # keep J (N·k × P) and G (N × P) under MATRIX_BUDGET entries: fewer probe samples for big networks
        ntk = max(2, min(self.ntk_samples, MATRIX_BUDGET // (k * n_params)))
        out.update(spectra.spectrum_stats(spectra.entk_spectrum(self.outputs, x[:ntk]), "entk"))
        xf = x[: max(2, min(self.fisher_samples, MATRIX_BUDGET // n_params))]
        y = spectra.random_targets(self.outputs, xf)
        fisher = spectra.fisher_spectrum(self.outputs, xf, y)
        out.update({k: v for k, v in spectra.spectrum_stats(fisher, "fisher").items() if "condition" not in k})
        modules = dict(self.outputs.named_modules())
        block = [graph.hidden[-1].name, *graph.outputs]
        names = [f"{m}.{n}" if m else n for m in block for n, p in modules[m].named_parameters() if p.requires_grad]
        dim = sum(dict(self.outputs.named_parameters())[n].numel() for n in names)
        iterations = max(2, min(self.hessian_iterations, MATRIX_BUDGET // max(dim, 1)))  # the Lanczos basis
        with torch.enable_grad():
            values, w = spectra.hessian_spectrum(self.outputs, xf, y, names, iterations)
        out["hessian_srank"] = spectra.density_srank(values, w, dim)
        out.update(trainability(self.outputs, x[: max(16, MATRIX_BUDGET // n_params)], steps=self.trainability_steps))
        with torch.enable_grad():
            io = jacobian.input_output_singular_values(self.outputs, x)
        out["io_jacobian_gap"] = jacobian.isometry_gap(io)
        return out
