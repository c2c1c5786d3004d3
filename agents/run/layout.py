"""The layout of a run directory: the name of every file a run writes, stated once.

::

    config.yaml      the resolved config (agents/training/settings.py: RunConfig)
    status.json      running | completed | failed | preempted | interrupted, with the reason and the code version
    .lock            held by the process training in it (a second one is refused)
    checkpoints/     step_<N>.pt + step_<N>.pt.sha256 (the last checkpoint.keep of them) and final.zip
    metrics.csv      periodic and per-task-switch rows
    episodes.csv     one row per finished episode
    tasks.csv        one row per task visit
    eval.csv         evaluation of every task (at switches, every eval.every steps, at the end)
    plasticity.csv   plasticity metrics (long format), periodic / at switches / at the end
    tb/              TensorBoard events
    wandb.json       with wandb.enabled: the W&B run id and what was sent (wandb/ holds W&B's own files)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.yaml"
STATUS = "status.json"
LOCK = ".lock"
CHECKPOINTS = "checkpoints"
FINAL = "final.zip"
TENSORBOARD = "tb"
WANDB_STATE = "wandb.json"
LOGS = ("metrics", "episodes", "tasks", "eval", "plasticity")  # <name>.csv, appended and flushed as training goes
LOG_FILES = tuple(f"{name}.csv" for name in LOGS)


@dataclass(frozen=True)
class RunDir:
    """A run directory and the paths of what it holds."""

    path: Path

    @classmethod
    def of(cls, path: str | os.PathLike) -> RunDir:
        return cls(Path(path))

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def status(self) -> Path:
        return self.path / STATUS

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def final(self) -> Path:
        return self.checkpoints / FINAL

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    @property
    def wandb_state(self) -> Path:
        return self.path / WANDB_STATE

    def log(self, name: str) -> Path:
        """``<name>.csv`` (one of :data:`LOGS`)."""
        if name not in LOGS:
            raise ValueError(f"unknown log {name!r}; valid choices: {', '.join(LOGS)}")
        return self.path / f"{name}.csv"
