"""Plasticity metrics during training (``plasticity.metrics``) on a probe batch of recent observations.

The probe is a ring buffer of observations seen during training (a couple of random sub-envs per step).
Every ``every`` env steps the next optimizer step is captured: right before it, gradient norms (l2, l1, l0)
and the outputs on the probe; right after it, the update size and the churn (C-CHAIN) it caused; then the
cheap metrics (dormant ratios, FAU, feature ranks, weight spectra, isometry gap, …). At every task switch
(before the switch actions: the network as it ended the old task) and at the end the expensive ones are added
(eNTK, empirical Fisher, Hessian srank, trainability, end-to-end Jacobian). Rows go to ``plasticity.csv``
(long format: ``step, task_visit, task_name, when, metric, value``, appended and flushed) and TensorBoard
(``plasticity/<metric>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import TensorBoardOutputFormat

from agents.algorithms.buffers import torch_dtype
from agents.algorithms.vec_env import unwrap
from agents.callbacks.settings import MetricsConfig
from agents.run.layout import RunDir
from agents.run.logs import CSVLog
from agents.tasks import TaskInfo
from plasticity.metrics import MetricSuite, churn, gradient_norms, update_size
from plasticity.metrics.jacobian import output_module

PLASTICITY_COLUMNS = ("step", "task_visit", "task_name", "when", "metric", "value")


class PlasticityMetrics(BaseCallback):
    def __init__(self, run_dir: str | Path, config: MetricsConfig | None = None, seed: int = 0):
        super().__init__()
        config = config or MetricsConfig()
        self.run_dir = Path(run_dir)
        self.every, self.probe_size = config.every, config.probe_size
        self.expensive_at_switch, self.expensive_every = config.expensive_at_switch, config.expensive_every
        self.suite_options = config.suite_options()
        self._rng = np.random.default_rng(seed)
        self._pending = False
        self._captured: dict[str, Any] = {}
        self._last = self._last_expensive = 0

    # -- setup --------------------------------------------------------------------------------------------
    def _on_training_start(self) -> None:
        policy = self.model.policy
        space = self.model.action_space  # the action columns of the outputs: logits / Q-values, or a Gaussian's mean
        self.discrete = isinstance(space, gym.spaces.Discrete)
        self.n_actions = int(space.n) if self.discrete else int(np.prod(space.shape))
        self.suite = MetricSuite(output_module(policy.outputs, policy.trained_module()), **self.suite_options)
        space = self.model.observation_space
        self.buffer = torch.zeros((self.probe_size, *space.shape), dtype=torch_dtype(space), device=self.model.device)
        self.filled = self.cursor = 0
        self.log = CSVLog(RunDir(self.run_dir).log("plasticity"), PLASTICITY_COLUMNS)
        self.env = unwrap(self.model.get_env())
        self._handles = [policy.optimizer.register_step_pre_hook(self._before_step),
                         policy.optimizer.register_step_post_hook(self._after_step)]
        self._last = self._last_expensive = self.num_timesteps
        resume = getattr(self, "_resume", None)
        if resume is not None:
            self.buffer.copy_(torch.as_tensor(resume["buffer"]))
            self.cursor, self.filled = resume["cursor"], resume["filled"]
            self._rng.bit_generator.state = resume["rng"]
            self._last, self._last_expensive = resume["last"], resume["last_expensive"]
            self._pending = resume["pending"]
            self.suite.initial = {k: t.to(self.model.device) for k, t in resume["initial"].items()}

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.cpu(), "cursor": self.cursor, "filled": self.filled,
                "rng": self._rng.bit_generator.state, "last": self._last, "last_expensive": self._last_expensive,
                "pending": self._pending, "initial": {k: t.cpu() for k, t in self.suite.initial.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = state

    def probe(self) -> torch.Tensor:
        return self.buffer[: self.filled].float()

    # -- collection and cadence -----------------------------------------------------------------------------
    def _on_step(self) -> bool:
        obs = self.locals.get("new_obs")
        if obs is not None:  # two random envs' observations per step (device copies; the indices are drawn here)
            for i in self._rng.choice(len(obs), size=min(2, len(obs)), replace=False):
                self.buffer[self.cursor] = obs[int(i)]
                self.cursor = (self.cursor + 1) % self.probe_size
                self.filled = min(self.filled + 1, self.probe_size)
        if self.every and self.num_timesteps - self._last >= self.every and self.filled >= min(64, self.probe_size):
            self._pending = True
        return True

    def _outputs(self) -> torch.Tensor:
        with torch.no_grad():
            return self.suite.outputs(self.probe())

    def _before_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self._pending:
            return
        params = [p for g in optimizer.param_groups for p in g["params"]]
        self._captured = {"grads": gradient_norms([p.grad for p in params if p.grad is not None]),
                          "params": [p.detach().clone() for p in params], "outputs": self._outputs()}

    def _after_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if not self._pending or not self._captured:
            return
        self._pending = False
        params = [p.detach() for g in optimizer.param_groups for p in g["params"]]
        extra = {**self._captured["grads"], **update_size(self._captured["params"], params),
                 **churn(self._captured["outputs"], self._outputs(), actions=slice(0, self.n_actions))}
        if not self.discrete:
            extra.pop("policy_churn")  # a greedy action is the argmax of discrete outputs only
        self._captured = {}
        since = self.model.num_timesteps - self._last_expensive
        expensive = bool(self.expensive_every) and since >= self.expensive_every
        self.record("periodic", self.env.task, extra, expensive)

    def on_switch(self, old: TaskInfo, new: TaskInfo, step: int) -> None:
        if self.filled:
            self.record("switch", old, {}, self.expensive_at_switch)

    def _on_training_end(self) -> None:
        for handle in self._handles:
            handle.remove()
        if self.filled:
            self.record("final", self.env.task, {}, True)
        self.log.close()

    # -- output ---------------------------------------------------------------------------------------------
    def record(self, when: str, task: TaskInfo, extra: dict[str, float], expensive: bool) -> dict[str, float]:
        step = self.model.num_timesteps
        self._last = step
        if expensive:
            self._last_expensive = step
        values = {**self.suite.compute(self.probe(), expensive=expensive), **extra}
        tb = [f for f in self.logger.output_formats if isinstance(f, TensorBoardOutputFormat)]
        for name, value in values.items():
            self.log.append({"step": step, "task_visit": task.visit, "task_name": task.name, "when": when,
                             "metric": name, "value": value})
            for fmt in tb:
                fmt.writer.add_scalar(f"plasticity/{name}", value, step)
        return values
