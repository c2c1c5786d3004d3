"""PPO: Stable-Baselines3's algorithm with its rollout and its buffer on the agent's device.

``collect_rollouts`` is SB3's, step for step, on tensors: the policy acts on the observation tensor the env handed
out, the env takes the action tensor, the transition goes into :class:`DeviceRolloutBuffer` — nothing crosses to
the host except what the callbacks ask for. Episodes cut by a time limit or a task switch are bootstrapped as SB3
does (``r ← r + γ·V(s_final)``), batched (on CUDA over every env with a mask, so nothing synchronizes; on the CPU
over the cut ones only). ``train`` is SB3's update line for line; its statistics are summed on the device and read
once at the end (SB3 reads five numbers per minibatch), except that ``target_kl`` needs one read per minibatch.

Four options, off by default, give the loss of PureJaxRL and of the AdamO authors' rejax
(``src/rejax/algos/ppo.py``: ``update_actor``, ``update_critic``, ``collect_trajectories``):

* ``value_clip=ε`` — ``L_V = mean(max((V − R)², (V_old + clip(V − V_old, −ε, ε) − R)²))`` (PPO2's clipped value
  loss; rejax ε = clip_eps = 0.2). SB3's own ``clip_range_vf`` uses the clipped error only.
* ``value_loss_half`` — the value term is ``vf_coef·½·L_V`` (rejax, PureJaxRL); SB3's is ``vf_coef·L_V``.
* ``grad_clip_per_network`` — the actor's and the critic's gradients are each clipped to ``max_grad_norm`` (rejax
  trains them as two TrainStates, each with ``optax.clip_by_global_norm``); SB3 clips their joint norm.
* ``truncation_as_terminal`` — an episode cut by its step cap is a terminal (gymnax's ``done``: rejax's GAE stops
  there, no bootstrap); SB3 bootstraps it with ``r + γ·V(s_final)``. Cuts at a task switch stay bootstrapped.

``clip_actions=False`` hands a Gaussian policy's sample to the env unclipped (Dohare et al.'s PPO; SB3 clips it to
the action space).
"""

from __future__ import annotations

import stable_baselines3 as sb3
import torch
import torch.nn.functional as F
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from torch import Tensor

from agents.algorithms.base import PlasticAlgorithm
from agents.algorithms.grad_clip import clip_grad_norm_
from agents.algorithms.vec_env import StepInfo, unwrap


def _switched(env) -> bool:
    """The step just taken switched tasks (its cuts are the switch's, not episode caps)."""
    return bool(getattr(unwrap(env), "task_switched", False))


CRITIC_PREFIXES = ("value_net.", "mlp_extractor.value_net.", "vf_features_extractor.")
ACTOR_PREFIXES = ("action_net.", "mlp_extractor.policy_net.", "pi_features_extractor.", "log_std")


class PPO(PlasticAlgorithm, sb3.PPO):
    """SB3's PPO on the device, with the loss-parity options of the module docstring (all off: SB3's PPO)."""

    def __init__(self, *args, value_clip: float | None = None, value_loss_half: bool = False,
                 grad_clip_per_network: bool = False, truncation_as_terminal: bool = False, clip_actions: bool = True,
                 **kwargs):
        if value_clip is not None and not value_clip > 0:
            raise ValueError(f"value_clip={value_clip!r} must be > 0 or None")
        self.value_clip = None if value_clip is None else float(value_clip)
        self.value_loss_half = bool(value_loss_half)
        self.grad_clip_per_network = bool(grad_clip_per_network)
        self.truncation_as_terminal = bool(truncation_as_terminal)
        self.clip_actions = bool(clip_actions)
        super().__init__(*args, **kwargs)

    def clip_groups(self) -> list[list[torch.nn.Parameter]]:
        """The parameter groups whose gradient norms are clipped one by one: the actor's and the critic's with
        ``grad_clip_per_network``, else all of them together (SB3)."""
        parameters = [p for group in self.policy.optimizer.param_groups for p in group["params"]]
        if not self.grad_clip_per_network:
            return [parameters]
        owners = {id(p): n for n, p in self.policy.named_parameters()}
        actor, critic = [], []
        for p in parameters:
            name = owners.get(id(p), "")
            if name.startswith(CRITIC_PREFIXES):
                critic.append(p)
            elif name.startswith(ACTOR_PREFIXES):
                actor.append(p)
            else:
                raise ValueError(f"grad_clip_per_network needs separate actor and critic networks; {name!r} is "
                                 "shared (agent.network.separate=true with an MLP)")
        return [actor, critic]
    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        with torch.no_grad():
            return self.policy._predict(obs, deterministic=deterministic)

    def _env_actions(self, actions: Tensor) -> Tensor:
        if isinstance(self.action_space, spaces.Box) and self.clip_actions:
            low = torch.as_tensor(self.action_space.low, device=actions.device)
            high = torch.as_tensor(self.action_space.high, device=actions.device)
            if self.policy.squash_output:
                return low + 0.5 * (actions + 1.0) * (high - low)
            return torch.maximum(torch.minimum(actions, high), low)
        return actions

    def _bootstrap(self, rewards: Tensor, info: StepInfo) -> Tensor:
        """SB3's ``r ← r + γ·V(final observation)`` for the episodes cut in this step (issue #633)."""
        with torch.no_grad():
            if self._sync_free:  # fixed shapes, no host read (plasticity.sync)
                values = self.policy.predict_values(info.final_obs).flatten()
                return torch.where(info.truncated, rewards + self.gamma * values, rewards)
            cut = info.truncated.nonzero().squeeze(1)
            if cut.numel() == 0:
                return rewards
            rewards = rewards.clone()
            rewards[cut] += self.gamma * self.policy.predict_values(info.final_obs[cut]).flatten()
            return rewards

    def collect_rollouts(self, env, callback: BaseCallback, rollout_buffer: RolloutBuffer,
                         n_rollout_steps: int) -> bool:
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()
        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            with torch.no_grad():
                actions, values, log_probs = self.policy(self._last_obs)
            new_obs, rewards, dones, infos = env.step(self._env_actions(actions))
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            n_steps += 1
            if infos.may_truncate and not (self.truncation_as_terminal and not _switched(env)):
                rewards = self._bootstrap(rewards, infos)
            rollout_buffer.add(self._last_obs, actions, rewards, self._last_episode_starts, values, log_probs)
            self._last_obs, self._last_episode_starts = new_obs, dones
        with torch.no_grad():
            values = self.policy.predict_values(new_obs)
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def train(self) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        clip_range_vf = None if self.clip_range_vf is None else self.clip_range_vf(self._current_progress_remaining)
        clip_groups = self.clip_groups()
        # sums over minibatches, on the device: entropy loss, policy loss, value loss, clip fraction
        sums, batches = torch.zeros(4, dtype=torch.float64, device=self.device), 0
        continue_training = True
        for epoch in range(self.n_epochs):
            kl_sum, kl_batches = torch.zeros((), dtype=torch.float64, device=self.device), 0
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = rollout_data.actions.long().flatten()
                values, log_prob, entropy = self.policy.evaluate_actions(rollout_data.observations, actions)
                values = values.flatten()
                advantages = rollout_data.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = torch.exp(log_prob - rollout_data.old_log_prob)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -torch.min(policy_loss_1, policy_loss_2).mean()
                clip_fraction = torch.mean((torch.abs(ratio - 1) > clip_range).float())
                if self.value_clip is not None:  # PPO2 / PureJaxRL / rejax: the larger of the two errors
                    clipped = rollout_data.old_values + torch.clamp(values - rollout_data.old_values,
                                                                    -self.value_clip, self.value_clip)
                    value_loss = torch.maximum((values - rollout_data.returns).square(),
                                               (clipped - rollout_data.returns).square()).mean()
                else:
                    if clip_range_vf is None:
                        values_pred = values
                    else:
                        values_pred = rollout_data.old_values + torch.clamp(values - rollout_data.old_values,
                                                                            -clip_range_vf, clip_range_vf)
                    value_loss = F.mse_loss(rollout_data.returns, values_pred)
                if self.value_loss_half:
                    value_loss = 0.5 * value_loss
                entropy_loss = -torch.mean(-log_prob) if entropy is None else -torch.mean(entropy)
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                with torch.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = torch.mean((torch.exp(log_ratio) - 1) - log_ratio)
                    sums += torch.stack([entropy_loss, policy_loss, value_loss, clip_fraction]).double()
                    kl_sum += approx_kl_div.double()
                batches, kl_batches = batches + 1, kl_batches + 1
                if self.target_kl is not None and float(approx_kl_div) > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {float(approx_kl_div):.2f}")
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                for group in clip_groups:
                    clip_grad_norm_(group, self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        values, returns = self.rollout_buffer.values.flatten().double(), self.rollout_buffer.returns.flatten().double()
        var_returns = returns.var(unbiased=False)
        explained = 1 - (returns - values).var(unbiased=False) / var_returns
        entropy_mean, pg_mean, value_mean, clip_mean = (sums / batches).tolist()  # the one read of the update
        record = self.logger.record
        record("train/entropy_loss", entropy_mean)
        record("train/policy_gradient_loss", pg_mean)
        record("train/value_loss", value_mean)
        record("train/approx_kl", float(kl_sum / kl_batches))
        record("train/clip_fraction", clip_mean)
        record("train/loss", float(loss.detach()))
        record("train/explained_variance", float("nan") if float(var_returns) == 0 else float(explained))
        if hasattr(self.policy, "log_std"):
            record("train/std", torch.exp(self.policy.log_std).mean().item())
        record("train/n_updates", self._n_updates, exclude="tensorboard")
        record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            record("train/clip_range_vf", clip_range_vf)
