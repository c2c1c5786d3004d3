"""GroupSort (Anil, Lucas & Grosse, ICML 2019): the activation of the AdamO authors' isometric networks.

``GroupSort_k`` splits the features (dim 1) into consecutive groups of ``k`` and sorts each group in descending
order; ``k = 2`` is MaxMin, ``(a, b) ↦ (max(a, b), min(a, b))``. Its Jacobian is a permutation matrix almost
everywhere, so a layer ``GroupSort(W x)`` has the Jacobian ``P(x)·W`` with the singular values of ``W``: with
orthogonal ``W`` the network is an isometry almost everywhere (Rosseau et al. 2026 pair it with AdamO and
bias-free layers). It mixes the units within a group, so unit methods (CBP, ReDo) have no unit to replace one by
one behind it and refuse such layers by name; the metrics measure them (``plasticity.metrics``).
"""

from __future__ import annotations

from torch import Tensor, nn


class GroupSort(nn.Module):
    """Sort each consecutive group of ``group_size`` features (dim 1) in descending order (2 = MaxMin)."""

    def __init__(self, group_size: int = 2):
        super().__init__()
        if not isinstance(group_size, int) or group_size < 1:
            raise ValueError(f"GroupSort: group_size={group_size!r} must be an integer >= 1")
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        features = x.shape[1]
        if features % self.group_size:
            raise ValueError(f"GroupSort: {features} features are not a multiple of group_size={self.group_size}")
        grouped = x.unflatten(1, (features // self.group_size, self.group_size))
        return grouped.sort(dim=2, descending=True).values.flatten(1, 2)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"
