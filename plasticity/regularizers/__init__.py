"""Parameter-space regularizers with closed-form gradients (see :mod:`plasticity.regularizers.base`)."""

from plasticity.regularizers.base import Regularizer, as_matrix
from plasticity.regularizers.isometry import Isometry, gram_deviation
from plasticity.regularizers.l2 import L2, L2Init
from plasticity.regularizers.spectral import Spectral
from plasticity.regularizers.wasserstein import Wasserstein

__all__ = ["L2", "Isometry", "L2Init", "Regularizer", "Spectral", "Wasserstein", "as_matrix", "gram_deviation"]
