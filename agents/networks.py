"""Networks, chosen from the observation space (``agent.network.type: auto``) or by name.

* ``minatar`` — the MinAtar network (Young & Tian 2019): conv 16 × 3×3 → ReLU → linear 128 → ReLU; SB3 builds the
  heads (``action_net``/``value_net`` for PPO, ``q_net`` for DQN) on the 128 features with ``net_arch=[]``, so the
  whole agent is exactly the paper's network. Chosen for ``(10, 10, C)`` observations.
* ``nature`` — SB3's NatureCNN (Mnih et al. 2015; 512 features) for channels-first ``uint8`` images (ALE).
* ``mlp`` — hidden layers ``hidden`` (64, 64) with ReLU on the flattened observation (classic control; also
  MinAtar, as the AdamO paper's MLP); ``separate: true`` gives the actor and the critic their own (PPO).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from torch import nn


class MinAtarCNN(BaseFeaturesExtractor):
    """Reads HWC observations (MinAtar's bool layout, cast to float by SB3) and works channels-first."""

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 128, filters: int = 16):
        height, width, channels = observation_space.shape
        super().__init__(observation_space, features_dim)
        self.cnn = nn.Sequential(nn.Conv2d(channels, filters, kernel_size=3, stride=1), nn.ReLU(), nn.Flatten())
        self.linear = nn.Sequential(nn.Linear(filters * (height - 2) * (width - 2), features_dim), nn.ReLU())

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.linear(self.cnn(observations.permute(0, 3, 1, 2)))


def minatar_policy_kwargs(features_dim: int = 128, filters: int = 16) -> dict:
    return dict(
        features_extractor_class=MinAtarCNN,
        features_extractor_kwargs=dict(features_dim=features_dim, filters=filters),
        net_arch=[],
    )


NETWORKS = ("auto", "minatar", "nature", "mlp")


def network_type(observation_space: gym.spaces.Space) -> str:
    shape = observation_space.shape or ()
    if len(shape) == 3 and shape[0] == shape[1] == 10:
        return "minatar"
    if len(shape) == 3 and observation_space.dtype == np.uint8:
        return "nature"
    if len(shape) == 1:
        return "mlp"
    raise ValueError(f"no default network for observations of shape {shape}; set agent.network.type to one of "
                     f"{', '.join(NETWORKS[1:])}")


def policy_kwargs_for(observation_space: gym.spaces.Space, network: dict | None = None) -> dict:
    """SB3 ``policy_kwargs`` (features extractor and ``net_arch``) for ``agent.network``."""
    network = dict(network or {})
    kind = network.get("type", "auto")
    if kind not in NETWORKS:
        raise ValueError(f"agent.network.type={kind!r}; valid choices: {', '.join(NETWORKS)}")
    if kind == "auto":
        kind = network_type(observation_space)
    if kind == "minatar":
        return minatar_policy_kwargs(int(network.get("features_dim", 128)), int(network.get("filters", 16)))
    if kind == "nature":
        return dict(features_extractor_class=NatureCNN, features_extractor_kwargs=dict(features_dim=512),
                    net_arch=[])
    hidden = [int(h) for h in network.get("hidden", (64, 64))]
    arch = dict(pi=hidden, vf=list(hidden)) if network.get("separate", False) else hidden
    return dict(net_arch=arch, activation_fn=nn.ReLU)
