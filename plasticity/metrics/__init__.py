"""Plasticity metrics (pure torch): formulas and the names other papers use are in each module's docstring."""

from plasticity.metrics.dormant import dormant_mask, dormant_scores
from plasticity.metrics.gradients import gradient_norms
from plasticity.metrics.jacobian import input_output_singular_values, isometry_gap, layer_jacobian_singular_values
from plasticity.metrics.probes import churn, trainability
from plasticity.metrics.rank import approximate_rank, effective_rank, singular_values, srank, stable_rank
from plasticity.metrics.spectra import density_srank, entk_spectrum, fisher_spectrum, hessian_spectrum
from plasticity.metrics.suite import MetricSuite
from plasticity.metrics.units import dead_fraction, dormant_ratio, feature_norm, fraction_active
from plasticity.metrics.weights import distance_from_init, update_size, weight_magnitude, weight_spectrum

__all__ = [
    "MetricSuite",
    "approximate_rank",
    "churn",
    "dead_fraction",
    "density_srank",
    "distance_from_init",
    "dormant_mask",
    "dormant_ratio",
    "dormant_scores",
    "effective_rank",
    "entk_spectrum",
    "feature_norm",
    "fisher_spectrum",
    "fraction_active",
    "gradient_norms",
    "hessian_spectrum",
    "input_output_singular_values",
    "isometry_gap",
    "layer_jacobian_singular_values",
    "singular_values",
    "srank",
    "stable_rank",
    "trainability",
    "update_size",
    "weight_magnitude",
    "weight_spectrum",
]
