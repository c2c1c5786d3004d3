"""The ``agent`` section: PPO (:class:`PPOConfig`) or DQN (:class:`DQNConfig`), chosen by ``agent.name``.

PPO's defaults follow PureJaxRL/pgx MinAtar PPO (γ 0.99, GAE λ 0.95, clip 0.2, entropy 0.01, value 0.5, grad-norm
0.5, Adam ε 1e-5, 128-step rollouts) and the AdamO paper's lr 2.5e-4, with 64 in-process envs (the fastest setting
on a 2-core CPU, docs/performance.md). DQN's are the MinAtar paper's cadence (one env, one update of batch 32 per
step, target copy every 1000 steps, ε 1 → 0.1 over the first 100k steps, replay 100k, learning starts 5k) with
C-CHAIN's Adam (lr 3e-4, torch's ε) instead of the paper's RMSProp. docs/agents.md has the sources.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from agents.algorithms.schedule import replay_schedule
from agents.policies.settings import NetworkConfig
from agents.settings import Section


class _Agent(Section):
    learning_rate: float = Field(gt=0.0)
    lr_schedule: Literal["constant", "linear"] = Field(
        "constant", description="linear decays to 0 at total_timesteps; continual runs have no natural end")
    gamma: float = Field(0.99, ge=0.0, le=1.0)
    adam_eps: float = Field(gt=0.0, description="Adam's ε, given to every method's optimizer (method.eps)")
    fused_optimizer: bool = Field(True, description="torch's fused Adam kernel: the same update up to float "
                                                    "rounding, ≈ 2.7× faster on CPU")
    network: NetworkConfig = Field(default_factory=NetworkConfig)


class NormalizeConfig(Section):
    """SB3 ``VecNormalize``'s scaling for the agent's inputs (agents/algorithms/normalize.py has the formulas);
    logged, evaluated and reported returns stay raw. Off by default: MinAtar and Dohare et al.'s PPO use none."""

    observations: bool = Field(False, description="(obs − running mean) / running std, clipped to ±clip; vector "
                               "observations only (not ALE's uint8 frames)")
    rewards: bool = Field(False, description="reward / running std of the discounted return, clipped to ±clip")
    clip: float = Field(10.0, gt=0.0)


class PPOConfig(_Agent):
    """PPO (agents/algorithms/ppo.py), with SB3's PPO options and the loss-parity options of that module."""

    name: Literal["ppo"] = "ppo"
    n_envs: int = Field(64, ge=1)
    learning_rate: float = Field(2.5e-4, gt=0.0)
    n_steps: int = Field(128, ge=1, description="rollout length per env: n_steps × n_envs samples per update")
    batch_size: int = Field(512, ge=1, description="minibatch size")
    n_epochs: int = Field(4, ge=1)
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0)
    clip_range: float = Field(0.2, gt=0.0)
    ent_coef: float = Field(0.01, ge=0.0)
    vf_coef: float = Field(0.5, ge=0.0)
    max_grad_norm: float = Field(0.5, gt=0.0)
    normalize_advantage: bool = True
    target_kl: float | None = Field(None, gt=0.0)
    adam_eps: float = Field(1e-5, gt=0.0)
    share_features_extractor: bool = True
    value_clip: float | None = Field(None, gt=0.0, description="ε of the clipped value loss max((V−R)², (V_old + "
                                     "clip(V − V_old, ±ε) − R)²) (PPO2, PureJaxRL, rejax: 0.2); null: plain MSE")
    value_loss_half: bool = Field(False, description="the value term is vf_coef·½·MSE (PureJaxRL, rejax)")
    grad_clip_per_network: bool = Field(False, description="clip the actor's and the critic's gradients to "
                                        "max_grad_norm each (rejax); needs network.separate")
    truncation_as_terminal: bool = Field(False, description="an episode cut by its step cap ends as a terminal, "
                                         "unbootstrapped (gymnax's done)")
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    clip_actions: bool = Field(True, description="continuous actions: clip to the action space before the env "
                               "(SB3); false hands the Gaussian sample as it is (Dohare et al.: the env's control "
                               "cost sees it unclipped, MuJoCo clamps what it applies)")

    @model_validator(mode="after")
    def _consistent(self) -> PPOConfig:
        if self.batch_size > self.n_steps * self.n_envs:
            raise ValueError(f"batch_size={self.batch_size}: must be <= n_steps × n_envs = "
                             f"{self.n_steps * self.n_envs}")
        if self.grad_clip_per_network and not self.network.separate:
            raise ValueError("grad_clip_per_network=True: needs separate actor and critic networks "
                             "(agent.network.separate=true)")
        return self


class DQNConfig(_Agent):
    """DQN (agents/algorithms/dqn.py), with SB3's DQN options, Double DQN and a replay ratio."""

    name: Literal["dqn"] = "dqn"
    n_envs: int = Field(1, ge=1)
    learning_rate: float = Field(3e-4, gt=0.0)
    buffer_size: int = Field(100_000, ge=1)
    learning_starts: int = Field(5000, ge=0)
    batch_size: int = Field(32, ge=1)
    tau: float = Field(1.0, gt=0.0, le=1.0)
    train_freq: int = Field(1, ge=1, description="vector steps between training phases")
    gradient_steps: int = Field(1, ge=1, description="updates per training phase")
    replay_ratio: float | None = Field(None, gt=0.0, description="gradient updates per env step (sets train_freq "
                                       "and gradient_steps for n_envs envs)")
    target_update_interval: int = Field(1000, ge=1)
    exploration_initial_eps: float = Field(1.0, ge=0.0, le=1.0)
    exploration_final_eps: float = Field(0.1, ge=0.0, le=1.0)
    exploration_steps: int = Field(100_000, ge=1, description="env steps over which ε decays")
    max_grad_norm: float = Field(10.0, gt=0.0)
    optimize_memory_usage: Literal[False] = Field(False, description="not offered: the device replay buffer keeps "
                                                  "observations in their own dtype (bool for MinAtar)")
    double_q: bool = Field(False, description="Double DQN targets (C-CHAIN's protocol)")
    adam_eps: float = Field(1e-8, gt=0.0)

    @model_validator(mode="after")
    def _consistent(self) -> DQNConfig:
        if self.network.separate:
            raise ValueError("network.separate=True: is for PPO (actor and critic); DQN has one network")
        if self.replay_ratio is not None:
            try:
                replay_schedule(self.replay_ratio, self.n_envs)
            except ValueError as err:
                raise ValueError(f"replay_ratio={self.replay_ratio!r}: {str(err).split(': ', 1)[-1]}") from None
        return self


AgentConfig = Annotated[PPOConfig | DQNConfig, Field(discriminator="name")]
