"""PPO and DQN: Stable-Baselines3's algorithms on the MinAtar network, built from an agent config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import stable_baselines3 as sb3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import get_parameters_by_name
from stable_baselines3.common.vec_env import VecEnv

from agents.methods import Method
from agents.networks import policy_kwargs_for
from agents.policies import PlasticActorCriticPolicy, PlasticDQNPolicy


class _PlasticAlgorithm:
    """What plasticity methods call on an agent, shared by PPO and DQN."""

    policy: Any
    policy_kwargs: dict[str, Any]

    def inject_heads(self) -> None:
        """Plasticity injection on the policy's heads, recorded so that ``load`` rebuilds the same structure."""
        self.policy.inject_heads()
        self.policy_kwargs["injections"] = self.policy.injections

    def sync_target(self) -> None:
        """Make derived copies of the trained network agree with it again (nothing to do for PPO)."""


class PPO(_PlasticAlgorithm, sb3.PPO):
    """SB3 PPO; the place for agent-level speed-ups that keep its algorithm unchanged."""


class DQN(_PlasticAlgorithm, sb3.DQN):
    """SB3 DQN; the place for agent-level speed-ups that keep its algorithm unchanged."""

    def sync_target(self) -> None:
        """Copy the online network into the target network (after a switch-time change of parameters)."""
        self.policy.sync_target()
        self._create_aliases()
        self.batch_norm_stats_target = get_parameters_by_name(self.q_net_target, ["running_"])


LR_SCHEDULES = ("constant", "linear")


def learning_rate(cfg: Mapping[str, Any]) -> float | Callable[[float], float]:
    lr, schedule = float(cfg["learning_rate"]), cfg.get("lr_schedule", "constant")
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"agent.lr_schedule={schedule!r}; valid choices: {', '.join(LR_SCHEDULES)}")
    return lr if schedule == "constant" else (lambda progress_remaining: progress_remaining * lr)


def _policy_kwargs(cfg: Mapping[str, Any], env: VecEnv, method: Method) -> dict[str, Any]:
    return dict(**policy_kwargs_for(env.observation_space, cfg.get("network")),
                optimizer_class=method.optimizer_class, optimizer_kwargs=dict(method.optimizer_kwargs),
                regularize_heads=method.regularize_heads)


PPO_KEYS = ("n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range", "ent_coef", "vf_coef",
            "max_grad_norm", "normalize_advantage", "target_kl")
DQN_KEYS = ("buffer_size", "learning_starts", "batch_size", "tau", "gamma", "train_freq", "gradient_steps",
            "target_update_interval", "exploration_initial_eps", "exploration_final_eps", "max_grad_norm",
            "optimize_memory_usage")


def _pick(cfg: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: cfg[k] for k in keys if k in cfg and cfg[k] is not None}


def make_ppo(cfg: Mapping[str, Any], env: VecEnv, method: Method, total_timesteps: int, **common: Any) -> PPO:
    policy_kwargs = _policy_kwargs(cfg, env, method)
    policy_kwargs["share_features_extractor"] = bool(cfg.get("share_features_extractor", True))
    return PPO(PlasticActorCriticPolicy, env, learning_rate=learning_rate(cfg), policy_kwargs=policy_kwargs,
               **_pick(cfg, PPO_KEYS), **common)


def make_dqn(cfg: Mapping[str, Any], env: VecEnv, method: Method, total_timesteps: int, **common: Any) -> DQN:
    # SB3 anneals epsilon over a fraction of the run; the config gives it in env steps, as the MinAtar paper does.
    fraction = min(1.0, int(cfg.get("exploration_steps", 100_000)) / max(total_timesteps, 1))
    return DQN(PlasticDQNPolicy, env, learning_rate=learning_rate(cfg), policy_kwargs=_policy_kwargs(cfg, env, method),
               exploration_fraction=fraction, **_pick(cfg, DQN_KEYS), **common)


AGENTS: dict[str, Callable[..., BaseAlgorithm]] = {"ppo": make_ppo, "dqn": make_dqn}


def make_agent(cfg: Mapping[str, Any], env: VecEnv, method: Method, total_timesteps: int, *, seed: int,
               device: str) -> BaseAlgorithm:
    name = cfg.get("name")
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; valid choices: {', '.join(AGENTS)}")
    model = AGENTS[name](cfg, env, method, total_timesteps, seed=seed, device=device, verbose=0)
    method.attach(model)
    return model
