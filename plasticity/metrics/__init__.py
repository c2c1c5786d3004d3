"""Plasticity metrics (pure torch)."""

from plasticity.metrics.dormant import dormant_mask, dormant_scores

__all__ = ["dormant_mask", "dormant_scores"]
