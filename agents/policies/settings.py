"""The ``agent.network`` section: which network the agent's policy gets (agents/policies/networks.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from agents.settings import Section


class NetworkConfig(Section):
    """The policy network. ``auto``: the MinAtar CNN for (10, 10, C) observations, NatureCNN for Atari frames, an
    MLP for vectors."""

    type: Literal["auto", "minatar", "nature", "mlp"] = "auto"
    features_dim: int = Field(128, ge=1, description="MinAtar CNN: width of its linear layer")
    filters: int = Field(16, ge=1, description="MinAtar CNN: channels of its conv layer")
    hidden: list[int] = Field([64, 64], description="MLP: hidden layer widths")
    activation: Literal["relu", "tanh", "groupsort"] = Field(
        "relu", description="MLP: groupsort is MaxMin, the AdamO authors' isometric network")
    bias: bool = Field(True, description="MLP: false removes every Linear layer's bias, heads included (the "
                                          "authors' AdamO arm)")
    separate: bool = Field(False, description="MLP: separate actor and critic networks (PPO)")
    init: Literal["orthogonal", "lecun"] = Field(
        "orthogonal", description="orthogonal: SB3's (PPO) / torch's (DQN) init; lecun: every Linear layer "
                                  "U(±√(3/fan_in)), biases 0 (Dohare et al.'s PPO)")

    @model_validator(mode="after")
    def _consistent(self) -> NetworkConfig:
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden={self.hidden}: must be a list of layer widths >= 1")
        if (self.activation != "relu" or not self.bias) and self.type != "mlp":
            raise ValueError(f"type={self.type!r}: must be mlp for network.activation and network.bias (the CNN "
                             "presets have their own layers)")
        if self.activation == "groupsort" and any(h % 2 for h in self.hidden):
            raise ValueError(f"hidden={self.hidden}: GroupSort pairs units: widths must be even")
        return self
