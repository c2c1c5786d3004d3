"""DQN: Stable-Baselines3's algorithm with vectorized envs, its replay buffer on the agent's device and a replay ratio.

``collect_rollouts`` is SB3's off-policy collection on tensors: ε-greedy actions drawn on the device **per env**
(SB3 draws one coin for the whole batch, so with many envs every action is random or every action greedy; with one
env the two rules are the same), transitions into :class:`DeviceReplayBuffer` with the final observation of every
episode that ended (a cut episode bootstraps, as SB3's ``handle_timeout_termination``). ``train`` is SB3's update
(optionally Double DQN); its loss is read only when a log row is written.

**Replay ratio.** ``agent.replay_ratio`` (gradient updates per env step) sets SB3's ``train_freq`` and
``gradient_steps`` for a vector of ``n_envs`` envs: ``u = replay_ratio · n_envs`` updates per vector step, i.e.
``gradient_steps = u`` every vector step when ``u ≥ 1``, one update every ``1/u`` vector steps otherwise; with the
batch size this fixes the samples replayed per env step (``replay_ratio · batch_size``; the MinAtar paper: 1 × 32).
"""

from __future__ import annotations

from typing import Any

import stable_baselines3 as sb3
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import RolloutReturn, TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.utils import get_parameters_by_name
from torch import Tensor

from agents.algorithms.base import PlasticAlgorithm
from agents.algorithms.buffers import DeviceReplayBuffer
from agents.algorithms.grad_clip import clip_grad_norm_


class DQN(PlasticAlgorithm, sb3.DQN):
    """SB3 DQN on tensors, optionally Double DQN (van Hasselt et al. 2016: the target takes the online network's
    greedy action, valued by the target network), as C-CHAIN's continual MinAtar protocol uses.

    :param double_q: False is SB3's DQN update exactly (tested parameter for parameter).
    """

    STATE_FIELDS = (*PlasticAlgorithm.STATE_FIELDS, "exploration_rate", "_n_calls", "_last_loss")

    def __init__(self, *args: Any, double_q: bool = False, **kwargs: Any):
        self.double_q = double_q
        self._last_loss: Tensor | None = None  # the last update's loss, read when a log row is written
        kwargs.setdefault("replay_buffer_class", DeviceReplayBuffer)
        super().__init__(*args, **kwargs)

    def act(self, obs: Tensor, deterministic: bool = False) -> Tensor:
        return self._epsilon_greedy(obs, 0.0 if deterministic else self.exploration_rate)

    def _epsilon_greedy(self, obs: Tensor, epsilon: float) -> Tensor:
        if epsilon <= 0:
            return self._greedy(obs)
        n = obs.shape[0]
        random = th.randint(0, int(self.action_space.n), (n,), device=obs.device)
        explore = th.rand(n, device=obs.device) < epsilon
        if not self._sync_free and bool(explore.all()):
            return random  # no env acts greedily: no forward (a host read, free on the CPU; the draws are the same)
        return th.where(explore, random, self._greedy(obs))

    def _greedy(self, obs: Tensor) -> Tensor:
        with th.no_grad():
            return self.q_net(obs).argmax(dim=1)

    def collect_rollouts(self, env, callback: BaseCallback, train_freq: TrainFreq, replay_buffer: DeviceReplayBuffer,
                         action_noise: Any = None, learning_starts: int = 0,
                         log_interval: int | None = None) -> RolloutReturn:
        if train_freq.unit != TrainFrequencyUnit.STEP:
            raise ValueError("train_freq must count env steps (the device rollout has no per-episode unit)")
        self.policy.set_training_mode(False)
        collected = 0
        callback.on_rollout_start()
        while collected < train_freq.frequency:
            if self.num_timesteps < learning_starts:
                actions = th.randint(0, int(self.action_space.n), (env.num_envs,), device=self.device)
            else:
                actions = self._epsilon_greedy(self._last_obs, self.exploration_rate)
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            collected += 1
            callback.update_locals(locals())
            if not callback.on_step():
                return RolloutReturn(collected * env.num_envs, 0, continue_training=False)
            replay_buffer.add(self._last_obs, new_obs, actions, rewards, infos.terminated, ended=dones,
                              final_obs=infos.final_obs)
            self._last_obs = new_obs
            self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
            self._on_step()
        callback.on_rollout_end()
        return RolloutReturn(collected * env.num_envs, 0, continue_training=True)

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
        self._last_loss = th.stack(losses).mean()  # read when a log row is written (record_pending), not here

    def record_pending(self) -> None:
        """Record the last ``train()``'s mean loss (SB3 logs it at every call; reading it there would make every
        update on a GPU wait for the host)."""
        if self._last_loss is not None:
            self.logger.record("train/loss", float(self._last_loss))

    def sync_target(self) -> None:
        """Copy the online network into the target network (after a switch-time change of parameters)."""
        self.policy.sync_target()
        self._create_aliases()
        self.batch_norm_stats_target = get_parameters_by_name(self.q_net_target, ["running_"])
