"""Evaluate the current policy on every task of the curriculum, on separate env instances with fixed seeds.

The env supplies the per-task eval envs (``make_eval_envs(num_envs)`` on the curriculum; see
``envs.curriculum``), built anew for every evaluation: an evaluation must not depend on the previous one (a
MinAtar env remembers its last action for sticky repeats), or a resumed run would evaluate differently. An
evaluation runs each task's env from the same seeds every time until ``episodes``
episodes have finished or ``max_steps`` vector steps have passed (episodes cut by that cap are not counted),
and appends one row per task to ``eval.csv``::

    step, task_visit, eval_task_id, eval_task_name, episodes, return_mean, return_std, length_mean

It runs at every task switch (before the first step of the new task, i.e. the policy at the end of the
old one), every ``every`` env steps, and at the end of training; ``eval.every: 0`` turns periodic evaluation
off, ``eval.enabled: false`` turns it off entirely.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import TensorBoardOutputFormat

from agents.algorithms.vec_env import GymnasiumVecEnv, unwrap
from agents.callbacks.settings import EvalConfig
from agents.run.layout import RunDir
from agents.run.logs import CSVLog
from agents.tasks import TaskInfo

EVAL_COLUMNS = ("step", "task_visit", "eval_task_id", "eval_task_name", "episodes", "return_mean", "return_std",
                "length_mean")


def evaluate(model: BaseAlgorithm, env: VectorEnv, episodes: int, max_steps: int, seed: int,
             deterministic: bool, check_every: int = 16) -> dict[str, Any]:
    """Mean return of up to ``episodes`` episodes of ``model`` on ``env`` (reset with ``seed``).

    The env is stepped as the agent's training env is (tensors on the agent's device, :meth:`act`); finished
    episodes are read every ``check_every`` steps, so a GPU run waits for the host once per block, not per step.
    """
    train_env = model.get_env()
    normalizer = getattr(unwrap(train_env), "normalizer", None) if train_env is not None else None
    # the training scales, frozen: the policy sees what it was trained on; the returns are the env's own
    venv = GymnasiumVecEnv(env, model.device, normalizer.frozen() if normalizer is not None else None)
    venv.seed(seed)
    obs = venv.reset()
    done_returns: list[float] = []
    done_lengths: list[int] = []
    for step in range(1, max_steps + 1):
        obs, _, _, _ = venv.step(model.act(obs, deterministic=deterministic))
        if step % check_every == 0 or step == max_steps:
            for episode in venv.episodes.flush():
                done_returns.append(episode.ret)
                done_lengths.append(episode.length)
            if len(done_returns) >= episodes:
                break
    done_returns, done_lengths = done_returns[:episodes], done_lengths[:episodes]
    return {"episodes": len(done_returns),
            "return_mean": float(np.mean(done_returns)) if done_returns else None,
            "return_std": float(np.std(done_returns)) if done_returns else None,
            "length_mean": float(np.mean(done_lengths)) if done_lengths else None}


class EvalCallback(BaseCallback):
    """Periodic evaluation on every task; call :meth:`run` from a task-switch handler too."""

    def __init__(self, run_dir: str | Path, make_envs: Callable[[int], Sequence[tuple[int, str, VectorEnv]]],
                 config: EvalConfig | None = None, seed: int = 0):
        super().__init__()
        config = config or EvalConfig()
        self.run_dir = Path(run_dir)
        self.make_envs = make_envs
        self.num_envs, self.every, self.episodes = config.num_envs, config.every, config.episodes
        self.max_steps, self.deterministic, self.seed = config.max_steps, config.deterministic, int(seed)
        self._last = 0
        self._log: CSVLog | None = None
        self._current = TaskInfo(0, 0, "task", 0)

    def _on_training_start(self) -> None:
        self._log = CSVLog(RunDir(self.run_dir).log("eval"), EVAL_COLUMNS)
        self._last = self.num_timesteps
        resume = getattr(self, "_resume", None)
        if resume is not None:
            self._last, self._current = resume["last"], resume["current"]

    def state_dict(self) -> dict[str, Any]:
        return {"last": self._last, "current": self._current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._resume = state

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        if self.every and self.num_timesteps - self._last >= self.every:
            self.run()

    def _on_training_end(self) -> None:
        if self.num_timesteps > self._last:
            self.run()
        if self._log is not None:
            self._log.close()

    def on_switch(self, old: TaskInfo, new: TaskInfo, step: int) -> None:
        self._current = old
        self.run()
        self._current = new

    def run(self) -> None:
        assert self._log is not None
        self.num_timesteps = self.model.num_timesteps  # called from a switch handler before our own on_step
        self._last = self.num_timesteps
        for task_id, name, env in self.make_envs(self.num_envs):
            stats = evaluate(self.model, env, self.episodes, self.max_steps, self.seed + 1000 * task_id,
                             self.deterministic)
            env.close()
            self._log.append({"step": self.num_timesteps, "task_visit": self._current.visit,
                              "eval_task_id": task_id, "eval_task_name": name, **stats})
            if stats["return_mean"] is not None:
                for fmt in self.logger.output_formats:
                    if isinstance(fmt, TensorBoardOutputFormat):
                        fmt.writer.add_scalar(f"eval/{name}/return", stats["return_mean"], self.num_timesteps)

