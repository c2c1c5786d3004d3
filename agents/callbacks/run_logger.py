"""The run's logs and task-switch events, shared by every agent: metrics rows, episodes, tasks, the console.

Episodes are counted on the device by the env (:class:`agents.algorithms.vec_env.EpisodeTracker`) and read here
in blocks: at every rollout end and start, at task switches and every ``FLUSH_EVERY`` vector steps — never once per
step — so a run on the GPU does not wait for the host.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from agents.algorithms.vec_env import GymnasiumVecEnv, unwrap
from agents.run.console import Console
from agents.run.layout import RunDir
from agents.run.logs import EPISODE_COLUMNS, TASK_COLUMNS, CSVLog
from agents.tasks import TaskInfo, TaskSwitch


class RunLogger(BaseCallback):
    """Writes ``metrics.csv`` (via the SB3 logger), ``episodes.csv`` and ``tasks.csv``; drives the console.

    A metrics row is dumped when ``log_every`` env steps have passed (checked at rollout starts, i.e. right
    after a training phase, so rows carry the latest losses), at every task switch (so no row mixes two
    tasks) and at the end. The switch's handlers (``switch``, :class:`agents.tasks.TaskSwitch`) run right after the
    step that switched, once its row and the new visit are written.

    ``sps`` is measured between rollout starts, so every window holds whole collect + train cycles; a switch
    row (cut mid-rollout) repeats the latest such measurement instead of a biased partial one.
    """

    def __init__(self, run_dir: str | Path, log_every: int, console: Console, switch: TaskSwitch | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.log_every = log_every
        self.console = console
        self.switch = switch if switch is not None else TaskSwitch()
        self._returns: list[float] = []
        self._lengths: list[int] = []

    def _on_training_start(self) -> None:
        env = unwrap(self.model.get_env())
        if not isinstance(env, GymnasiumVecEnv):
            raise TypeError(f"RunLogger needs a GymnasiumVecEnv, got {type(env).__name__}")
        self.env = env
        self.episodes = CSVLog(RunDir(self.run_dir).log("episodes"), EPISODE_COLUMNS)
        self.tasks = CSVLog(RunDir(self.run_dir).log("tasks"), TASK_COLUMNS)
        self._start_time = self._sps_time = time.time()
        self._last_step = self._sps_step = self.num_timesteps
        self._sps: float | None = None
        task = self.env.task
        resume = getattr(self, "_resume", None)
        if resume is None:
            self._record_visit(task)
        else:  # a resumed run: the visit is already in tasks.csv; continue the windows and the clock
            self._returns, self._lengths = list(resume["returns"]), list(resume["lengths"])
            self._last_step, self._sps_step, self._sps = resume["last_step"], resume["sps_step"], resume["sps"]
            self._start_time = time.time() - resume["elapsed"]
        self.console.message(f"task {task.name} (visit {task.visit}, cycle {task.cycle})"
                             f"{f', resumed at step {self.num_timesteps:,}' if resume else ''}")

    def state_dict(self) -> dict:
        return {"returns": list(self._returns), "lengths": list(self._lengths), "last_step": self._last_step,
                "sps_step": self._sps_step, "sps": self._sps, "elapsed": time.time() - self._start_time}

    def load_state_dict(self, state: dict) -> None:
        self._resume = state

    def _record_visit(self, task: TaskInfo) -> None:
        self.tasks.append({"task_visit": task.visit, "task_id": task.task_id, "task_name": task.name,
                           "task_cycle": task.cycle, "start_step": self.num_timesteps})

    FLUSH_EVERY = 64  # vector steps between episode reads when rollouts are short (DQN: one step per rollout)

    def _record_episodes(self) -> None:
        """Read the episodes finished since the last call from the env (one copy from the device)."""
        for episode in self.env.episodes.flush():
            task = episode.task
            self.episodes.append({"step": episode.step, "task_visit": task.visit, "task_id": task.task_id,
                                  "task_name": task.name, "task_cycle": task.cycle, "return": episode.ret,
                                  "length": episode.length})
            self._returns.append(episode.ret)
            self._lengths.append(episode.length)
            self.model.ep_info_buffer.append({"r": episode.ret, "l": episode.length})

    def _on_step(self) -> bool:
        self.console.advance(self.training_env.num_envs)
        if self.env.task_switched:
            old, new = self.env.previous_task, self.env.task
            self._record_episodes()
            self._dump(old, measure_sps=False)
            self._record_visit(new)
            self.console.message(f"task switch at step {self.num_timesteps:,}: {old.name} -> {new.name} "
                                 f"(visit {new.visit}, cycle {new.cycle})")
            self.switch(old, new, self.num_timesteps)
        elif len(self.env.episodes) >= self.FLUSH_EVERY:
            self._record_episodes()
        return True

    def _on_rollout_start(self) -> None:
        # episodes are read when a row needs them (here, at a switch, at the end) or FLUSH_EVERY steps have piled
        # up, not at every rollout boundary: DQN's rollouts are one vector step long (a read per env step, ~10 %
        # of one-env collection); the pending steps are in the checkpointed env state either way
        if self.num_timesteps - self._last_step >= self.log_every:
            self._record_episodes()
            self._dump(self.env.task)

    def _on_training_end(self) -> None:
        self._record_episodes()
        if self.num_timesteps > self._last_step:
            self._dump(self.env.task)
        self.episodes.close()
        self.tasks.close()

    def _dump(self, task: TaskInfo, measure_sps: bool = True) -> None:
        now = time.time()
        if measure_sps or self._sps is None:
            self._sps = (self.num_timesteps - self._sps_step) / max(now - self._sps_time, 1e-9)
            self._sps_step, self._sps_time = self.num_timesteps, now
        sps = self._sps
        record = self.logger.record
        record("time/total_timesteps", self.num_timesteps)
        record("time/elapsed_s", round(now - self._start_time, 3))
        record("time/sps", round(sps, 1))
        record("task/visit", task.visit)
        record("task/id", task.task_id)
        record("task/name", task.name, exclude="tensorboard")
        record("task/cycle", task.cycle)
        record("rollout/episodes", len(self._returns))
        if self._returns:
            r = np.asarray(self._returns)
            record("rollout/ep_return_mean", float(r.mean()))
            record("rollout/ep_return_std", float(r.std()))
            record("rollout/ep_return_min", float(r.min()))
            record("rollout/ep_return_max", float(r.max()))
            record("rollout/ep_length_mean", float(np.mean(self._lengths)))
        mean_return = round(float(np.mean(self._returns)), 2) if self._returns else None
        self.console.status(task=task.name, ret=mean_return, sps=int(sps))
        if hasattr(self.model, "record_pending"):
            self.model.record_pending()
        self.logger.dump(step=self.num_timesteps)
        self._returns, self._lengths = [], []
        self._last_step = self.num_timesteps
