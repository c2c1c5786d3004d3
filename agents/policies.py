"""SB3 policies whose optimizer gets param groups that mark the output heads as not regularized.

SB3 builds its optimizer as ``optimizer_class(self.parameters(), ...)``, which leaves a regularizing
optimizer no way to tell heads from hidden layers. These subclasses rebuild it from
:func:`plasticity.param_groups`, excluding ``action_net``/``value_net`` (PPO) or the last Q layer (DQN),
unless ``regularize_heads=True``. Everything else is SB3's.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

from plasticity import param_groups


def last_linear_name(module: nn.Module) -> str:
    names = [name for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(module).__name__} has no Linear layer to treat as its output head")
    return names[-1]


class _GroupedOptimizer:
    """Mixin: ``_build`` as SB3 does it, then the optimizer rebuilt with head-aware param groups."""

    regularize_heads: bool
    optimizer: Any

    def _head_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _optimized_module(self) -> nn.Module:
        return self  # type: ignore[return-value]

    def _rebuild_optimizer(self, lr_schedule: Schedule) -> None:
        exclude = () if self.regularize_heads else self._head_names()
        groups = param_groups(self._optimized_module(), exclude=exclude)
        self.optimizer = self.optimizer_class(groups, lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[attr-defined]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["regularize_heads"] = self.regularize_heads
        return data


class PlasticActorCriticPolicy(_GroupedOptimizer, ActorCriticPolicy):
    def __init__(self, *args: Any, regularize_heads: bool = False, **kwargs: Any):
        self.regularize_heads = regularize_heads
        super().__init__(*args, **kwargs)

    def _head_names(self) -> tuple[str, ...]:
        return ("action_net", "value_net")

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        self._rebuild_optimizer(lr_schedule)


class PlasticDQNPolicy(_GroupedOptimizer, DQNPolicy):
    def __init__(self, *args: Any, regularize_heads: bool = False, **kwargs: Any):
        self.regularize_heads = regularize_heads
        super().__init__(*args, **kwargs)

    def _optimized_module(self) -> nn.Module:
        return self.q_net

    def _head_names(self) -> tuple[str, ...]:
        return (last_linear_name(self.q_net),)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        self._rebuild_optimizer(lr_schedule)
