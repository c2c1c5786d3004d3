"""What :class:`~plasticity.metrics.MetricSuite` measures of a module: its outputs as one ``(N, k)`` tensor.

* A module returning a tensor is used as is.
* A Stable-Baselines3 actor-critic policy (recognized by its attributes, without importing SB3:
  ``extract_features``, ``mlp_extractor``, ``action_net``, ``value_net``) is probed through its deterministic
  outputs: ``[action_net(latent_pi), value_net(latent_vf)]`` — the action logits (or a Gaussian's mean) then the
  value. SB3's own ``forward`` samples actions, which would consume torch's global generator and make every
  metric noisy.
* An SB3 DQN policy (``q_net`` and ``q_net_target``) is probed through its online network ``q_net``.
* Any other module returning a tuple or list: its floating-point tensors, each flattened to ``(N, -1)``,
  concatenated (integer outputs such as sampled actions are left out).

The adapters present the wrapped module's parameters and submodules under their own names (a view, not a
copy), so per-layer metric names are the module's (``mlp_extractor.policy_net.0``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

_ACTOR_CRITIC = ("extract_features", "mlp_extractor", "action_net", "value_net")


class _View(nn.Module):
    """``module``'s parameters, buffers and submodules under their own names, with another ``forward``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.__dict__["wrapped"] = module  # not a submodule: names stay the module's own
        self.__dict__["_parameters"] = module._parameters
        self.__dict__["_buffers"] = module._buffers
        self.__dict__["_modules"] = module._modules


class ActorCriticOutputs(_View):
    """An SB3 actor-critic policy's action-head outputs then its value (module docstring)."""

    def forward(self, obs: Tensor) -> Tensor:
        policy = self.wrapped
        features = policy.extract_features(obs)
        if getattr(policy, "share_features_extractor", True):
            latent_pi, latent_vf = policy.mlp_extractor(features)
        else:
            latent_pi = policy.mlp_extractor.forward_actor(features[0])
            latent_vf = policy.mlp_extractor.forward_critic(features[1])
        return torch.cat([policy.action_net(latent_pi).flatten(1), policy.value_net(latent_vf).flatten(1)], dim=1)


class TupleOutputs(_View):
    """The floating-point tensors of a tuple-returning module, flattened and concatenated."""

    def forward(self, x: Tensor) -> Tensor:
        return concat_outputs(self.wrapped(x), type(self.wrapped).__name__)


def concat_outputs(out: Any, name: str) -> Tensor:
    if isinstance(out, Tensor):
        return out if out.dim() == 2 else out.reshape(out.shape[0], -1)
    parts = [t.reshape(t.shape[0], -1) for t in (out if isinstance(out, tuple | list) else ())
             if isinstance(t, Tensor) and t.is_floating_point() and t.dim() >= 1]
    if not parts:
        raise TypeError(f"MetricSuite: {name}'s forward returned {type(out).__name__} with no floating-point tensor "
                        "to measure; pass a module whose forward returns the outputs (N, k)")
    return torch.cat(parts, dim=1)


def is_actor_critic(module: nn.Module) -> bool:
    return all(hasattr(module, a) for a in _ACTOR_CRITIC)


def measured_module(module: nn.Module) -> nn.Module:
    """The module :class:`MetricSuite` measures for ``module`` (module docstring)."""
    if is_actor_critic(module):
        return ActorCriticOutputs(module)
    q_net = getattr(module, "q_net", None)
    if isinstance(q_net, nn.Module) and hasattr(module, "q_net_target"):
        return q_net
    return module
