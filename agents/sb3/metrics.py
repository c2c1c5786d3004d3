"""Plasticity metrics of an SB3 model's policy, written to SB3's logger (TensorBoard, CSV, stdout).

``model.learn(n, callback=MetricsCallback(every=10_000))``: the callback keeps a ring buffer of recent
observations (one random sub-env per step, drawn with its own generator), and every ``every`` env steps it
computes :class:`plasticity.MetricSuite` on it and records ``plasticity/<metric>`` with ``logger.record``; SB3
writes them at its next dump (every rollout for PPO, every ``log_interval`` episodes for DQN). Measuring draws
nothing from torch's or numpy's global generators, so training with the callback is the same as without it
(tested). An SB3 actor-critic policy is probed through ``[action_net(…), value_net(…)]``, a DQN policy through
its online Q-network (:mod:`plasticity.metrics.outputs`).
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback

from plasticity.metrics import MetricSuite


class MetricsCallback(BaseCallback):
    """:param every: env steps between measurements (> 0).
    :param probe_size: observations in the probe ring buffer (>= 4).
    :param expensive_every: env steps between the expensive metrics (eNTK, Fisher, Hessian, trainability; 0: never).
    :param per_layer: also record the per-layer values (``plasticity/dormant_tau0.1/<layer>``, …).
    :param feature_layer: the hidden layer of the ``feature_*`` metrics (default: the last one the forward reaches).
    :param seed: seed of the probe's own generator.
    """

    def __init__(self, every: int = 10_000, probe_size: int = 256, expensive_every: int = 0, per_layer: bool = False,
                 feature_layer: str | None = None, seed: int = 0, verbose: int = 0):
        super().__init__(verbose)
        if every < 1:
            raise ValueError(f"MetricsCallback: every={every!r} must be >= 1")
        if probe_size < 4:
            raise ValueError(f"MetricsCallback: probe_size={probe_size!r} must be >= 4")
        if expensive_every < 0:
            raise ValueError(f"MetricsCallback: expensive_every={expensive_every!r} must be >= 0 (0: never)")
        self.every, self.probe_size, self.expensive_every = int(every), int(probe_size), int(expensive_every)
        self.per_layer, self.feature_layer = per_layer, feature_layer
        self._rng = np.random.default_rng(seed)
        self.last: dict[str, float] = {}  # the last measurement

    def _init_callback(self) -> None:
        space = self.model.observation_space
        if not isinstance(space, spaces.Box | spaces.Discrete | spaces.MultiBinary):
            raise ValueError(f"MetricsCallback: observation space {type(space).__name__} is not supported; valid "
                             "choices: Box, Discrete, MultiBinary")
        self.suite = MetricSuite(self.model.policy, feature_layer=self.feature_layer)
        self.buffer = np.zeros((self.probe_size, *space.shape), dtype=space.dtype)
        self.filled = self.cursor = 0
        self._next = self.num_timesteps + self.every
        self._next_expensive = self.num_timesteps + self.expensive_every if self.expensive_every else None

    def _on_step(self) -> bool:
        obs = self.locals.get("new_obs")
        if isinstance(obs, np.ndarray):
            self.buffer[self.cursor] = obs[self._rng.integers(len(obs))]
            self.cursor = (self.cursor + 1) % self.probe_size
            self.filled = min(self.filled + 1, self.probe_size)
        if self.num_timesteps >= self._next and self.filled >= 4:
            self._next = self.num_timesteps + self.every
            expensive = self._next_expensive is not None and self.num_timesteps >= self._next_expensive
            if expensive:
                self._next_expensive = self.num_timesteps + self.expensive_every
            self.measure(expensive)
        return True

    def measure(self, expensive: bool = False) -> dict[str, float]:
        """Compute the metrics on the probe now and record them; returns them."""
        probe = torch.as_tensor(self.buffer[: self.filled], device=self.model.device)
        if isinstance(self.model.observation_space, spaces.Box):
            probe = probe.float()
        self.last = self.suite.compute(probe, expensive=expensive)
        for key, value in self.last.items():
            if self.per_layer or "/" not in key:
                self.logger.record(f"plasticity/{key}", value)
        return self.last
