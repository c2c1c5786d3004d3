"""All plasticity metrics of a network on a probe batch, by name (what the training-time logger records).

:class:`MetricSuite` wraps a module ``f`` (its forward gives the network's outputs ``(N, k)``, e.g. the logits
and value of a policy) and finds its hidden layers with :func:`plasticity.network.trace` (one implementation,
shared with CBP and ReDo). Metric names (``/<layer>`` for per-layer values):

=================================  ===================================================================
``dormant_tau{0,0.025,0.1}``       fraction of τ-dormant hidden units, pooled over layers (+ per layer)
``fau``, ``dead_fraction``         fraction of active units; units silent on the whole probe (+ per layer)
``feature_norm``                   ``mean_n ‖h_n‖`` of the last hidden layer
``feature_erank/srank/``           effective rank, srank (δ = 0.01), approximate rank, stable rank of the
``approx_rank/stable_rank``        last hidden layer's features ``(N, units·positions)``
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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from plasticity.metrics import jacobian, rank, spectra, units, weights
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


class MetricSuite:
    """Every plasticity metric of a network on a probe batch, by name — the way to log them in your own loop::

        suite = MetricSuite(model)           # model(x) gives the outputs (N, k); hidden layers are traced
        row = suite.compute(probe_x)         # cheap metrics (dormant ratios, ranks, isometry gap, …)
        row |= suite.expensive(probe_x)      # eNTK, Fisher, Hessian srank, trainability (at task switches)

    The table of names and formulas is in the module docstring; ``θ₀`` is taken when the suite is created."""
    def __init__(self, outputs: nn.Module, graph: LayerGraph | None = None, *, taus: Sequence[float] = TAUS,
                 jacobian_samples: int = 32, ntk_samples: int = 16, fisher_samples: int = 64,
                 hessian_iterations: int = 40, trainability_steps: int = 25):
        self.outputs = original_module(outputs)  # a compiled model is measured through its eager original
        self.graph = graph
        self.taus = tuple(taus)
        self.jacobian_samples, self.ntk_samples, self.fisher_samples = jacobian_samples, ntk_samples, fisher_samples
        self.hessian_iterations, self.trainability_steps = hessian_iterations, trainability_steps
        self.initial = {stable_name(n): p.detach().clone() for n, p in outputs.named_parameters()}

    def _graph(self, x: Tensor) -> LayerGraph:
        modules = dict(self.outputs.named_modules())
        if self.graph is not None:  # re-trace if the structure changed (e.g. plasticity injection wrapped a head)
            names = [ly.name for ly in self.graph.hidden] + list(self.graph.outputs)
            if any(not isinstance(modules.get(n), LAYER_TYPES) for n in names):
                self.graph = None
        if self.graph is None:
            self.graph = trace(self.outputs, lambda: self.outputs(x[:4]))
        return self.graph

    @torch.no_grad()
    def activations(self, x: Tensor) -> dict[str, Tensor]:
        capture = ActivationCapture(self._graph(x), only_with_grad=False)
        try:
            self.outputs(x)
        finally:
            capture.remove()
        return capture.activations

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
        last = acts[hidden[-1].name]
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
