"""Split a model's parameters into optimizer param groups that say what a regularizer may touch.

Every group carries a ``regularize`` flag. Regularizers in :mod:`plasticity.optim` act only on groups with
``regularize=True``; plain torch optimizers ignore the extra key, so the same groups work with
``torch.optim.Adam``. Output heads are the usual thing to exclude: an isometric or shrunk output layer is
harmful in RL, where value scales differ by orders of magnitude between tasks
(Rosseau et al. 2026 exclude output layers; so do their rejax and nanochat code).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn


def module_names(model: nn.Module) -> list[str]:
    """Names accepted by ``exclude``: every named sub-module that owns parameters."""
    return [name for name, m in model.named_modules() if name and any(True for _ in m.parameters())]


def param_groups(model: nn.Module, exclude: Iterable[str] = (), **options: Any) -> list[dict[str, Any]]:
    """``[{"params": kept, "regularize": True}, {"params": excluded, "regularize": False}]``.

    :param exclude: names of sub-modules (as in ``model.named_modules()``) whose parameters are trained
        but never regularized, e.g. ``("action_net", "value_net")`` for an SB3 actor-critic.
    :param options: extra per-group optimizer options (``lr``, ``weight_decay``...) copied to both groups.
    :raises ValueError: when a name in ``exclude`` is not a sub-module of ``model``.
    """
    modules = dict(model.named_modules())
    exclude = tuple(exclude)
    for name in exclude:
        if name not in modules or not name:
            raise ValueError(f"unknown module name {name!r} in exclude; valid names: {', '.join(module_names(model))}")
    excluded = {id(p) for name in exclude for p in modules[name].parameters()}
    kept = [p for p in model.parameters() if id(p) not in excluded]
    dropped = [p for p in model.parameters() if id(p) in excluded]
    groups = [{"params": kept, "regularize": True, **options}]
    if dropped:
        groups.append({"params": dropped, "regularize": False, **options})
    return groups
