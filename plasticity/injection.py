"""Plasticity injection (Nikishin et al., NeurIPS 2023, arXiv 2305.15555).

At injection the head ``h_θ`` is kept (frozen, as in the paper; ``freeze_old=False`` keeps training it, as
Plasticine's port does), a freshly initialized head ``h_θ'`` and a frozen copy ``h_θ'_0`` of it are added::

    output(z) = h_θ(z) + h_θ'(z) − h_θ'_0(z)

so predictions are unchanged at injection and the number of *trainable* parameters is unchanged (one head
becomes frozen, one new head trains). The new head's parameters are added to the optimizer as a new param
group (``regularize=False``); all other parameters stay the same tensors.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


class InjectedHead(nn.Module):
    """Plasticity injection (Nikishin et al. 2023): ``h(z) + h'(z) − h'_0(z)`` with a fresh head ``h'`` and its frozen
    copy ``h'_0`` — the same outputs at injection, new trainable capacity afterwards."""
    def __init__(self, old: nn.Module, new: nn.Module, freeze_old: bool = True):
        super().__init__()
        self.old = old
        self.new = new
        self.new_frozen = copy.deepcopy(new).requires_grad_(False)
        if freeze_old:
            old.requires_grad_(False)

    def forward(self, z: Tensor) -> Tensor:
        return self.old(z) + self.new(z) - self.new_frozen(z)


def inject(parent: nn.Module, name: str, fresh_head: nn.Module, optimizer: torch.optim.Optimizer | None = None,
           freeze_old: bool = True) -> InjectedHead:
    """Replace ``parent.<name>`` (a dotted path) by an :class:`InjectedHead` around it and ``fresh_head``."""
    *path, attr = name.split(".")
    owner = parent
    for part in path:
        owner = getattr(owner, part)
    old = getattr(owner, attr)
    device = next(old.parameters()).device
    head = InjectedHead(old, fresh_head.to(device), freeze_old=freeze_old)
    setattr(owner, attr, head)
    if optimizer is not None:
        optimizer.add_param_group({"params": list(head.new.parameters()), "regularize": False})
    return head
