"""The MinAtar network (Young & Tian 2019): conv 16 × 3×3 → ReLU → linear 128 → ReLU, heads on top.

SB3 builds the heads (``action_net``/``value_net`` for PPO, ``q_net`` for DQN) on the 128 features with
``net_arch=[]``, so the whole agent is exactly the paper's network.
"""

from __future__ import annotations

import gymnasium as gym
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
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
