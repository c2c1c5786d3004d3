"""PPO and DQN: Stable-Baselines3's algorithms on the MinAtar network, built from an agent config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import stable_baselines3 as sb3
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.utils import get_parameters_by_name
from stable_baselines3.common.vec_env import VecEnv

from agents.algorithms.grad_clip import clip_grad_norm_
from agents.methods import Method
from agents.policies.networks import policy_kwargs_for
from agents.policies.plastic import PlasticActorCriticPolicy, PlasticDQNPolicy


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
    """SB3 DQN, optionally Double DQN (van Hasselt et al. 2016: the target takes the online network's greedy
    action, valued by the target network), as C-CHAIN's continual MinAtar protocol uses.

    :param double_q: False is SB3's DQN update exactly (tested parameter for parameter).
    """

    def __init__(self, *args: Any, double_q: bool = False, **kwargs: Any):
        self.double_q = double_q
        super().__init__(*args, **kwargs)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        # What the optimizer trains is every parameter that gets a gradient (the target network gets none), so
        # the clipped set is SB3's ``policy.parameters()`` without a walk of the module tree per update.
        parameters = [p for group in self.policy.optimizer.param_groups for p in group["params"]]
        for _ in range(gradient_steps):
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discounts = data.discounts if data.discounts is not None else self.gamma
            with th.no_grad():
                next_q = self.q_net_target(data.next_observations)
                if self.double_q:
                    next_q = next_q.gather(1, self.q_net(data.next_observations).argmax(dim=1, keepdim=True))
                else:
                    next_q = next_q.max(dim=1).values.reshape(-1, 1)
                target = data.rewards + (1 - data.dones) * discounts * next_q
            current = th.gather(self.q_net(data.observations), dim=1, index=data.actions.long())
            loss = F.smooth_l1_loss(current, target)
            losses.append(loss.detach())
            self.policy.optimizer.zero_grad()
            loss.backward()
            clip_grad_norm_(parameters, self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(th.stack(losses).mean()))

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


def _optimizer_kwargs(cfg: Mapping[str, Any], method: Method) -> dict[str, Any]:
    """The method's optimizer arguments; Adam-family optimizers get torch's fused kernel (``agent.fused_optimizer``).

    The fused kernel computes the same Adam update in one pass over each tensor (it differs from the for-loop
    kernel only by float rounding; tests/test_speedups.py) and is ≈ 2.7× faster on CPU for the MinAtar network
    (310 → 113 µs per step, 1 thread), which matters most to DQN's one update per env step.
    """
    kwargs = dict(method.optimizer_kwargs)
    if cfg.get("fused_optimizer", True) and issubclass(method.optimizer_class, th.optim.Adam):
        kwargs.setdefault("fused", True)
    return kwargs


def _policy_kwargs(cfg: Mapping[str, Any], env: VecEnv, method: Method) -> dict[str, Any]:
    return dict(**policy_kwargs_for(env.observation_space, cfg.get("network")),
                optimizer_class=method.optimizer_class, optimizer_kwargs=_optimizer_kwargs(cfg, method),
                regularize_heads=method.regularize_heads)


PPO_KEYS = ("n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range", "ent_coef", "vf_coef",
            "max_grad_norm", "normalize_advantage", "target_kl")
DQN_KEYS = ("buffer_size", "learning_starts", "batch_size", "tau", "gamma", "train_freq", "gradient_steps",
            "target_update_interval", "exploration_initial_eps", "exploration_final_eps", "max_grad_norm",
            "optimize_memory_usage", "double_q")


def _pick(cfg: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: cfg[k] for k in keys if k in cfg and cfg[k] is not None}


def make_ppo(cfg: Mapping[str, Any], env: VecEnv, method: Method, total_timesteps: int, **common: Any) -> PPO:
    policy_kwargs = _policy_kwargs(cfg, env, method)
    policy_kwargs["share_features_extractor"] = bool(cfg.get("share_features_extractor", True))
    return PPO(PlasticActorCriticPolicy, env, learning_rate=learning_rate(cfg), policy_kwargs=policy_kwargs,
               **_pick(cfg, PPO_KEYS), **common)


def make_dqn(cfg: Mapping[str, Any], env: VecEnv, method: Method, total_timesteps: int, **common: Any) -> DQN:
    if (cfg.get("network") or {}).get("separate"):
        raise ValueError("agent.network.separate=True is for actor-critic agents; DQN has one network")
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
