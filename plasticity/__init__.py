"""plasticity: plasticity-preserving optimizers, unit methods and metrics (pure PyTorch)."""

from plasticity.param_groups import module_names, param_groups

__all__ = ["module_names", "param_groups"]
