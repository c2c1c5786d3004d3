"""Networks, chosen from the observation space (``agent.network.type: auto``) or by name.

* ``minatar`` — the MinAtar network (Young & Tian 2019): conv 16 × 3×3 → ReLU → linear 128 → ReLU; SB3 builds the
  heads (``action_net``/``value_net`` for PPO, ``q_net`` for DQN) on the 128 features with ``net_arch=[]``, so the
  whole agent is exactly the paper's network. Chosen for ``(10, 10, C)`` observations.
* ``nature`` — SB3's NatureCNN (Mnih et al. 2015; 512 features) for channels-first ``uint8`` images (ALE).
* ``mlp`` — hidden layers ``hidden`` (64, 64) with ReLU on the flattened observation (classic control; also
  MinAtar, as the AdamO paper's MLP); ``separate: true`` gives the actor and the critic their own (PPO).
"""

from __future__ import annotations

from collections.abc import Mapping

import gymnasium as gym
import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from torch import nn

from agents.policies.settings import NetworkConfig
from plasticity import GroupSort


class FeatureMapLinear(nn.Linear):
    """``nn.Linear`` on a conv feature map flattened in NCHW order, the order of its weight's columns.

    A channels-last map (what a conv on a permuted HWC input gives) is not flattened by a copy: the weight is
    permuted to the map's memory order instead, ``y = x_NHWC · P(W)ᵀ + b`` with ``P(W)[o, (h, w, c)] =
    W[o, (c, h, w)]`` — the same sum over the same products, in another order (float rounding aside). The
    caller picks the cheaper copy (the weight when the batch is larger than ``out_features``); the parameter,
    its gradient and every column index that unit methods and metrics use stay in NCHW order.
    """

    def forward(self, x: th.Tensor) -> th.Tensor:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=th.channels_last):
            n, c, h, w = x.shape
            weight = self.weight.view(-1, c, h, w).permute(0, 2, 3, 1).reshape(self.out_features, -1)
            return F.linear(x.permute(0, 2, 3, 1).reshape(n, -1), weight, self.bias)
        return super().forward(x.flatten(1))


class MinAtarCNN(BaseFeaturesExtractor):
    """The MinAtar network's torso, ``relu(W · flatten(relu(conv(x))) + b)``, on HWC observations (MinAtar's
    bool layout, cast to float by SB3).

    The conv reads the permuted input, so its output is channels-last, and flattening it in the order of the
    linear weight's columns (NCHW) needs a copy of either the activations or the weight; the smaller one is
    copied:

    * batch > ``features_dim`` (PPO's minibatches of 512): the weight (:class:`FeatureMapLinear`), equal to the
      paper's order up to float rounding (tested); a PPO ``train()`` on the same rollout took 0–9 % less than
      with the paper's order written plainly (1 thread; the runs are in docs/performance.md);
    * smaller batches (acting, DQN's 32): the activations, with the ReLU after the copy — bit for bit the
      paper's numbers (element-wise ops commute with a copy; tested), and its backward runs on one layout.

    Module names and state-dict keys are the paper order's (``cnn.0``, ``linear.0``).
    """

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 128, filters: int = 16):
        height, width, channels = observation_space.shape
        super().__init__(observation_space, features_dim)
        self.cnn = nn.Sequential(nn.Conv2d(channels, filters, kernel_size=3, stride=1), nn.ReLU())
        self.linear = nn.Sequential(FeatureMapLinear(filters * (height - 2) * (width - 2), features_dim), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        conv, relu = self.cnn
        maps = conv(observations.permute(0, 3, 1, 2))
        if maps.shape[0] <= self.features_dim:
            maps = maps.flatten(1)
        return self.linear(relu(maps))


def minatar_policy_kwargs(features_dim: int = 128, filters: int = 16) -> dict:
    return dict(
        features_extractor_class=MinAtarCNN,
        features_extractor_kwargs=dict(features_dim=features_dim, filters=filters),
        net_arch=[],
    )


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "groupsort": GroupSort}  # MLP activations (agent.network)


def network_type(observation_space: gym.spaces.Space) -> str:
    """The network ``auto`` picks for an observation space."""
    shape = observation_space.shape or ()
    if len(shape) == 3 and shape[0] == shape[1] == 10:
        return "minatar"
    if len(shape) == 3 and observation_space.dtype == np.uint8:
        return "nature"
    if len(shape) == 1:
        return "mlp"
    raise ValueError(f"no default network for observations of shape {shape}; set agent.network.type to minatar, "
                     "nature or mlp")


def policy_kwargs_for(observation_space: gym.spaces.Space, network: NetworkConfig | Mapping | None = None) -> dict:
    """SB3 ``policy_kwargs`` (features extractor and ``net_arch``) for ``agent.network`` (checked by its schema)."""
    net = network if isinstance(network, NetworkConfig) else NetworkConfig.model_validate(dict(network or {}))
    kind = network_type(observation_space) if net.type == "auto" else net.type
    if kind != "mlp" and (net.activation != "relu" or not net.bias):
        raise ValueError(f"agent.network.activation/bias apply to type=mlp networks, not {kind!r}")
    if kind == "minatar":
        return minatar_policy_kwargs(net.features_dim, net.filters)
    if kind == "nature":
        return dict(features_extractor_class=NatureCNN, features_extractor_kwargs=dict(features_dim=512),
                    net_arch=[])
    arch = dict(pi=list(net.hidden), vf=list(net.hidden)) if net.separate else list(net.hidden)
    return dict(net_arch=arch, activation_fn=ACTIVATIONS[net.activation], bias=net.bias)
